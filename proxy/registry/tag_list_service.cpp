#include "proxy/registry/tag_list_service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cache/metadata_store.hpp"
#include "config/reference.hpp"
#include "proxy/registry/upstream_chain.hpp"

namespace regmirror::proxy::registry {
namespace {

constexpr std::size_t kMaxTagListBytes = 16 << 20;
constexpr std::size_t kMaxPageSize = 10000;

std::string page_body(const std::string& repository, const std::vector<std::string>& tags) {
  return nlohmann::json{{"name", repository}, {"tags", tags}}.dump();
}

}  // namespace

TagListAnswer list_tags(const UpstreamChain& chain, cache::MetadataStore& metadata, bool offline,
                        const std::string& repository, const std::optional<std::string>& n,
                        const std::optional<std::string>& last) {
  TagListAnswer answer;
  std::optional<std::size_t> limit;
  if (n) {
    if (n->empty() || n->size() > 6 || n->find_first_not_of("0123456789") != std::string::npos) {
      answer.error = OciError::kNameInvalid;
      answer.message = "n must be a non-negative integer";
      return answer;
    }
    limit = std::min<std::size_t>(std::stoul(*n), kMaxPageSize);
  }
  if (last && !last->empty() && !config::is_valid_tag(*last)) {
    answer.error = OciError::kNameInvalid;
    answer.message = "last must be a tag";
    return answer;
  }

  std::vector<std::string> tags;
  bool from_upstream = false;
  if (!offline) {
    // Ask for everything and page here, so Link headers never leak upstream paths.
    auto outcome = chain.fetch(repository, "GET", "/tags/list", {}, kMaxTagListBytes, "tags");
    if (outcome.response) {
      auto doc = nlohmann::json::parse(outcome.response->body, nullptr, false);
      if (doc.is_object() && doc.contains("tags") && doc["tags"].is_array()) {
        for (const auto& tag : doc["tags"]) {
          if (tag.is_string()) tags.push_back(tag.get<std::string>());
        }
        from_upstream = true;
      }
    } else if (outcome.all_not_found) {
      answer.error = OciError::kNameUnknown;
      answer.message = "repository " + repository + " not found upstream";
      return answer;
    }
  }
  if (!from_upstream) {
    auto local = metadata.list_tags(chain.registry().name, repository);
    if (!local || local->empty()) {
      answer.error = OciError::kUnavailable;
      answer.message = "no upstream could list tags and none are cached for " + repository;
      return answer;
    }
    tags = std::move(*local);
    answer.outcome = CacheOutcome::kStale;
  }
  std::sort(tags.begin(), tags.end());
  auto begin = tags.begin();
  if (last && !last->empty()) begin = std::upper_bound(tags.begin(), tags.end(), *last);
  auto end = tags.end();
  if (limit && static_cast<std::size_t>(end - begin) > *limit) {
    end = begin + static_cast<std::ptrdiff_t>(*limit);
    if (*limit > 0) {
      answer.next_link = "</v2/" + repository + "/tags/list?n=" + std::to_string(*limit) +
                         "&last=" + *(end - 1) + ">; rel=\"next\"";
    }
  }
  answer.body = page_body(repository, std::vector<std::string>(begin, end));
  return answer;
}

}  // namespace regmirror::proxy::registry
