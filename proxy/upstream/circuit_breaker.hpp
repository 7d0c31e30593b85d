#pragma once
// Fail fast on a dead upstream. Each upstream endpoint is
//   closed     requests go through; `failure_threshold` failures in a row open it, and a
//              slow failure (a timeout: a black hole costs every request its full timeout)
//              opens it at once;
//   open       requests skip it at once (the chain moves to the next upstream, or a cached
//              copy is served) until the cool-down has passed;
//   half-open  one probe at a time is let through: success closes it, failure opens it again
//              with a doubled cool-down (up to `max_open`).
// Failures are what says the upstream itself is in trouble: connect errors, timeouts, broken
// transfers and 5xx answers. A 404, 401/403 or 429 is an upstream that answers: success.
//
// Thread-safe; time is injected (steady milliseconds) so the state machine is testable.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace regmirror::proxy::upstream {

struct CircuitOptions {
  unsigned failure_threshold = 3;
  std::chrono::milliseconds open_for{std::chrono::seconds(5)};
  std::chrono::milliseconds max_open{std::chrono::minutes(5)};
};

enum class CircuitState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

std::string_view circuit_state_name(CircuitState state);

class CircuitBreaker {
 public:
  using Clock = std::function<std::int64_t()>;  // steady milliseconds

  CircuitBreaker(CircuitOptions options, Clock clock);

  // May a request go to this upstream now? In half-open, true for exactly one caller (the
  // probe) until it reports back; the others are told to skip.
  bool allow();
  // The outcome of a request that allow() let through.
  void record_success();
  // `slow`: the request timed out (rather than failing fast: refused, reset, 5xx).
  void record_failure(bool slow = false);

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
};

}  // namespace regmirror::proxy::upstream
