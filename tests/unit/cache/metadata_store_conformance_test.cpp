// One suite for every MetadataStore implementation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "cache/cache_error.hpp"
#include "cache/memory_metadata_store.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "tests/unit/cache/metadata_store_fixture.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

class MetadataStoreConformance : public testing::MetadataStoreTest {};

TEST_P(MetadataStoreConformance, ManifestRecordsRoundTrip) {
  auto digest = digest_of("manifest");
  EXPECT_FALSE(store_->get_manifest(digest).value());
  ASSERT_TRUE(store_->put_manifest(digest, {"application/vnd.oci.image.index.v1+json", 321}));
  auto got = store_->get_manifest(digest).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->media_type, "application/vnd.oci.image.index.v1+json");
  EXPECT_EQ(got->size, 321u);
}

TEST_P(MetadataStoreConformance, TagsAreScopedByRegistryAndRepository) {
  TagRecord record{digest_of("a").str(), "application/vnd.oci.image.manifest.v1+json", 10, 100, 200};
  ASSERT_TRUE(store_->put_tag({"docker.io", "library/alpine", "3.19"}, record));
  ASSERT_TRUE(store_->put_tag({"docker.io", "library/alpine", "3.18"}, record));
  ASSERT_TRUE(store_->put_tag({"docker.io", "library/alpine/sub", "x"}, record));
  ASSERT_TRUE(store_->put_tag({"quay.io", "library/alpine", "other"}, record));
  auto got = store_->get_tag({"docker.io", "library/alpine", "3.19"}).value();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->digest, record.digest);
  EXPECT_EQ(got->validated_at, 200);
  EXPECT_FALSE(store_->get_tag({"quay.io", "library/alpine", "3.19"}).value());
  auto tags = store_->list_tags("docker.io", "library/alpine").value();
  EXPECT_EQ(tags, (std::vector<std::string>{"3.18", "3.19"}));
  ASSERT_TRUE(store_->delete_tag({"docker.io", "library/alpine", "3.18"}));
  EXPECT_EQ(store_->list_tags("docker.io", "library/alpine").value(),
            std::vector<std::string>{"3.19"});
}

INSTANTIATE_TEST_SUITE_P(AllStores, MetadataStoreConformance, testing::every_metadata_store(),
                         testing::store_name);

TEST(RocksMetadataStore, PersistsAcrossReopen) {
  auto dir = fs::temp_directory_path() / ("regmirror-rocks-" + std::to_string(std::random_device{}()));
  auto digest = digest_of("persist");
  {
    auto store = RocksMetadataStore::open_at(dir, nullptr);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->put_manifest(digest, {"t", 1}));
  }
  auto store = RocksMetadataStore::open_at(dir, nullptr);
  ASSERT_TRUE(store);
  EXPECT_TRUE((*store)->get_manifest(digest).value());
  fs::remove_all(dir);
}

TEST(RocksMetadataStore, UnopenableIndexIsReportedAndLeftAlone) {
  auto dir = fs::temp_directory_path() / ("regmirror-rocks-bad-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  // A CURRENT file naming a manifest that does not exist: RocksDB refuses to open.
  std::ofstream(dir / "CURRENT") << "MANIFEST-999999\n";
  std::string detail;
  auto store = RocksMetadataStore::open_at(dir, &detail);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error(), CacheErrc::kIndexUnavailable);
  EXPECT_FALSE(detail.empty());
  std::ifstream current(dir / "CURRENT");
  std::string line;
  std::getline(current, line);
  EXPECT_EQ(line, "MANIFEST-999999");  // never wiped
  fs::remove_all(dir);
}

TEST(RocksMetadataStore, CorruptRecordIsAnErrorNotAMiss) {
  auto dir = fs::temp_directory_path() / ("regmirror-rocks-c-" + std::to_string(std::random_device{}()));
  auto store = RocksMetadataStore::open_at(dir, nullptr);
  ASSERT_TRUE(store);
  TagKey key{"docker.io", "library/alpine", "bad"};
  TagRecord record{"sha256:not-a-digest", "t", 1, 1, 1};
  ASSERT_TRUE((*store)->put_tag(key, record));
  EXPECT_EQ((*store)->get_tag(key).error(), CacheErrc::kCorruptRecord);
  store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace regmirror::cache
