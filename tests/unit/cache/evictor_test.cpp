#include "cache/evictor.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cache/access_tracker.hpp"
#include "cache/memory_blob_store.hpp"
#include "cache/memory_metadata_store.hpp"
#include "cache/pin_closure.hpp"

namespace regmirror::cache {
namespace {

Digest put(BlobStore& store, const std::string& bytes) {
  auto digest = digest_of(bytes);
  auto writer = store.begin_write(digest, bytes.size()).value();
  EXPECT_TRUE(writer->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
  EXPECT_TRUE(writer->commit());
  return digest;
}

std::string image_manifest(const Digest& config, std::uint64_t config_size, const Digest& layer,
                           std::uint64_t layer_size) {
  return nlohmann::json{{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config",
                         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                          {"digest", config.str()},
                          {"size", config_size}}},
                        {"layers",
                         {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                           {"digest", layer.str()},
                           {"size", layer_size}}}}}
      .dump();
}

class EvictorTest : public ::testing::Test {
 protected:
  MemoryBlobStore blobs;
  MemoryMetadataStore metadata;
  AccessTracker access;
  std::int64_t now = 10'000;
  Evictor make(std::uint64_t max_bytes) {
    return Evictor(blobs, metadata, access, {max_bytes, 0.5, 0}, [this] { return now; });
  }
  bool has(const Digest& digest) { return static_cast<bool>(blobs.stat(digest)); }
};

TEST_F(EvictorTest, EvictsLeastRecentlyUsedAndKeepsEverythingAPinnedManifestReferences) {
  std::string config(100, 'c');
  std::string layer(3000, 'l');
  auto config_digest = put(blobs, config);
  auto layer_digest = put(blobs, layer);
  auto manifest =
      put(blobs, image_manifest(config_digest, config.size(), layer_digest, layer.size()));
  auto old_blob = put(blobs, std::string(3000, 'o'));
  auto newer_blob = put(blobs, std::string(3000, 'n'));
  // The pin names only the manifest: its config and layer are protected through it.
  ASSERT_TRUE(metadata.put_pin("docker.io/library/x:1", {{manifest.str()}, 1}));
  access.touch(layer_digest, 1);  // oldest of all, but pinned through the manifest
  access.touch(old_blob, 2);
  access.touch(newer_blob, 3);

  auto evictor = make(4000);  // ~9.4 KB stored; target 2000 bytes
  auto report = evictor.run_once();
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_TRUE(has(manifest));
  EXPECT_TRUE(has(config_digest));
  EXPECT_TRUE(has(layer_digest));
  EXPECT_FALSE(has(old_blob));
  EXPECT_FALSE(has(newer_blob));
  ASSERT_EQ(report.removed.size(), 2u);
  EXPECT_EQ(report.removed[0].first, old_blob);  // LRU order
  EXPECT_EQ(report.bytes_after, report.bytes_before - 6000);
  EXPECT_EQ(evictor.estimated_bytes(), report.bytes_after);
  // Removed blobs lose their access records; the access times were persisted.
  EXPECT_FALSE(metadata.get_blob_record(old_blob).value());
  EXPECT_EQ(metadata.get_blob_record(layer_digest).value()->last_access, 1);
}

TEST_F(EvictorTest, UnpinnedContentBecomesEvictable) {
  auto config_digest = put(blobs, "cfg");
  auto layer_digest = put(blobs, std::string(5000, 'z'));
  auto manifest = put(blobs, image_manifest(config_digest, 3, layer_digest, 5000));
  ASSERT_TRUE(metadata.put_pin("r", {{manifest.str()}, 1}));
  auto evictor = make(1000);
  EXPECT_TRUE(evictor.run_once().removed.empty());
  ASSERT_TRUE(metadata.delete_pin("r"));
  auto report = evictor.run_once();
  EXPECT_FALSE(has(layer_digest));
  EXPECT_LE(report.bytes_after, 1000u);
}

TEST_F(EvictorTest, NoteCommittedSignalsOnlyTheCrossing) {
  put(blobs, std::string(600, 'a'));
  auto evictor = make(1000);
  evictor.run_once();
  EXPECT_EQ(evictor.estimated_bytes(), 600u);
  EXPECT_FALSE(evictor.note_committed(300));  // 900
  EXPECT_TRUE(evictor.note_committed(300));   // 1200: crossed
  EXPECT_FALSE(evictor.note_committed(300));  // still over, already signalled
}

TEST_F(EvictorTest, BlobsNeverTouchedStartAgeingWhenFirstSeen) {
  auto untracked = put(blobs, std::string(3000, 'u'));
  auto evictor = make(100000);
  evictor.run_once();
  auto record = metadata.get_blob_record(untracked).value();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->last_access, now);
}

TEST_F(EvictorTest, IdleWindowSparesRecentBlobsUnlessTheOperatorAsks) {
  auto recent = put(blobs, std::string(3000, 'r'));
  access.touch(recent, now - 5);
  Evictor evictor(blobs, metadata, access, {1000, 0.5, 60}, [this] { return now; });
  EXPECT_TRUE(evictor.run_once().removed.empty());
  EXPECT_TRUE(has(recent));
  auto report = evictor.run_once(/*operator_request=*/true);
  ASSERT_EQ(report.removed.size(), 1u);
  EXPECT_FALSE(has(recent));
}

TEST(PinClosure, IndexCoversCachedChildrenAndTheirBlobs) {
  MemoryBlobStore blobs;
  auto config = put(blobs, "config");
  auto layer = put(blobs, "layer");
  auto child = put(blobs, image_manifest(config, 6, layer, 5));
  auto missing_child = digest_of("not cached");
  auto index =
      put(blobs, nlohmann::json{{"schemaVersion", 2},
                                {"manifests",
                                 {{{"digest", child.str()},
                                   {"size", 10},
                                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
                                  {{"digest", missing_child.str()}, {"size", 10}}}}}
                     .dump());
  auto closure = manifest_closure(blobs, index);
  EXPECT_EQ(closure, (std::set<Digest>{index, child, config, layer}));
}

}  // namespace
}  // namespace regmirror::cache
