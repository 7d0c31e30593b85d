#include "proxy/registry/request_target.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::registry {
namespace {

TEST(RequestTarget, SplitsNameAndReference) {
  auto t = parse_request_target("/v2/quay.io/coreos/flannel/manifests/v0.14.0");
  EXPECT_EQ(t.kind, RouteKind::kManifest);
  EXPECT_EQ(t.name, "quay.io/coreos/flannel");
  EXPECT_EQ(t.reference, "v0.14.0");
  auto b = parse_request_target("/v2/library/alpine/blobs/sha256:abc");
  EXPECT_EQ(b.kind, RouteKind::kBlob);
  EXPECT_EQ(b.name, "library/alpine");
  // A repository may itself contain the word "blobs".
  auto nested = parse_request_target("/v2/x/blobs/y/manifests/latest");
  EXPECT_EQ(nested.kind, RouteKind::kManifest);
  EXPECT_EQ(nested.name, "x/blobs/y");
}

TEST(RequestTarget, DecodesNsAndPagination) {
  auto t = parse_request_target("/v2/foo/tags/list?n=10&last=v1&ns=myregistry.io%3A5000");
  EXPECT_EQ(t.kind, RouteKind::kTagsList);
  EXPECT_EQ(t.name, "foo");
  EXPECT_EQ(t.ns, "myregistry.io:5000");
  EXPECT_EQ(t.n, "10");
  EXPECT_EQ(t.last, "v1");
  EXPECT_TRUE(parse_request_target("/v2/a/manifests/b?ns=%zz").bad_encoding);
  EXPECT_TRUE(parse_request_target("/v2/a/manifests/b?ns=%4").bad_encoding);
}

TEST(RequestTarget, KnowsTheOtherRoutes) {
  EXPECT_EQ(parse_request_target("/v2/").kind, RouteKind::kBase);
  EXPECT_EQ(parse_request_target("/v2").kind, RouteKind::kBase);
  EXPECT_EQ(parse_request_target("/healthz").kind, RouteKind::kHealthz);
  EXPECT_EQ(parse_request_target("/readyz").kind, RouteKind::kReadyz);
  EXPECT_EQ(parse_request_target("/metrics").kind, RouteKind::kMetrics);
  EXPECT_EQ(parse_request_target("/v2/a/blobs/uploads/").kind, RouteKind::kUploads);
  EXPECT_EQ(parse_request_target("/v2/a/referrers/sha256:x").kind, RouteKind::kReferrers);
  EXPECT_EQ(parse_request_target("/v2/_catalog").kind, RouteKind::kUnknownV2);
  EXPECT_EQ(parse_request_target("/etc/passwd").kind, RouteKind::kUnknown);
}

TEST(RequestTarget, DecodesTheReferrersArtifactTypeFilter) {
  auto t = parse_request_target("/v2/a/referrers/sha256:x?artifactType=application%2Fvnd.example.sbom");
  EXPECT_EQ(t.kind, RouteKind::kReferrers);
  EXPECT_EQ(t.reference, "sha256:x");
  EXPECT_EQ(t.artifact_type, "application/vnd.example.sbom");
  EXPECT_FALSE(parse_request_target("/v2/a/referrers/sha256:x").artifact_type);
}

TEST(PercentDecode, DecodesAndRejects) {
  EXPECT_EQ(percent_decode("a%2Fb+c"), "a/b c");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%g0"));
}

}  // namespace
}  // namespace regmirror::proxy::registry
