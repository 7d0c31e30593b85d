// The referrers answer document: upstream descriptors and cached ones merged by digest, the
// artifactType filter applied to both, always a valid (possibly empty) image index.
#include "proxy/registry/referrers_service.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace regmirror::proxy::registry {
namespace {

using nlohmann::json;

cache::Referrer cached(const std::string& seed, std::string artifact_type) {
  return cache::Referrer{cache::digest_of("image"), cache::digest_of(seed),
                         cache::ReferrerRecord{"application/vnd.oci.image.manifest.v1+json",
                                               42,
                                               std::move(artifact_type),
                                               {{"k", seed}}}};
}

std::vector<std::string> digests_in(const std::string& body) {
  auto doc = json::parse(body);
  EXPECT_EQ(doc["schemaVersion"], 2);
  EXPECT_EQ(doc["mediaType"], "application/vnd.oci.image.index.v1+json");
  std::vector<std::string> out;
  for (const auto& d : doc["manifests"]) out.push_back(d["digest"].get<std::string>());
  return out;
}

TEST(ReferrersIndex, NothingKnownIsAnEmptyIndex) {
  auto body = referrers_index(std::nullopt, {}, std::nullopt);
  EXPECT_TRUE(digests_in(body).empty());
  EXPECT_TRUE(json::parse(body)["manifests"].is_array());
}

TEST(ReferrersIndex, CachedDescriptorsCarryTheSpecFields) {
  auto body = referrers_index(std::nullopt,
                              {cached("sig", "application/vnd.example.sig"), cached("idx", "")},
                              std::nullopt);
  auto doc = json::parse(body);
  ASSERT_EQ(doc["manifests"].size(), 2u);
  const auto& first = doc["manifests"][0];
  EXPECT_EQ(first["mediaType"], "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(first["digest"], cache::digest_of("sig").str());
  EXPECT_EQ(first["size"], 42);
  EXPECT_EQ(first["artifactType"], "application/vnd.example.sig");
  EXPECT_EQ(first["annotations"]["k"], "sig");
  EXPECT_FALSE(doc["manifests"][1].contains("artifactType"));  // omitted, never ""
}

TEST(ReferrersIndex, MergesUpstreamAndCacheByDigestUpstreamFirst) {
  json upstream{{"schemaVersion", 2},
                {"mediaType", "application/vnd.oci.image.index.v1+json"},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", cache::digest_of("remote").str()},
                   {"size", 1},
                   {"artifactType", "application/vnd.example.sbom"}},
                  {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", cache::digest_of("sig").str()},
                   {"size", 42},
                   {"artifactType", "application/vnd.example.sig"}},
                  "not a descriptor"}}};
  auto body = referrers_index(upstream.dump(),
                              {cached("sig", "application/vnd.example.sig"),
                               cached("local", "application/vnd.example.sbom")},
                              std::nullopt);
  EXPECT_EQ(digests_in(body), (std::vector<std::string>{cache::digest_of("remote").str(),
                                                        cache::digest_of("sig").str(),
                                                        cache::digest_of("local").str()}));
  auto sboms = referrers_index(upstream.dump(),
                               {cached("sig", "application/vnd.example.sig"),
                                cached("local", "application/vnd.example.sbom")},
                               std::string("application/vnd.example.sbom"));
  EXPECT_EQ(digests_in(sboms), (std::vector<std::string>{cache::digest_of("remote").str(),
                                                         cache::digest_of("local").str()}));
  EXPECT_TRUE(digests_in(referrers_index(std::nullopt, {cached("sig", "a/b")}, std::string("c/d")))
                  .empty());
}

TEST(ReferrersIndex, TheTagSchemaTagIsAlgorithmDashHexAtMost64) {
  auto sha256 = cache::digest_of("x");
  EXPECT_EQ(referrers_tag(sha256), "sha256-" + std::string(sha256.hex()));
  auto sha512 = cache::digest_of("x", cache::DigestAlgorithm::kSha512);
  EXPECT_EQ(referrers_tag(sha512), "sha512-" + std::string(sha512.hex().substr(0, 64)));
}

TEST(ReferrersIndex, KnowsAnIndexFromAnythingElse) {
  EXPECT_TRUE(is_referrers_index(R"({"schemaVersion":2,"manifests":[]})"));
  EXPECT_FALSE(is_referrers_index(R"({"errors":[{"code":"NOT_FOUND"}]})"));
  EXPECT_FALSE(is_referrers_index("<html>"));
  EXPECT_FALSE(is_referrers_index(R"({"manifests":{}})"));
}

}  // namespace
}  // namespace regmirror::proxy::registry
