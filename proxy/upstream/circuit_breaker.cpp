#include "proxy/upstream/circuit_breaker.hpp"

#include <algorithm>

namespace regmirror::proxy::upstream {

std::string_view circuit_state_name(CircuitState state) {
  switch (state) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

std::int64_t CircuitBreaker::steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CircuitBreaker::CircuitBreaker(CircuitOptions options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : Clock(&CircuitBreaker::steady_now_ms)) {
  if (options_.failure_threshold == 0) options_.failure_threshold = 1;
}

CircuitBreaker::Attempt CircuitBreaker::allow() {
  std::lock_guard lock(mutex_);
  const auto now = clock_();
  switch (state_) {
    case CircuitState::kClosed:
      // Someone has been waiting too long for an answer: do not pile onto a black hole.
      if (!waiting_.empty()) {
        auto oldest = std::min_element(waiting_.begin(), waiting_.end(), [](const auto& a, const auto& b) {
          return a.second < b.second;
        });
        if (now - oldest->second >= options_.slow_after.count()) return 0;
      }
      break;
    case CircuitState::kOpen:
      if (now < open_until_) return 0;
      state_ = CircuitState::kHalfOpen;
      probe_in_flight_ = true;
      break;
    case CircuitState::kHalfOpen:
      if (probe_in_flight_) return 0;
      probe_in_flight_ = true;
      break;
  }
  const Attempt attempt = next_attempt_++;
  waiting_.emplace(attempt, now);
  return attempt;
}

void CircuitBreaker::answered(Attempt attempt) {
  std::lock_guard lock(mutex_);
  waiting_.erase(attempt);
}

void CircuitBreaker::record_success(Attempt attempt) {
  std::lock_guard lock(mutex_);
  waiting_.erase(attempt);
  state_ = CircuitState::kClosed;
  failures_ = 0;
  current_open_ms_ = 0;
  probe_in_flight_ = false;
}

void CircuitBreaker::record_failure(Attempt attempt, bool slow) {
  std::lock_guard lock(mutex_);
  std::int64_t waited = 0;
  if (auto it = waiting_.find(attempt); it != waiting_.end()) {
    waited = clock_() - it->second;
    waiting_.erase(it);
  }
  ++failures_;
  if (slow) failures_ = std::max(failures_, options_.failure_threshold);
  const bool probe_failed = state_ == CircuitState::kHalfOpen;
  if (!probe_failed && (state_ != CircuitState::kClosed || failures_ < options_.failure_threshold)) {
    return;  // closed below the threshold, or already open (a request that started earlier)
  }
  current_open_ms_ = probe_failed ? std::min<std::int64_t>(current_open_ms_ * 2,
                                                           options_.max_open.count())
                                  : options_.open_for.count();
  if (current_open_ms_ <= 0) current_open_ms_ = options_.open_for.count();
  // An upstream that costs a whole timeout per try is tried no more often than that.
  if (slow) current_open_ms_ = std::clamp<std::int64_t>(waited, current_open_ms_, options_.max_open.count());
  state_ = CircuitState::kOpen;
  open_until_ = clock_() + current_open_ms_;
  probe_in_flight_ = false;
}

CircuitState CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

unsigned CircuitBreaker::consecutive_failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

std::int64_t CircuitBreaker::retry_in_ms() const {
  std::lock_guard lock(mutex_);
  if (state_ != CircuitState::kOpen) return 0;
  return std::max<std::int64_t>(0, open_until_ - clock_());
}

}  // namespace regmirror::proxy::upstream
