#pragma once
// Manifests: digests are local-first and immutable; tags are fresh for the registry's TTL, then
// revalidated with HEAD (a GET only when the digest changed), and served STALE from the last
// known record when the upstreams fail, rate-limit or the mirror is offline.
//
// Blocking (disk, RocksDB, upstream): call from worker threads.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/oci_error.hpp"

namespace regmirror::cache {
class BlobStore;
class MetadataStore;
}  // namespace regmirror::cache
namespace regmirror::proxy::metrics {
class Metrics;
}

namespace regmirror::proxy::registry {

class UpstreamChain;
class HotManifestCache;

inline constexpr std::size_t kMaxManifestBytes = 4 << 20;  // like distribution

struct ManifestAnswer {
  std::optional<OciError> error;  // set: an error response; unset: the manifest below
  std::string message;
  std::string retry_after;
  std::string body;
  std::string media_type;
  std::string digest;
  CacheOutcome outcome = CacheOutcome::kNone;
  std::int64_t validated_at = 0;  // tags: when an upstream last confirmed the digest
  std::string upstream;           // which upstream answered, when one did (for the log)
};

class ManifestService {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // `hot` (optional) is fed every manifest served and every tag validated.
  ManifestService(cache::BlobStore& blobs, cache::MetadataStore& metadata,
                  metrics::Metrics& metrics, Clock clock, bool offline,
                  HotManifestCache* hot = nullptr);

  // `repository` is the client's (routed, validated); `reference` a tag or a digest as sent.
  ManifestAnswer get(const UpstreamChain& chain, const std::string& repository,
                     const std::string& reference);

 private:
  ManifestAnswer by_digest(const UpstreamChain& chain, const std::string& repository,
                           const std::string& reference);
  ManifestAnswer by_tag(const UpstreamChain& chain, const std::string& repository,
                        const std::string& tag);

  cache::BlobStore& blobs_;
  cache::MetadataStore& metadata_;
  metrics::Metrics& metrics_;
  Clock clock_;
  bool offline_;
  HotManifestCache* hot_;
};

}  // namespace regmirror::proxy::registry
