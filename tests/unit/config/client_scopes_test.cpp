// access.scopes judged: a named client is limited to its entries; anyone else is not.
// (Loading them: load_test.cpp.)
#include "config/client_scopes.hpp"

#include <gtest/gtest.h>


namespace regmirror::config {
namespace {

TEST(ClientScopes, NamedClientsAreLimitedToTheirEntries) {
  ClientScopes scopes({{"alice", {"docker.io/library/*"}},
                       {"ci", {"docker.io/myorg/**", "registry.k8s.io/pause:3\\..*"}},
                       {"nobody", {}}});
  EXPECT_FALSE(scopes.empty());
  EXPECT_TRUE(scopes.limits("alice"));
  EXPECT_FALSE(scopes.limits("bob"));
  EXPECT_FALSE(scopes.refusal("alice", "docker.io", "library/alpine", "3.19"));
  auto why = scopes.refusal("alice", "docker.io", "myorg/app", "v1");
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("client alice may not pull docker.io/myorg/app"), std::string::npos) << *why;
  EXPECT_TRUE(scopes.refusal("alice", "registry.k8s.io", "pause", "3.9"));  // no entry there
  EXPECT_FALSE(scopes.refusal("ci", "docker.io", "myorg/team/app", ""));
  EXPECT_FALSE(scopes.refusal("ci", "registry.k8s.io", "pause", "3.9"));
  EXPECT_TRUE(scopes.refusal("ci", "registry.k8s.io", "pause", "latest"));
  EXPECT_FALSE(scopes.refusal("ci", "registry.k8s.io", "pause", ""));  // by digest: path rule
  EXPECT_TRUE(scopes.refusal("nobody", "docker.io", "library/alpine", ""));
  EXPECT_FALSE(scopes.refusal("bob", "docker.io", "anything/at/all", ""));  // not named
  scopes.replace({});
  EXPECT_TRUE(scopes.empty());
  EXPECT_FALSE(scopes.refusal("alice", "docker.io", "myorg/app", "v1"));
}

}  // namespace
}  // namespace regmirror::config
