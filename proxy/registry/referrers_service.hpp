#pragma once
// GET /v2/<name>/referrers/<digest>[?artifactType=]: the OCI 1.1 referrers API, answered from
// the referrers index (cache/referrer_index.hpp: every cached manifest with a `subject`)
// merged with the upstreams' answer.
//  - an upstream that answers an image index: the union of its descriptors and the cached
//    ones, by digest (X-Cache: MISS);
//  - upstreams without the API (404 there, or a 2xx that is not an index): the cached ones
//    (HIT); upstreams failing or rate-limited, or `offline`: the cached ones (STALE); either
//    way merged with the referrers tag schema's index (tag sha256-<hex>, asked through the
//    ManifestService, so cached like any tag and served offline), which the spec requires a
//    registry with the API to include ("Enabling the Referrers API");
//  - never a 404 for a valid digest: no referrers is an empty index (the spec: "a registry
//    that supports the referrers API MUST NOT return a 404"); an invalid digest is 400
//    DIGEST_INVALID, answered here and never forwarded.
// `artifactType` is applied here to the merged list, always, with OCI-Filters-Applied.
// Coroutine; the index is read on the index pool.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/metadata_store.hpp"
#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/registry_error.hpp"

namespace regmirror::proxy::registry {

class UpstreamChain;
class ManifestService;

inline constexpr std::string_view kImageIndexMediaType = "application/vnd.oci.image.index.v1+json";

struct Referrers {
  std::string body;             // an OCI image index
  std::string filters_applied;  // OCI-Filters-Applied ("artifactType"), when filtered
  CacheOutcome outcome = CacheOutcome::kNone;
};

// `scoped`: the client is limited by access.scopes (repository_scope.hpp); cached referrers
// are then listed only when the index records that `repository` holds them (the index itself
// is by digest, across repositories).
boost::asio::awaitable<Answer<Referrers>> list_referrers(
    const UpstreamChain& chain, ManifestService& manifests, cache::MetadataStore& metadata,
    boost::asio::thread_pool& index_pool, bool offline, std::string repository, std::string digest,
    std::optional<std::string> artifact_type, bool scoped = false);

// The referrers tag schema's tag for `subject`: "<algorithm>-<hex, at most 64 characters>".
std::string referrers_tag(const cache::Digest& subject);

// The index document: the upstream's descriptors (`upstream_body`, when it is an image index)
// in its order, then the cached ones it lacks, keeping those whose artifactType equals
// `artifact_type` when one is given. Pure (unit-tested).
std::string referrers_index(const std::optional<std::string>& upstream_body,
                            const std::vector<cache::Referrer>& cached,
                            const std::optional<std::string>& artifact_type);

// Whether `body` is an image index (an object with a `manifests` array).
bool is_referrers_index(std::string_view body);

}  // namespace regmirror::proxy::registry
