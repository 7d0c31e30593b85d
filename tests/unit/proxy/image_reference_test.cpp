#include "proxy/registry/image_reference.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::registry {
namespace {

TEST(ImageReference, RegistryHostIsTheFirstSegmentOnlyWhenItLooksLikeAHost) {
  auto ref = parse_image_reference("k8s.gcr.io/pause:3.2");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->host, "k8s.gcr.io");
  EXPECT_EQ(ref->repository, "pause");
  EXPECT_EQ(ref->tag, "3.2");
  auto hub = parse_image_reference("coredns/coredns");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->host, "docker.io");
  EXPECT_EQ(hub->repository, "coredns/coredns");
  EXPECT_EQ(hub->tag, "");
  auto local = parse_image_reference("127.0.0.1:5000/team/app:v1");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->host, "127.0.0.1:5000");
  EXPECT_EQ(local->repository, "team/app");
  EXPECT_EQ(local->str(), "127.0.0.1:5000/team/app:v1");
}

TEST(ImageReference, DockerHubOneSegmentNamesGetLibrary) {
  auto ref = parse_image_reference("alpine:3.19");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->str(), "docker.io/library/alpine:3.19");
}

TEST(ImageReference, DigestAndTagTogether) {
  std::string digest = "sha256:" + std::string(64, 'a');
  auto ref = parse_image_reference("quay.io/coreos/flannel:v0.14.0@" + digest);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->tag, "v0.14.0");
  EXPECT_EQ(ref->digest, digest);
}

TEST(ImageReference, BadInputIsRefusedWithAReason) {
  auto why = [](const std::string& text) {
    auto ref = parse_image_reference(text);
    return ref ? std::string("accepted") : ref.error().message;
  };
  EXPECT_EQ(why(""), "empty reference");
  EXPECT_NE(why("docker.io/Alpine:1").find("repository"), std::string::npos);  // upper case
  EXPECT_NE(why("alpine@sha256:short").find("digest"), std::string::npos);
  EXPECT_NE(why("alpine:bad/tag!"), "accepted");
}

}  // namespace
}  // namespace regmirror::proxy::registry
