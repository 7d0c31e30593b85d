// Pins, blob records, full tag listing and atomic imports, for every MetadataStore.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>

#include "cache/cache_error.hpp"
#include "cache/memory_metadata_store.hpp"
#include "cache/metadata_codec.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "tests/unit/cache/metadata_store_fixture.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

class MetadataPins : public testing::MetadataStoreTest {};

TEST_P(MetadataPins, PinsRoundTripListAndDelete) {
  PinRecord record{{digest_of("m").str(), digest_of("l").str()}, 42};
  ASSERT_TRUE(store_->put_pin("registry.k8s.io/pause:3.2", record));
  ASSERT_TRUE(store_->put_pin("docker.io/library/alpine:3.19", {{digest_of("x").str()}, 7}));
  auto got = store_->get_pin("registry.k8s.io/pause:3.2").value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->digests, record.digests);
  EXPECT_EQ(got->pinned_at, 42);
  auto all = store_->list_pins().value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].first, "docker.io/library/alpine:3.19");  // sorted
  ASSERT_TRUE(store_->delete_pin("registry.k8s.io/pause:3.2"));
  EXPECT_FALSE(store_->get_pin("registry.k8s.io/pause:3.2").value());
  EXPECT_TRUE(store_->delete_pin("never-pinned"));  // absent is not an error
  EXPECT_EQ(store_->list_pins().value().size(), 1u);
}

TEST_P(MetadataPins, RecordAccessOnlyMovesForwardAndKeepsSize) {
  auto digest = digest_of("blob");
  ASSERT_TRUE(store_->put_blob_record(digest, {1234, 100}));
  ASSERT_TRUE(store_->record_access({{digest, 50}}));
  EXPECT_EQ(store_->get_blob_record(digest).value()->last_access, 100);
  ASSERT_TRUE(store_->record_access({{digest, 200}, {digest_of("new"), 10}}));
  auto record = store_->get_blob_record(digest).value();
  EXPECT_EQ(record->last_access, 200);
  EXPECT_EQ(record->size, 1234u);
  auto created = store_->get_blob_record(digest_of("new")).value();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->size, 0u);
  EXPECT_EQ(created->last_access, 10);
  EXPECT_EQ(store_->list_blob_records("", 100).value().size(), 2u);
  ASSERT_TRUE(store_->delete_blob_record(digest));
  EXPECT_FALSE(store_->get_blob_record(digest).value());
}

TEST_P(MetadataPins, ListAllTagsSpansRegistriesAndRepositoriesInOrder) {
  TagRecord record{digest_of("a").str(), "application/vnd.oci.image.manifest.v1+json", 10, 1, 2};
  ASSERT_TRUE(store_->put_tag({"quay.io", "coreos/flannel", "v0.14.0"}, record));
  ASSERT_TRUE(store_->put_tag({"docker.io", "library/alpine", "3.19"}, record));
  ASSERT_TRUE(store_->put_tag({"docker.io", "library/alpine/sub", "x"}, record));
  // Other key families must not leak into the tag listing.
  ASSERT_TRUE(store_->put_pin("docker.io/library/alpine:3.19", {{}, 1}));
  ASSERT_TRUE(store_->put_manifest(digest_of("a"), {"t", 1}));
  auto all = store_->list_all_tags().value();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].key.registry, "docker.io");
  EXPECT_EQ(all[0].key.repository, "library/alpine");
  EXPECT_EQ(all[0].key.tag, "3.19");
  EXPECT_EQ(all[1].key.repository, "library/alpine/sub");
  EXPECT_EQ(all[2].key.registry, "quay.io");
  EXPECT_EQ(all[2].record.digest, record.digest);
}

TEST_P(MetadataPins, ApplyImportWritesManifestsTagsAndPins) {
  ImportBatch batch;
  batch.manifests.emplace_back(digest_of("m"),
                               ManifestRecord{"application/vnd.oci.image.index.v1+json", 99});
  batch.tags.push_back(
      {{"registry.k8s.io", "pause", "3.2"},
       {digest_of("m").str(), "application/vnd.oci.image.index.v1+json", 99, 5, 5}});
  batch.pins.emplace_back("registry.k8s.io/pause:3.2", PinRecord{{digest_of("m").str()}, 5});
  ASSERT_TRUE(store_->apply_import(batch));
  EXPECT_EQ(store_->get_manifest(digest_of("m")).value()->size, 99u);
  EXPECT_EQ(store_->get_tag({"registry.k8s.io", "pause", "3.2"}).value()->digest,
            digest_of("m").str());
  EXPECT_TRUE(store_->get_pin("registry.k8s.io/pause:3.2").value());
}

INSTANTIATE_TEST_SUITE_P(AllStores, MetadataPins, testing::every_metadata_store(),
                         testing::store_name);

TEST(MetadataCodec, PinAndBlobRecordsRejectGarbage) {
  EXPECT_FALSE(codec::decode_pin("not json"));
  EXPECT_FALSE(codec::decode_pin(R"({"digests":["sha256:nothex"],"pinned_at":1})"));
  EXPECT_FALSE(codec::decode_blob(R"({"size":-1,"last_access":1})"));
  auto pin = codec::decode_pin(codec::encode(PinRecord{{digest_of("x").str()}, 3}));
  ASSERT_TRUE(pin);
  EXPECT_EQ(pin->pinned_at, 3);
  auto key = codec::parse_tag_key(codec::tag_key({"docker.io", "library/alpine", "3.19"}));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->repository, "library/alpine");
  EXPECT_FALSE(codec::parse_tag_key(codec::pin_key("docker.io/x:1")));
}

TEST_P(MetadataPins, CorruptPinIsAnErrorNotAMiss) {
  // The codec refuses non-digests on decode; write one through the store to get such bytes.
  ASSERT_TRUE(store_->put_pin("bad", {{"sha256:not-a-digest"}, 1}));
  auto got = store_->get_pin("bad");
  if (std::string(GetParam().name) == "rocks") {
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), CacheErrc::kCorruptRecord);
    EXPECT_FALSE(store_->list_pins());
  }
}

}  // namespace
}  // namespace regmirror::cache
