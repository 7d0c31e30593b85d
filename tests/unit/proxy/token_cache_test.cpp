#include "proxy/upstream/token_cache.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::upstream {
namespace {

using namespace std::chrono_literals;

TEST(TokenCache, ServesTokensUntilShortlyBeforeExpiry) {
  TokenCache cache;
  TokenCache::Clock::time_point t0{};
  cache.put("hub repository:library/alpine:pull", "tok", 300s, t0);
  EXPECT_EQ(cache.get("hub repository:library/alpine:pull", t0 + 100s), "tok");
  EXPECT_EQ(cache.get("hub repository:library/alpine:pull", t0 + 289s), "tok");
  EXPECT_FALSE(cache.get("hub repository:library/alpine:pull", t0 + 291s));
  EXPECT_FALSE(cache.get("hub repository:other:pull", t0));
}

TEST(TokenCache, ShortLivedTokensStillGetSomeLife) {
  TokenCache cache;
  TokenCache::Clock::time_point t0{};
  cache.put("k", "tok", 5s, t0);
  EXPECT_EQ(cache.get("k", t0 + 1s), "tok");
  EXPECT_FALSE(cache.get("k", t0 + 3s));
}

}  // namespace
}  // namespace regmirror::proxy::upstream
