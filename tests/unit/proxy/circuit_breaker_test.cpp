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
    ASSERT_TRUE(breaker.allow());
    breaker.record_failure();
  }
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  breaker.record_success();  // an answer in between resets the count
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(breaker.allow());
    breaker.record_failure();
  }
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_FALSE(breaker.allow());
  EXPECT_EQ(breaker.retry_in_ms(), 5000);
}

TEST(CircuitBreaker, ATimeoutOpensAtOnce) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  ASSERT_TRUE(breaker.allow());
  breaker.record_failure(/*slow=*/true);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
  EXPECT_FALSE(breaker.allow());
}

TEST(CircuitBreaker, HalfOpenLetsExactlyOneProbeThrough) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  breaker.record_failure(true);
  clock.now += 4999;
  EXPECT_FALSE(breaker.allow());
  clock.now += 1;
  EXPECT_TRUE(breaker.allow());  // the probe
  EXPECT_EQ(breaker.state(), CircuitState::kHalfOpen);
  EXPECT_FALSE(breaker.allow());  // everyone else keeps skipping while it runs
  EXPECT_FALSE(breaker.allow());
  breaker.record_success();
  EXPECT_EQ(breaker.state(), CircuitState::kClosed);
  EXPECT_TRUE(breaker.allow());
  EXPECT_TRUE(breaker.allow());
}

TEST(CircuitBreaker, AFailedProbeDoublesTheCoolDownUpToTheMaximum) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  breaker.record_failure(true);
  std::int64_t expected = 5000;
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(breaker.retry_in_ms(), expected) << round;
    clock.now += expected;
    ASSERT_TRUE(breaker.allow());
    breaker.record_failure();  // the probe fails, even fast
    expected = std::min<std::int64_t>(expected * 2, 40000);
  }
  EXPECT_EQ(breaker.retry_in_ms(), 40000);
  EXPECT_EQ(breaker.state(), CircuitState::kOpen);
}

TEST(CircuitBreaker, LateFailuresOfRequestsStartedBeforeItOpenedDoNotExtendIt) {
  FakeClock clock;
  CircuitBreaker breaker(options(), clock.fn());
  breaker.record_failure(true);
  const auto first = breaker.retry_in_ms();
  clock.now += 1000;
  breaker.record_failure();  // a request that was already in flight
  EXPECT_EQ(breaker.retry_in_ms(), first - 1000);
}

}  // namespace
}  // namespace regmirror::proxy::upstream
