// What a pin protects: the image, its referenced blobs, and its signatures and other
// attachments (fallback tags sha256-<hex>[.sig|.att|.sbom] in the pinned repository, referrers
// indexed under the image or an index child), each with what they reference; so eviction never
// keeps an image while dropping what verifies it.
#include "cache/pin_closure.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cache/access_tracker.hpp"
#include "cache/evictor.hpp"
#include "cache/memory_blob_store.hpp"
#include "cache/memory_metadata_store.hpp"
#include "cache/referrer_index.hpp"

namespace regmirror::cache {
namespace {

using nlohmann::json;

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kIndexType = "application/vnd.oci.image.index.v1+json";

Digest put(BlobStore& store, const std::string& bytes) {
  auto digest = digest_of(bytes);
  auto writer = store.begin_write(digest, bytes.size()).value();
  EXPECT_TRUE(writer->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
  EXPECT_TRUE(writer->commit());
  return digest;
}

json descriptor(const std::string& media_type, const Digest& digest, std::uint64_t size) {
  return {{"mediaType", media_type}, {"digest", digest.str()}, {"size", size}};
}

class PinClosureTest : public ::testing::Test {
 protected:
  MemoryBlobStore blobs;
  MemoryMetadataStore metadata;

  // An image manifest (config + one layer, all stored); `subject`: it is then an artifact.
  Digest manifest(const std::string& seed, const std::optional<Digest>& subject = std::nullopt,
                  std::size_t layer_size = 100) {
    auto config = put(blobs, "config-" + seed);
    auto layer = put(blobs, std::string(layer_size, seed.empty() ? 'x' : seed[0]) + seed);
    json doc{{"schemaVersion", 2},
             {"mediaType", kManifestType},
             {"config", descriptor("application/vnd.oci.image.config.v1+json", config,
                                   ("config-" + seed).size())},
             {"layers", json::array({descriptor("application/vnd.oci.image.layer.v1.tar", layer,
                                                layer_size + seed.size())})}};
    if (subject) doc["subject"] = descriptor(kManifestType, *subject, 1);
    auto text = doc.dump();
    auto digest = put(blobs, text);
    EXPECT_TRUE(metadata.put_manifest(digest, {kManifestType, text.size()}));
    EXPECT_TRUE(index_referrer(metadata, digest, text, kManifestType).value() ==
                subject.has_value());
    config_of.insert_or_assign(digest, config);
    layer_of.insert_or_assign(digest, layer);
    return digest;
  }
  Digest index(const std::vector<Digest>& children) {
    json list = json::array();
    for (const auto& child : children) list.push_back(descriptor(kManifestType, child, 1));
    auto text = json{{"schemaVersion", 2}, {"mediaType", kIndexType}, {"manifests", list}}.dump();
    auto digest = put(blobs, text);
    EXPECT_TRUE(metadata.put_manifest(digest, {kIndexType, text.size()}));
    return digest;
  }
  void tag(const std::string& repository, const std::string& tag, const Digest& digest) {
    ASSERT_TRUE(
        metadata.put_tag({"docker.io", repository, tag}, {digest.str(), kManifestType, 1, 1, 1}));
  }
  std::set<Digest> pinned() { return pinned_digests(blobs, metadata).value(); }
  // The artifact and everything it references.
  void expect_protected(const std::set<Digest>& set, const Digest& artifact) {
    EXPECT_TRUE(set.contains(artifact)) << artifact.str();
    EXPECT_TRUE(set.contains(config_of.at(artifact))) << artifact.str();
    EXPECT_TRUE(set.contains(layer_of.at(artifact))) << artifact.str();
  }
  std::map<Digest, Digest> config_of, layer_of;
};

TEST_F(PinClosureTest, FallbackTagsAreTheSpecAndCosignSchema) {
  auto d = digest_of("image");
  auto hex = std::string(d.hex());
  EXPECT_EQ(fallback_tags(d),
            (std::vector<std::string>{"sha256-" + hex, "sha256-" + hex + ".sig",
                                      "sha256-" + hex + ".att", "sha256-" + hex + ".sbom"}));
}

TEST_F(PinClosureTest, APinnedImageProtectsItsFallbackTagSignaturesInItsRepository) {
  auto image = manifest("image");
  auto sig = manifest("sig");
  auto att = manifest("att");
  auto elsewhere = manifest("elsewhere");
  auto unrelated = manifest("unrelated");
  const auto hex = std::string(image.hex());
  tag("library/app", "1.0", image);
  tag("library/app", "sha256-" + hex + ".sig", sig);
  tag("library/app", "sha256-" + hex + ".att", att);
  tag("library/other", "sha256-" + hex + ".sig", elsewhere);  // another repository's tag
  tag("library/app", "latest", unrelated);
  EXPECT_FALSE(pinned().contains(sig));  // nothing pinned: nothing protected
  ASSERT_TRUE(metadata.put_pin("docker.io/library/app:1.0", {{image.str()}, 1}));
  auto set = pinned();
  expect_protected(set, image);
  expect_protected(set, sig);
  expect_protected(set, att);
  EXPECT_FALSE(set.contains(elsewhere));
  EXPECT_FALSE(set.contains(unrelated));
  // Pinned by digest, in the other repository: that repository's signature.
  ASSERT_TRUE(metadata.put_pin("docker.io/library/other@" + image.str(), {{image.str()}, 2}));
  expect_protected(pinned(), elsewhere);
}

TEST_F(PinClosureTest, ReferrersOfThePinnedImageAndOfItsIndexChildrenAreProtected) {
  auto amd64 = manifest("amd64");
  auto arm64 = manifest("arm64");
  auto top = index({amd64, arm64});
  auto sig_of_index = manifest("sig-index", top);
  auto sbom_of_child = manifest("sbom-child", arm64);
  auto foreign = manifest("foreign", digest_of("some other image"));
  ASSERT_TRUE(metadata.put_pin("docker.io/library/multi:1", {{top.str()}, 1}));
  auto set = pinned();
  EXPECT_TRUE(set.contains(top));
  expect_protected(set, amd64);
  expect_protected(set, arm64);
  expect_protected(set, sig_of_index);
  expect_protected(set, sbom_of_child);
  EXPECT_FALSE(set.contains(foreign));
  // A signature cached after the pin was taken is protected too (found at each pass).
  auto late = manifest("late", top);
  expect_protected(pinned(), late);
}

TEST_F(PinClosureTest, EvictionNeverKeepsAnImageWhileDroppingItsSignatures) {
  auto image = manifest("image", std::nullopt, 2000);
  auto sig = manifest("sig", std::nullopt, 2000);
  auto sbom = manifest("sbom", image, 2000);
  auto other = manifest("other", std::nullopt, 2000);
  tag("library/app", "1.0", image);
  tag("library/app", "sha256-" + std::string(image.hex()) + ".sig", sig);
  ASSERT_TRUE(metadata.put_pin("docker.io/library/app:1.0", {{image.str()}, 1}));
  AccessTracker access;
  std::int64_t now = 10'000;
  Evictor evictor(blobs, metadata, access, {1000, 0.5, 0}, [&now] { return now; });
  evictor.reconcile();
  // The signature's blobs are the least recently used of all: pinned through the image.
  access.touch(layer_of.at(sig), 1);
  access.touch(layer_of.at(sbom), 2);
  access.touch(layer_of.at(other), 3);
  auto report = evictor.run_once();
  EXPECT_TRUE(report.error.empty()) << report.error;
  for (const auto& kept : {image, layer_of.at(image), sig, layer_of.at(sig), config_of.at(sig),
                           sbom, layer_of.at(sbom)}) {
    EXPECT_TRUE(blobs.stat(kept)) << kept.str();
  }
  EXPECT_FALSE(blobs.stat(layer_of.at(other)));
  EXPECT_FALSE(blobs.stat(other));
}

}  // namespace
}  // namespace regmirror::cache
