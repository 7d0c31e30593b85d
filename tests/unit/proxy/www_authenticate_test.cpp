#include "proxy/upstream/www_authenticate.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::upstream {
namespace {

TEST(WwwAuthenticate, ParsesDockerHubBearerChallenge) {
  auto challenges = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
  ASSERT_EQ(challenges.size(), 1u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(challenges[0].param("service"), "registry.docker.io");
  EXPECT_EQ(challenges[0].param("scope"), "repository:library/alpine:pull");
}

TEST(WwwAuthenticate, HandlesCaseSpacesEscapesAndSeveralChallenges) {
  auto challenges = parse_www_authenticate(
      R"(BASIC Realm="Harbor", Bearer  realm = "https://h/service/token" , service=harbor-registry, error="a \"quoted\" word")");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "basic");
  EXPECT_EQ(challenges[0].param("realm"), "Harbor");
  EXPECT_EQ(challenges[1].scheme, "bearer");
  EXPECT_EQ(challenges[1].param("realm"), "https://h/service/token");
  EXPECT_EQ(challenges[1].param("service"), "harbor-registry");
  EXPECT_EQ(challenges[1].param("error"), "a \"quoted\" word");
}

TEST(WwwAuthenticate, GarbageNeverThrowsAndKeepsWhatParsed) {
  EXPECT_TRUE(parse_www_authenticate("").empty());
  EXPECT_TRUE(parse_www_authenticate("   ,,, ").empty());
  auto unterminated = parse_www_authenticate(R"(Bearer realm="https://x/token)");
  ASSERT_EQ(unterminated.size(), 1u);
  EXPECT_EQ(unterminated[0].param("realm"), "");
  auto trailing = parse_www_authenticate(R"(Bearer realm="r" @@@ ===)");
  ASSERT_GE(trailing.size(), 1u);
  EXPECT_EQ(trailing[0].param("realm"), "r");
  EXPECT_EQ(parse_www_authenticate("Basic dXNlcjpwYXNz==")[0].scheme, "basic");
}

}  // namespace
}  // namespace regmirror::proxy::upstream
