// access.scopes: loading (names and aliases of configured registries, globs checked) and
// judging (a named client is limited to its entries; anyone else is not).
#include "config/client_scopes.hpp"

#include <gtest/gtest.h>

#include "config/load.hpp"

namespace regmirror::config {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_config(json);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string with_scopes(const std::string& scopes) {
  return R"({"registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}]},
             "registry.k8s.io": {"aliases": ["k8s.gcr.io"],
                                 "upstreams": [{"url": "http://127.0.0.1:9"}]}},
            "access": {"scopes": )" + scopes + "}}";
}

TEST(ClientScopesLoad, AliasesBecomeTheCanonicalRegistry) {
  auto config = parse_config(with_scopes(R"({"alice": ["docker.io/library/*", "k8s.gcr.io/pause"]})"));
  EXPECT_EQ(config.access.scopes.at("alice"),
            (std::vector<std::string>{"docker.io/library/*", "registry.k8s.io/pause"}));
}

TEST(ClientScopesLoad, BadEntriesNameTheirKey) {
  EXPECT_NE(error_of(with_scopes(R"(["alice"])")).find("access.scopes"), std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": "docker.io/*"})")).find("access.scopes.alice"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["alpine"]})")).find("REGISTRY/GLOB"),
            std::string::npos);
  // A first segment that is not a configured registry (here a repository) is refused too.
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["library/*"]})")).find("'library' is not a configured"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["quay.io/x"]})")).find("not a configured registry"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": ["docker.io/Bad//glob"]})")).find("access.scopes.alice[0]"),
            std::string::npos);
  EXPECT_NE(error_of(with_scopes(R"({"alice": [7]})")).find("must be a string"), std::string::npos);
}

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
