#pragma once
// A registry's upstreams, walked in order with each one's path template applied: the one walk
// that manifests, tags, referrers and blobs all use. An upstream that answers 404, 401/403,
// 429, 5xx or fails (connect, timeout, broken transfer) moves the walk to the next one; the
// first answer wins. Upstreams whose circuit is open (circuit_breaker.hpp) are skipped at once,
// and during a 429 back-off the requests Docker Hub counts (manifest GETs) are not sent.
//
// Coroutines: they suspend on upstream transfers (CurlMulti) and resume on the caller's
// executor. Thread-safe.
#include <boost/asio/awaitable.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "proxy/registry/registry_error.hpp"
#include "proxy/upstream/circuit_breaker.hpp"
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
  // Set by walk(): a streaming attempt calls it once the upstream's answer head arrived (the
  // circuit breaker then no longer counts it as waiting on a possible black hole). Any thread.
  std::function<void()> answered;
};

// How one attempt on one upstream went, as the walk needs to know it.
struct AttemptVerdict {
  enum class Kind { kAnswered, kNotFound, kRateLimited, kFailed };
  Kind kind = Kind::kFailed;
  bool upstream_fault = false;  // connect error, timeout, broken transfer, 5xx: for the breaker
  bool slow = false;            // the fault was a timeout (opens the circuit at once)
  std::string detail;           // "answered 503", "timed out" (the walk adds the upstream)
  std::string retry_after;      // kRateLimited

  static AttemptVerdict answered() { return {Kind::kAnswered, false, false, {}, {}}; }
  // The verdict for an upstream's response status or transport error.
  static AttemptVerdict from(const upstream::Result<upstream::Response>& result);
};

// Why a walk ended without an answer. to_error() is the one mapping from a chain's failure
// to the client's OCI error (manifests, tags, referrers and blobs all use it).
struct WalkFailure {
  std::size_t tried = 0;
  std::size_t not_found = 0;
  bool rate_limited = false;
  std::string retry_after;
  std::string last;  // the last failure, with its upstream: for logs and error bodies

  bool all_not_found() const { return tried > 0 && not_found == tried; }
  // all said 404 -> `not_found` (MANIFEST_UNKNOWN, BLOB_UNKNOWN...); a 429 -> TOOMANYREQUESTS
  // with Retry-After; anything else -> UNAVAILABLE naming the last failure.
  RegistryError to_error(OciError not_found, const std::string& what) const;
};

struct Fetched {
  upstream::Response response;  // the winning (2xx) response
  std::string upstream;         // the base URL of the upstream that answered
};

class UpstreamChain {
 public:
  using Attempt = std::function<boost::asio::awaitable<AttemptVerdict>(const UpstreamTarget&)>;

  // `endpoints` parallels registry.upstreams (credentials already resolved at start-up).
  UpstreamChain(const config::RegistryConfig& registry, std::vector<upstream::Endpoint> endpoints,
                upstream::UpstreamClient& client, metrics::Metrics& metrics,
                upstream::CircuitOptions circuit = {});

  const config::RegistryConfig& registry() const { return registry_; }
  upstream::UpstreamClient& client() const { return client_; }
  std::size_t size() const { return endpoints_.size(); }
  const std::string& upstream_url(std::size_t index) const { return endpoints_[index].base_url; }

  // The target for upstream `index`, or nullopt when its template does not apply to the
  // repository (e.g. {owner} for a one-segment name).
  std::optional<UpstreamTarget> target(std::size_t index, const std::string& repository) const;

  // Runs `attempt` on each applicable upstream in turn, from `first`, until one answers.
  // Returns the winner's index, or the failure. `counted_get`: a request the upstream counts
  // against its pull quota (manifest GET), held back during a 429 back-off.
  boost::asio::awaitable<Result<std::size_t, WalkFailure>> walk(
      std::string repository, bool counted_get, Attempt attempt, std::size_t first = 0) const;

  // GET/HEAD "/v2/<upstream repo><suffix>" buffered up to `max_body`, on the walk. A failure
  // comes back mapped by WalkFailure::to_error(not_found, what).
  boost::asio::awaitable<Answer<Fetched>> fetch(std::string repository, std::string method,
                                                std::string suffix, std::vector<std::string> headers,
                                                std::size_t max_body, const char* kind,
                                                OciError not_found, std::string what) const;

  // Records one upstream answer in metrics (and rate-limit headers when present); a 429
  // starts a back-off during which no manifest GET is sent to that upstream.
  void observe(const UpstreamTarget& target, const std::string& method, const char* kind,
               const upstream::Result<upstream::Response>& result, double seconds) const;

  // True when some upstream announced fewer pulls left than the registry's min_remaining:
  // tags are then served from cache without revalidation, keeping the quota for new content.
  bool quota_low() const;

  // Circuit state of upstream `index` (admin API, metrics).
  const upstream::CircuitBreaker& circuit(std::size_t index) const { return *circuits_[index]; }

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
  std::vector<std::unique_ptr<upstream::CircuitBreaker>> circuits_;
};

}  // namespace regmirror::proxy::registry
