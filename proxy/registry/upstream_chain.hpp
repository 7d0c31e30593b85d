#pragma once
// A registry's upstreams, tried in order with each one's path template applied. A 404, a
// 401/403, a 429, a 5xx or a transport error moves on to the next upstream; the first 2xx wins.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/upstream/upstream_client.hpp"

namespace regmirror::proxy::metrics {
class Metrics;
}

namespace regmirror::proxy::registry {

// Where one attempt goes: the endpoint, the upstream's repository name and its token scope.
struct UpstreamTarget {
  std::size_t index = 0;
  const upstream::Endpoint* endpoint = nullptr;
  std::string repository;
  std::string scope;
};

struct ChainOutcome {
  std::optional<upstream::Response> response;  // the winning (2xx) response, if any
  std::size_t winner = 0;                      // index of the upstream that answered
  bool all_not_found = false;                  // every upstream said 404
  bool rate_limited = false;                   // at least one said 429
  std::string retry_after;                     // from the 429, if it said
  std::string failure;                         // last failure, for logs and error bodies
};

class UpstreamChain {
 public:
  // `endpoints` parallels registry.upstreams (credentials already resolved at start-up).
  UpstreamChain(const config::RegistryConfig& registry, std::vector<upstream::Endpoint> endpoints,
                upstream::UpstreamClient& client, metrics::Metrics& metrics);

  const config::RegistryConfig& registry() const { return registry_; }

  // The target for upstream `index`, or nullopt when its template does not apply to the
  // repository (e.g. {owner} for a one-segment name).
  std::optional<UpstreamTarget> target(std::size_t index, const std::string& repository) const;
  std::size_t size() const { return endpoints_.size(); }
  const std::string& upstream_url(std::size_t index) const { return endpoints_[index].base_url; }

  // GET/HEAD "/v2/<upstream repo><suffix>" on each upstream in turn (buffered, `max_body`).
  ChainOutcome fetch(const std::string& repository, const std::string& method,
                     const std::string& suffix, const std::vector<std::string>& headers,
                     std::size_t max_body, const char* kind) const;

  // Streams "/v2/<target repo><suffix>" from one upstream into `sink`.
  upstream::Result<upstream::Response> stream(const UpstreamTarget& target,
                                              const std::string& suffix,
                                              upstream::StreamSink& sink) const;

  // Records one upstream answer in metrics (and rate-limit headers when present); a 429
  // starts a back-off during which no manifest GET is sent to that upstream.
  void observe(const UpstreamTarget& target, const std::string& method, const char* kind,
               const upstream::Result<upstream::Response>& result, double seconds) const;

  // True when some upstream announced fewer pulls left than the registry's min_remaining:
  // tags are then served from cache without revalidation, keeping the quota for new content.
  bool quota_low() const;

 private:
  // Per-upstream rate-limit knowledge, shared by all threads.
  struct Quota {
    std::atomic<std::int64_t> blocked_until_ms{0};  // steady clock; manifest GETs held until then
    std::atomic<std::int64_t> remaining{-1};        // last ratelimit-remaining, -1 unknown
  };
  // Milliseconds left in upstream `index`'s back-off, 0 when none.
  std::int64_t backoff_left_ms(std::size_t index) const;

  const config::RegistryConfig& registry_;
  std::vector<upstream::Endpoint> endpoints_;
  upstream::UpstreamClient& client_;
  metrics::Metrics& metrics_;
  std::unique_ptr<Quota[]> quotas_;
};

}  // namespace regmirror::proxy::registry
