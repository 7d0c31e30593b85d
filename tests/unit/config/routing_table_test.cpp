#include "config/routing_table.hpp"

#include <gtest/gtest.h>

#include "config/load.hpp"

namespace regmirror::config {
namespace {

class RoutingTableTest : public ::testing::Test {
 protected:
  Config config_ = default_config();
  RoutingTable table_{config_};

  std::string route_of(std::string_view ns, std::string_view name) {
    auto route = table_.route(ns, name);
    if (!route) {
      return route.error() == RouteError::kNameInvalid ? "NAME_INVALID" : "NOT_SERVED";
    }
    return route->registry->name + " " + route->repository;
  }
};

TEST_F(RoutingTableTest, NsParameterWins) {
  EXPECT_EQ(route_of("docker.io", "library/alpine"), "docker.io library/alpine");
  EXPECT_EQ(route_of("quay.io", "coreos/flannel"), "quay.io coreos/flannel");
  // ns wins even when the path starts with something host-like.
  EXPECT_EQ(route_of("ghcr.io", "quay.io/x"), "ghcr.io quay.io/x");
}

TEST_F(RoutingTableTest, AliasesResolveToTheCanonicalRegistry) {
  EXPECT_EQ(route_of("k8s.gcr.io", "pause"), "registry.k8s.io pause");
  EXPECT_EQ(route_of("", "k8s.gcr.io/pause"), "registry.k8s.io pause");
}

TEST_F(RoutingTableTest, HostPathPrefixSelectsTheRegistry) {
  EXPECT_EQ(route_of("", "quay.io/coreos/flannel"), "quay.io coreos/flannel");
  EXPECT_EQ(route_of("", "docker.pkg.github.com/owner/repo/image"),
            "docker.pkg.github.com owner/repo/image");
}

TEST_F(RoutingTableTest, DefaultRegistryGetsLibraryForOneSegmentNames) {
  EXPECT_EQ(route_of("", "alpine"), "docker.io library/alpine");
  EXPECT_EQ(route_of("", "calico/node"), "docker.io calico/node");
  EXPECT_EQ(route_of("docker.io", "alpine"), "docker.io library/alpine");
  // Other registries never get library/.
  EXPECT_EQ(route_of("quay.io", "single"), "quay.io single");
}

TEST_F(RoutingTableTest, UnconfiguredRegistriesAreNeverProxied) {
  EXPECT_EQ(route_of("evil.example.com", "x/y"), "NOT_SERVED");
  EXPECT_EQ(route_of("", "evil.example.com/x/y"), "NOT_SERVED");
  EXPECT_EQ(route_of("", "127.0.0.1:5000/x"), "NOT_SERVED");
}

TEST_F(RoutingTableTest, InvalidNamesAreRejected) {
  EXPECT_EQ(route_of("", "../etc/passwd"), "NAME_INVALID");
  EXPECT_EQ(route_of("", "Library/Alpine"), "NAME_INVALID");
  EXPECT_EQ(route_of("docker.io", ""), "NAME_INVALID");
  EXPECT_EQ(route_of("", "quay.io/"), "NAME_INVALID");
}

}  // namespace
}  // namespace regmirror::config
