#include "proxy/registry/referrers_service.hpp"

#include <nlohmann/json.hpp>
#include <set>

#include "cache/digest.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::registry {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

json descriptor_of(const cache::Referrer& referrer) {
  json out{{"mediaType", referrer.record.media_type},
           {"digest", referrer.digest.str()},
           {"size", referrer.record.size}};
  if (!referrer.record.artifact_type.empty()) out["artifactType"] = referrer.record.artifact_type;
  if (!referrer.record.annotations.empty()) out["annotations"] = referrer.record.annotations;
  return out;
}

bool matches(const json& descriptor, const std::optional<std::string>& artifact_type) {
  if (!artifact_type) return true;
  auto it = descriptor.find("artifactType");
  return it != descriptor.end() && it->is_string() && it->get<std::string>() == *artifact_type;
}

}  // namespace

bool is_referrers_index(std::string_view body) {
  auto doc = json::parse(body, nullptr, false);
  return doc.is_object() && doc.contains("manifests") && doc["manifests"].is_array();
}

std::string referrers_index(const std::optional<std::string>& upstream_body,
                            const std::vector<cache::Referrer>& cached,
                            const std::optional<std::string>& artifact_type) {
  json manifests = json::array();
  std::set<std::string> seen;
  if (upstream_body) {
    auto doc = json::parse(*upstream_body, nullptr, false);
    if (doc.is_object() && doc.contains("manifests") && doc["manifests"].is_array()) {
      for (auto& descriptor : doc["manifests"]) {
        if (!descriptor.is_object() || !descriptor.contains("digest") ||
            !descriptor["digest"].is_string()) {
          continue;  // not a descriptor: nothing a client could fetch
        }
        if (!seen.insert(descriptor["digest"].get<std::string>()).second) continue;
        if (matches(descriptor, artifact_type)) manifests.push_back(std::move(descriptor));
      }
    }
  }
  for (const auto& referrer : cached) {
    if (!seen.insert(referrer.digest.str()).second) continue;
    auto descriptor = descriptor_of(referrer);
    if (matches(descriptor, artifact_type)) manifests.push_back(std::move(descriptor));
  }
  return json{{"schemaVersion", 2},
              {"mediaType", kImageIndexMediaType},
              {"manifests", std::move(manifests)}}
      .dump();
}

std::string referrers_tag(const cache::Digest& subject) {
  return std::string(subject.algorithm_name()) + "-" + std::string(subject.hex().substr(0, 64));
}

asio::awaitable<Answer<Referrers>> list_referrers(
    const UpstreamChain& chain, ManifestService& manifests, cache::MetadataStore& metadata,
    asio::thread_pool& index_pool, bool offline, std::string repository, std::string digest,
    std::optional<std::string> artifact_type, bool scoped) {
  auto subject = cache::Digest::parse(digest);
  if (!subject) {
    co_return Answer<Referrers>(
        boost::system::in_place_error,
        registry_error(OciError::kDigestInvalid, "invalid digest " + digest));
  }
  if (artifact_type && artifact_type->empty()) artifact_type.reset();

  Referrers out;
  std::optional<std::string> upstream_body;
  out.outcome = CacheOutcome::kStale;
  if (!offline) {
    // Named, not a braced list in the co_await expression: GCC 12 rejects that in coroutines.
    // The whole list is asked for and filtered here, so the filter covers cached entries too.
    std::vector<std::string> accept{"Accept: application/vnd.oci.image.index.v1+json"};
    auto got = co_await chain.fetch(repository, "GET", "/referrers/" + digest, std::move(accept),
                                    kMaxManifestBytes, "referrers", OciError::kManifestUnknown,
                                    "referrers of " + digest);
    if (got && is_referrers_index(got->response.body)) {
      upstream_body = std::move(got->response.body);
      out.outcome = CacheOutcome::kMiss;
    } else if (got || got.error().code == OciError::kManifestUnknown) {
      out.outcome = CacheOutcome::kHit;  // no referrers API upstream: the index is the answer
    }
  }
  if (!upstream_body) {
    // No referrers API upstream: the tag schema's index, when there is one (cached as a tag).
    auto tagged = co_await manifests.get(chain, repository, referrers_tag(*subject));
    if (tagged && is_referrers_index(tagged->body)) upstream_body = std::move(tagged->body);
  }
  auto* store = &metadata;
  auto read = [store, s = *subject, scoped, registry = chain.registry().name, repository] {
    auto listed = store->list_referrers(s);
    if (!listed || !scoped) return listed;
    std::erase_if(*listed, [&](const cache::Referrer& r) {
      auto held = store->repository_has_digest(registry, repository, r.digest);
      return !held || !*held;
    });
    return listed;
  };
  auto cached = co_await server::offload(index_pool, std::move(read));
  if (!cached) {
    logging::error("index_read_failed", {{"subject", digest}, {"error", cached.error().message()}});
    if (!upstream_body) {
      co_return Answer<Referrers>(
          boost::system::in_place_error,
          registry_error(OciError::kInternal, "reading the referrers index failed"));
    }
  }
  const std::vector<cache::Referrer> none;
  out.body = referrers_index(upstream_body, cached ? *cached : none, artifact_type);
  if (artifact_type) out.filters_applied = "artifactType";
  co_return out;
}

}  // namespace regmirror::proxy::registry
