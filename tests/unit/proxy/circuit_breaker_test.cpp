#include "proxy/upstream/circuit_breaker.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::upstream {
namespace {

struct FakeClock {
  std::int64_t now = 1'000'000;
  CircuitBreaker::Clock fn() {
    return [this] { return now; };
  }
};

CircuitOptions options() {
  CircuitOptions o;
  o.failure_threshold = 3;
  o.open_for = std::chrono::milliseconds(5000);
  o.max_open = std::chrono::milliseconds(40000);
  return o;
}

TEST(CircuitBreaker, OpensAfterTheThresholdOfFastFailuresInARow) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  for (int i = 0; i < 2; ++i) {
    auto attempt = breaker.allow();
    ASSERT_NE(attempt, 0u);
    breaker.record_failure(attempt);
  }
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  breaker.record_success(breaker.allow());  // an answer in between resets the count
  for (int i = 0; i < 3; ++i) {
    auto attempt = breaker.allow();
    ASSERT_NE(attempt, 0u);
    breaker.record_failure(attempt);
  }
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(breaker.allow(), 0u);
  EXPECT_EQ(breaker.retry_in_ms(), 5000);
}

TEST(CircuitBreaker, ATimeoutOpensAtOnce) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  auto attempt = breaker.allow();
  ASSERT_NE(attempt, 0u);
  breaker.record_failure(attempt, /*slow=*/true);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_EQ(breaker.allow(), 0u);
}

TEST(CircuitBreaker, AfterATimeoutTheCoolDownIsAtLeastTheTimeWaited) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  auto attempt = breaker.allow();
  clock.now += 30000;  // a black hole: the request waited out its 30 s stall timeout
  breaker.record_failure(attempt, true);
  EXPECT_EQ(breaker.retry_in_ms(), 30000);
}

TEST(CircuitBreaker, HalfOpenLetsExactlyOneProbeThrough) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  breaker.record_failure(breaker.allow(), true);
  clock.now += 4999;
  EXPECT_EQ(breaker.allow(), 0u);
  clock.now += 1;
  auto probe = breaker.allow();
  EXPECT_NE(probe, 0u);
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_EQ(breaker.allow(), 0u);  // everyone else keeps skipping while it runs
  EXPECT_EQ(breaker.allow(), 0u);
  breaker.record_success(probe);
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  breaker.record_success(breaker.allow());
  EXPECT_NE(breaker.allow(), 0u);
}

TEST(CircuitBreaker, AFailedProbeDoublesTheCoolDownUpToTheMaximum) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  breaker.record_failure(breaker.allow(), true);
  std::int64_t expected = 5000;
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(breaker.retry_in_ms(), expected) << round;
    clock.now += expected;
    auto probe = breaker.allow();
    ASSERT_NE(probe, 0u);
    breaker.record_failure(probe);  // the probe fails, even fast
    expected = std::min<std::int64_t>(expected * 2, 40000);
  }
  EXPECT_EQ(breaker.retry_in_ms(), 40000);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
}

TEST(CircuitBreaker, LateFailuresOfRequestsStartedBeforeItOpenedDoNotExtendIt) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  auto early = breaker.allow();
  breaker.record_failure(breaker.allow(), true);
  const auto first = breaker.retry_in_ms();
  clock.now += 1000;
  breaker.record_failure(early);  // a request that was already in flight
  EXPECT_EQ(breaker.retry_in_ms(), first - 1000);
}

TEST(CircuitBreaker, WhileARequestWaitsTooLongForAnAnswerOthersSkipTheUpstream) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());  // slow_after: 5 s
  auto hanging = breaker.allow();
  ASSERT_NE(hanging, 0u);
  clock.now += 4000;
  auto second = breaker.allow();
  EXPECT_NE(second, 0u);  // not long enough to suspect it yet
  breaker.answered(second);
  clock.now += 1000;
  EXPECT_EQ(breaker.allow(), 0u);  // 5 s without an answer: a black hole, probably
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  breaker.answered(hanging);  // its head arrived after all (a slow, long stream is fine)
  EXPECT_NE(breaker.allow(), 0u);
}

}  // namespace
}  // namespace regmirror::proxy::upstream
