#pragma once
// Manifests: digests are local-first and immutable; tags are fresh for the registry's TTL, then
// revalidated with HEAD (a GET only when the digest changed), and served STALE from the last
// known record when the upstreams fail, rate-limit, or the mirror is offline.
//
// Resilience (what a cluster needs when the internet misbehaves):
//  - a stale tag is revalidated for at most the registry's revalidate_budget while the client
//    waits; past it the cached manifest is answered (STALE) and the revalidation finishes in
//    the background; concurrent requests for one tag share one revalidation;
//  - when every upstream says a cached tag no longer exists, on_upstream_not_found decides
//    (serve_cached: STALE; forget: 404); a pinned tag is frozen: it keeps its digest, whatever
//    the upstream says, until it is re-pinned or unpinned.
//
// Coroutines; blocking index and disk work runs on the index pool, never on the caller's
// (network) thread. Thread-safe.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/registry_error.hpp"

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
template <class T>
class SharedResult;

inline constexpr std::size_t kMaxManifestBytes = 4 << 20;  // like distribution

struct Manifest {
  std::string body;
  std::string media_type;
  std::string digest;
  CacheOutcome outcome = CacheOutcome::kNone;
  std::int64_t validated_at = 0;  // tags: when an upstream last confirmed the digest
  std::string upstream;           // which upstream answered, when one did (for the log)
};

// The Accept header every manifest request upstream sends: OCI and Docker, images and indexes.
const std::vector<std::string>& manifest_accept_headers();

class ManifestService {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // `hot` (optional) is fed every manifest served and every tag validated.
  ManifestService(cache::BlobStore& blobs, cache::MetadataStore& metadata,
                  metrics::Metrics& metrics, boost::asio::thread_pool& index_pool, Clock clock,
                  bool offline, HotManifestCache* hot = nullptr);
  ~ManifestService();

  // `repository` is the client's (routed, validated); `reference` a tag or a digest as sent.
  boost::asio::awaitable<Answer<Manifest>> get(const UpstreamChain& chain, std::string repository,
                                               std::string reference);

 private:
  struct TagState;
  boost::asio::awaitable<Answer<Manifest>> by_digest(const UpstreamChain& chain,
                                                     std::string repository,
                                                     std::string reference);
  boost::asio::awaitable<Answer<Manifest>> by_tag(const UpstreamChain& chain,
                                                  std::string repository, std::string tag);
  // Asks the upstreams about a cached tag and updates the index; the answer to serve.
  boost::asio::awaitable<Answer<Manifest>> revalidate(const UpstreamChain& chain,
                                                      std::shared_ptr<TagState> state);
  // GETs a tag's manifest, verifies and stores it.
  boost::asio::awaitable<Answer<Manifest>> fetch_tag(const UpstreamChain& chain,
                                                     std::shared_ptr<TagState> state);
  // The exchange in flight for a tag, and whether the caller is the one to start it.
  std::pair<std::shared_ptr<SharedResult<Answer<Manifest>>>, bool> join_flight(
      const std::string& key);
  void end_flight(const std::string& key);

  cache::BlobStore& blobs_;
  cache::MetadataStore& metadata_;
  metrics::Metrics& metrics_;
  boost::asio::thread_pool& index_pool_;
  Clock clock_;
  bool offline_;
  HotManifestCache* hot_;
  std::mutex flights_mutex_;
  std::map<std::string, std::shared_ptr<SharedResult<Answer<Manifest>>>> flights_;
};

}  // namespace regmirror::proxy::registry
