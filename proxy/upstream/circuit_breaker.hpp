#pragma once
// Fail fast on a dead upstream. Each upstream endpoint is
//   closed     requests go through; `failure_threshold` failures in a row open it, and a
//              slow failure (a timeout: a black hole costs every request its full timeout)
//              opens it at once;
//   open       requests skip it at once (the chain moves to the next upstream, or a cached
//              copy is served) until the cool-down has passed;
//   half-open  one probe at a time is let through: success closes it, failure opens it again
//              with a doubled cool-down (up to `max_open`). After a timeout the cool-down is at
//              least as long as the request waited: a black hole is not asked more often than
//              it costs.
// Failures are what says the upstream itself is in trouble: connect errors, timeouts, broken
// transfers and 5xx answers. A 404, 401/403 or 429 is an upstream that answers: success.
//
// A black hole (accepts, never answers) is only known to fail when its first request times
// out; until then new requests would pile onto it. So while a request has been waiting longer
// than `slow_after` for the upstream's answer (its head), further requests skip the upstream
// too: they go to the next one, or to the cache.
//
// Thread-safe; time is injected (steady milliseconds) so the state machine is testable.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>

namespace regmirror::proxy::upstream {

struct CircuitOptions {
  unsigned failure_threshold = 3;
  std::chrono::milliseconds open_for{std::chrono::seconds(5)};
  std::chrono::milliseconds max_open{std::chrono::minutes(5)};
  std::chrono::milliseconds slow_after{std::chrono::seconds(5)};
};

enum class CircuitState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

std::string_view circuit_state_name(CircuitState state);

class CircuitBreaker {
 public:
  using Clock = std::function<std::int64_t()>;  // steady milliseconds

  CircuitBreaker(CircuitOptions options, Clock clock);

  using Attempt = std::uint64_t;  // 0: not allowed

  // May a request go to this upstream now? Nonzero (the attempt) when it may. In half-open,
  // exactly one caller (the probe) gets one until it reports back; the others are told to skip.
  Attempt allow();
  // The attempt got the upstream's answer head (it is no longer "waiting on a black hole").
  void answered(Attempt attempt);
  // The outcome of an attempt that allow() let through.
  void record_success(Attempt attempt);
  // `slow`: the request timed out (rather than failing fast: refused, reset, 5xx).
  void record_failure(Attempt attempt, bool slow = false);

  CircuitState state() const;
  unsigned consecutive_failures() const;
  // Milliseconds until an open circuit lets a probe through (0 when not open).
  std::int64_t retry_in_ms() const;

  static std::int64_t steady_now_ms();

 private:
  CircuitOptions options_;
  Clock clock_;
  mutable std::mutex mutex_;
  CircuitState state_ = CircuitState::kClosed;
  unsigned failures_ = 0;
  std::int64_t open_until_ = 0;
  std::int64_t current_open_ms_ = 0;
  bool probe_in_flight_ = false;
  Attempt next_attempt_ = 1;
  std::map<Attempt, std::int64_t> waiting_;  // attempts without an answer yet -> start time
};

}  // namespace regmirror::proxy::upstream
