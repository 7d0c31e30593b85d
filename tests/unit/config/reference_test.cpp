#include "config/reference.hpp"

#include <gtest/gtest.h>

#include <string>

namespace regmirror::config {
namespace {

TEST(RepositoryName, AcceptsTheDistributionGrammar) {
  for (const char* name : {"alpine", "library/alpine", "coreos/flannel-cni", "a/b/c/d",
                           "sig-storage/csi-attacher", "foo__bar", "foo_bar", "foo.bar",
                           "foo---bar", "0", "k8scloudprovider/cinder-csi-plugin"}) {
    EXPECT_TRUE(is_valid_repository(name)) << name;
  }
}

TEST(RepositoryName, RejectsTraversalCaseSeparatorsAndLength) {
  for (const char* name : {"", "../etc", "library/../../x", "Alpine", "library/Alpine", "/alpine",
                           "alpine/", "a//b", "foo___bar", "foo..bar", "-foo", "foo-", ".foo",
                           "foo bar", "foo%2fbar", "foo:bar", "foo@bar", "_foo"}) {
    EXPECT_FALSE(is_valid_repository(name)) << name;
  }
  EXPECT_FALSE(is_valid_repository(std::string(300, 'a')));
  EXPECT_TRUE(is_valid_repository(std::string(255, 'a')));
  EXPECT_FALSE(is_valid_repository(std::string(128, 'a') + "/" + std::string(128, 'b')));
}

TEST(Tag, AcceptsTheDistributionGrammar) {
  for (const char* tag : {"3.19", "latest", "v0.14.0", "_x", "A-b.c_d", "sha256-abc"}) {
    EXPECT_TRUE(is_valid_tag(tag)) << tag;
  }
  EXPECT_TRUE(is_valid_tag(std::string(128, 'a')));
}

TEST(Tag, RejectsWhatCannotExist) {
  for (const char* tag : {"", ".INVALID", "-x", "a/b", "a:b", "a b", "a%b", "..", "a\nb"}) {
    EXPECT_FALSE(is_valid_tag(tag)) << tag;
  }
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}

TEST(RegistryHost, AcceptsHostsAndPorts) {
  for (const char* host : {"docker.io", "registry.k8s.io", "127.0.0.1:5000", "localhost",
                           "myregistry.io:5000", "Harbor.Example"}) {
    EXPECT_TRUE(is_valid_registry_host(host)) << host;
  }
  for (const char* host : {"", "a..b", "-a.io", "a.io:", "a.io:0", "a.io:65536", "a.io:x",
                           "a/b", "a_b.io", "a.io:5000:1"}) {
    EXPECT_FALSE(is_valid_registry_host(host)) << host;
  }
}

}  // namespace
}  // namespace regmirror::config
