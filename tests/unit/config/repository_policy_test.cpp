#include "config/repository_policy.hpp"

#include <gtest/gtest.h>

#include "config/load.hpp"
#include "config/routing_table.hpp"
#include "tests/unit/message_result.hpp"

namespace regmirror::config {
namespace {

using regmirror::testing::failure_message;
using regmirror::testing::succeeded;

std::string verdict(const RepositoryPolicy& policy, std::string_view repo, std::string_view tag = "") {
  auto why = policy.refusal(repo, tag);
  return why ? *why : "ok";
}

TEST(RepositoryPolicyTest, EmptyPolicyAllowsEverything) {
  RepositoryPolicy policy;
  EXPECT_TRUE(policy.empty());
  EXPECT_EQ(verdict(policy, "library/alpine"), "ok");
}

TEST(RepositoryPolicyTest, StarMatchesOneSegmentOnly) {
  RepositoryPolicy policy({"library/*"}, {});
  EXPECT_EQ(verdict(policy, "library/alpine"), "ok");
  EXPECT_EQ(verdict(policy, "library/a/b"), "not in the allow list");
  EXPECT_EQ(verdict(policy, "myorg/app"), "not in the allow list");
  EXPECT_EQ(verdict(policy, "library"), "not in the allow list");
}

TEST(RepositoryPolicyTest, DoubleStarMatchesAnyDepth) {
  RepositoryPolicy policy({"myorg/**"}, {});
  EXPECT_EQ(verdict(policy, "myorg/app"), "ok");
  EXPECT_EQ(verdict(policy, "myorg/team/app/x"), "ok");
  EXPECT_EQ(verdict(policy, "myorgx/app"), "not in the allow list");
}

TEST(RepositoryPolicyTest, DotsAreLiteral) {
  RepositoryPolicy policy({"a.b"}, {});
  EXPECT_EQ(verdict(policy, "a.b"), "ok");
  EXPECT_EQ(verdict(policy, "axb"), "not in the allow list");
}

TEST(RepositoryPolicyTest, DenyWinsOverAllow) {
  RepositoryPolicy policy({"library/**"}, {"library/bad*"});
  EXPECT_EQ(verdict(policy, "library/alpine"), "ok");
  EXPECT_EQ(verdict(policy, "library/badimage"), "denied by rule 'library/bad*'");
}

TEST(RepositoryPolicyTest, DenyWithoutAllowRefusesOnlyMatches) {
  RepositoryPolicy policy({}, {"evil/**"});
  EXPECT_EQ(verdict(policy, "evil/x"), "denied by rule 'evil/**'");
  EXPECT_EQ(verdict(policy, "good/x"), "ok");
}

TEST(RepositoryPolicyTest, TagRegexNarrowsRulesToMatchingTags) {
  RepositoryPolicy policy({"app:v[0-9]+"}, {"lib/*:latest"});
  EXPECT_EQ(verdict(policy, "app", "v12"), "ok");
  EXPECT_EQ(verdict(policy, "app", "latest"), "not in the allow list");
  EXPECT_EQ(verdict(policy, "app", "v1x"), "not in the allow list");  // whole-tag match
  EXPECT_EQ(verdict(policy, "app", ""), "ok");  // digests: judged by the path part
  RepositoryPolicy deny({}, {"lib/*:latest"});
  EXPECT_EQ(verdict(deny, "lib/x", "latest"), "denied by rule 'lib/*:latest'");
  EXPECT_EQ(verdict(deny, "lib/x", "1.0"), "ok");
  EXPECT_EQ(verdict(deny, "lib/x", ""), "ok");
}

TEST(RepositoryPolicyTest, BadGlobsAreExplained) {
  EXPECT_TRUE(succeeded(check_repository_glob("library/*")));
  EXPECT_TRUE(succeeded(check_repository_glob("a/**:v.*")));
  EXPECT_FALSE(check_repository_glob(""));
  EXPECT_FALSE(check_repository_glob("/a"));
  EXPECT_FALSE(check_repository_glob("a//b"));
  EXPECT_FALSE(check_repository_glob("a/***"));
  EXPECT_FALSE(check_repository_glob("Library/x"));
  EXPECT_FALSE(check_repository_glob("a:"));
  EXPECT_NE(failure_message(check_repository_glob("a:(unclosed")).find("does not compile"),
            std::string::npos);
}

TEST(RepositoryPolicyTest, LoadRejectsBadGlobsNamingTheKey) {
  try {
    parse_config(R"({"registries":{"docker.io":{"upstreams":[{"url":"http://127.0.0.1:1"}],
                         "deny":["ok/*","Bad"]}}})");
    FAIL() << "accepted a bad glob";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("registries.docker.io.deny[1]"), std::string::npos) << e.what();
  }
}

TEST(RepositoryPolicyTest, RoutesCarryTheirRegistrysPolicy) {
  auto config = parse_config(R"({"registries":{
      "docker.io":{"upstreams":[{"url":"http://127.0.0.1:1"}],"allow":["library/*"]},
      "quay.io":{"upstreams":[{"url":"http://127.0.0.1:2"}]}}})");
  RoutingTable table(config);
  auto hub = table.route("", "alpine");  // the client's name after "library/", before templates
  ASSERT_TRUE(hub);
  EXPECT_EQ(verdict(*hub->policy, hub->repository), "ok");
  auto other = table.route("docker.io", "myorg/app");
  ASSERT_TRUE(other);
  EXPECT_EQ(verdict(*other->policy, other->repository), "not in the allow list");
  auto quay = table.route("", "quay.io/anything/x");
  ASSERT_TRUE(quay);
  EXPECT_TRUE(quay->policy->empty());
}

}  // namespace
}  // namespace regmirror::config
