#include "proxy/registry/tag_list_service.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cache/metadata_store.hpp"
#include "config/reference.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/decimal_field.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kMaxTagListBytes = 16 << 20;
constexpr std::size_t kMaxPageSize = 10000;

std::string page_body(const std::string& repository, const std::vector<std::string>& tags) {
  return nlohmann::json{{"name", repository}, {"tags", tags}}.dump();
}

}  // namespace

asio::awaitable<Answer<TagList>> list_tags(const UpstreamChain& chain,
                                           cache::MetadataStore& metadata,
                                           asio::thread_pool& index_pool, bool offline,
                                           std::string repository, std::optional<std::string> n,
                                           std::optional<std::string> last) {
  auto invalid = [](std::string message) {
    return Answer<TagList>(boost::system::in_place_error,
                           registry_error(OciError::kNameInvalid, std::move(message)));
  };
  std::optional<std::size_t> limit;
  if (n) {
    auto value = server::parse_decimal_field(*n, 6);
    if (!value) co_return invalid("n must be a non-negative integer");
    limit = std::min<std::size_t>(*value, kMaxPageSize);
  }
  if (last && !last->empty() && !config::is_valid_tag(*last)) co_return invalid("last must be a tag");

  TagList answer;
  std::vector<std::string> tags;
  bool from_upstream = false;
  if (!offline) {
    // Ask for everything and page here, so Link headers never leak upstream paths.
    auto got = co_await chain.fetch(repository, "GET", "/tags/list", {}, kMaxTagListBytes, "tags",
                                    OciError::kNameUnknown, "repository " + repository);
    if (got) {
      auto doc = nlohmann::json::parse(got->response.body, nullptr, false);
      if (doc.is_object() && doc.contains("tags") && doc["tags"].is_array()) {
        for (const auto& tag : doc["tags"]) {
          if (tag.is_string()) tags.push_back(tag.get<std::string>());
        }
        from_upstream = true;
      }
    } else if (got.error().code == OciError::kNameUnknown) {
      co_return Answer<TagList>(boost::system::in_place_error, got.error());
    }
  }
  if (!from_upstream) {
    auto* store = &metadata;
    auto read = [store, registry = chain.registry().name, repository] {
      return store->list_tags(registry, repository);
    };
    auto local = co_await server::offload(index_pool, std::move(read));
    if (!local || local->empty()) {
      co_return Answer<TagList>(
          boost::system::in_place_error,
          registry_error(OciError::kUnavailable,
                         "no upstream could list tags and none are cached for " + repository));
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
  co_return answer;
}

}  // namespace regmirror::proxy::registry
