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
  evictor.reconcile();        // the blobs were written straight into the store: index them
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
  evictor.reconcile();
  EXPECT_TRUE(evictor.run_once().removed.empty());
  ASSERT_TRUE(metadata.delete_pin("r"));
  auto report = evictor.run_once();
  EXPECT_FALSE(has(layer_digest));
  EXPECT_LE(report.bytes_after, 1000u);
}

TEST_F(EvictorTest, NoteCommittedRecordsTheSizeAndSignalsOnlyTheCrossing) {
  auto evictor = make(1000);
  EXPECT_FALSE(evictor.note_committed(digest_of("a"), 600));
  EXPECT_EQ(evictor.estimated_bytes(), 600u);
  EXPECT_FALSE(evictor.note_committed(digest_of("b"), 300));  // 900
  EXPECT_TRUE(evictor.note_committed(digest_of("c"), 300));   // 1200: crossed
  EXPECT_FALSE(evictor.note_committed(digest_of("d"), 300));  // still over, already signalled
  auto record = metadata.get_blob_record(digest_of("c")).value();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->size, 300u);
  EXPECT_EQ(record->last_access, now);
  EXPECT_EQ(metadata.blob_usage().value().bytes, 1500u);
}

TEST_F(EvictorTest, ReconcileIndexesNewFilesFixesSizesAndDropsOldOrphans) {
  auto untracked = put(blobs, std::string(3000, 'u'));
  auto wrong = put(blobs, std::string(700, 'w'));
  ASSERT_TRUE(metadata.put_blob_record(wrong, {1, 5}));
  ASSERT_TRUE(metadata.put_blob_record(digest_of("gone long ago"), {50, now - 7200}));
  ASSERT_TRUE(metadata.put_blob_record(digest_of("in flight"), {0, now - 10}));
  auto evictor = make(100000);
  auto report = evictor.reconcile();
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_EQ(report.files, 2u);
  EXPECT_EQ(report.added, 1u);
  EXPECT_EQ(report.resized, 1u);
  EXPECT_EQ(report.orphans_removed, 1u);
  auto record = metadata.get_blob_record(untracked).value();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->last_access, now);  // starts ageing when first seen
  EXPECT_EQ(metadata.get_blob_record(wrong).value()->size, 700u);
  EXPECT_EQ(metadata.get_blob_record(wrong).value()->last_access, 5);
  EXPECT_FALSE(metadata.get_blob_record(digest_of("gone long ago")).value());
  EXPECT_TRUE(metadata.get_blob_record(digest_of("in flight")).value());
  EXPECT_EQ(metadata.blob_usage().value().bytes, 3700u);
  EXPECT_EQ(evictor.estimated_bytes(), 3700u);
}

TEST_F(EvictorTest, APassReadsOnlyTheOldestRecordsItNeeds) {
  // 20,000 blobs of 100 bytes; the budget asks for 100 of them to go. The pass must read about
  // that many records, not the whole index: its cost does not grow with the cache.
  for (int i = 0; i < 20'000; ++i) {
    auto digest = put(blobs, "blob " + std::to_string(i) + std::string(100 - 6 - std::to_string(i).size(), '.'));
    ASSERT_TRUE(metadata.put_blob_record(digest, {100, 1000 + i}));
  }
  ASSERT_EQ(metadata.blob_usage().value().bytes, 2'000'000u);
  Evictor evictor(blobs, metadata, access, {2'000'000 - 1, 1990000.0 / 1999999.0, 0},
                  [this] { return now; });
  auto report = evictor.run_once();
  EXPECT_TRUE(report.error.empty()) << report.error;
  EXPECT_EQ(report.removed.size(), 100u);
  EXPECT_LE(report.records_read, 101u);
  EXPECT_EQ(report.bytes_after, 1'990'000u);
  // The oldest went, in order.
  auto oldest_left = metadata.oldest_blob_records(std::nullopt, 1).value();
  ASSERT_EQ(oldest_left.size(), 1u);
  EXPECT_EQ(oldest_left[0].second.last_access, 1100);
  // Under budget: the pass reads no record at all.
  EXPECT_EQ(evictor.run_once().records_read, 0u);
}

TEST_F(EvictorTest, ARecordKnownOnlyFromAnAccessIsSizedFromTheStore) {
  auto blob = put(blobs, std::string(5000, 's'));
  access.touch(blob, 1);                   // size 0 in the index: never committed through us
  ASSERT_TRUE(metadata.record_committed(digest_of("other"), 2000, now));
  auto evictor = make(1000);
  auto report = evictor.run_once();
  ASSERT_EQ(report.removed.size(), 1u);
  EXPECT_EQ(report.removed[0].first, blob);
  EXPECT_EQ(report.removed[0].second, 5000u);
  EXPECT_FALSE(has(blob));
}

TEST_F(EvictorTest, IdleWindowSparesRecentBlobsUnlessTheOperatorAsks) {
  auto recent = put(blobs, std::string(3000, 'r'));
  access.touch(recent, now - 5);
  Evictor evictor(blobs, metadata, access, {1000, 0.5, 60}, [this] { return now; });
  evictor.reconcile();
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
