// The blob-record index every MetadataStore keeps for eviction: last-use order, running totals,
// paging by digest and of tags. Eviction and `cache ls` read only pages of these, so their cost
// does not grow with the cache; these tests pin the orders and the totals they rely on.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <functional>
#include <random>

#include "cache/memory_metadata_store.hpp"
#include "cache/metadata_codec.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "tests/unit/cache/metadata_store_fixture.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

class BlobIndex : public testing::MetadataStoreTest {
 protected:
  // Every record, oldest first, read `page` at a time.
  std::vector<std::string> lru_order(std::size_t page) {
    std::vector<std::string> out;
    std::optional<BlobAge> cursor;
    for (;;) {
      auto got = store_->oldest_blob_records(cursor, page).value();
      EXPECT_LE(got.size(), page);
      if (got.empty()) return out;
      for (const auto& [digest, record] : got) {
        out.push_back(digest.str());
        cursor = BlobAge{record.last_access, digest.str()};
      }
    }
  }
};

TEST_P(BlobIndex, OldestFirstAcrossPagesWithTiesByDigestAndTimesBeforeTheEpoch) {
  auto a = digest_of("a"), b = digest_of("b"), c = digest_of("c"), d = digest_of("d");
  ASSERT_TRUE(store_->put_blob_record(a, {10, 300}));
  ASSERT_TRUE(store_->put_blob_record(b, {20, -5}));  // a skewed clock: still ordered
  ASSERT_TRUE(store_->put_blob_record(c, {30, 300}));
  ASSERT_TRUE(store_->put_blob_record(d, {40, 1}));
  auto tie = std::min(a.str(), c.str()), other = std::max(a.str(), c.str());
  std::vector<std::string> want{b.str(), d.str(), tie, other};
  EXPECT_EQ(lru_order(1), want);
  EXPECT_EQ(lru_order(3), want);
  // A use moves a blob to the young end; an older time never moves it back.
  ASSERT_TRUE(store_->record_access({{b, 1000}, {d, 0}}));
  EXPECT_EQ(lru_order(2), (std::vector<std::string>{d.str(), tie, other, b.str()}));
  ASSERT_TRUE(store_->delete_blob_record(a));
  ASSERT_TRUE(store_->delete_blob_record(a));  // absent: not an error
  auto order = lru_order(10);
  EXPECT_EQ(order.size(), 3u);
  EXPECT_EQ(std::count(order.begin(), order.end(), a.str()), 0);
}

TEST_P(BlobIndex, TotalsFollowEveryKindOfWrite) {
  auto a = digest_of("a"), b = digest_of("b");
  EXPECT_EQ(store_->blob_usage().value().bytes, 0u);
  ASSERT_TRUE(store_->record_access({{a, 5}}));  // known only from an access: size 0
  EXPECT_EQ(store_->blob_usage().value().count, 1u);
  EXPECT_EQ(store_->blob_usage().value().bytes, 0u);
  ASSERT_TRUE(store_->record_committed(a, 1000, 3));  // committed: size known, time kept at 5
  EXPECT_EQ(store_->get_blob_record(a).value()->last_access, 5);
  ASSERT_TRUE(store_->record_committed(b, 24, 7));
  auto usage = store_->blob_usage().value();
  EXPECT_EQ(usage.bytes, 1024u);
  EXPECT_EQ(usage.count, 2u);
  ASSERT_TRUE(store_->put_blob_record(a, {500, 9}));  // overwrite: bytes move, count does not
  EXPECT_EQ(store_->blob_usage().value().bytes, 524u);
  EXPECT_EQ(store_->blob_usage().value().count, 2u);
  ASSERT_TRUE(store_->record_access({{a, 50}, {b, 60}}));
  EXPECT_EQ(store_->blob_usage().value().bytes, 524u);
  ASSERT_TRUE(store_->delete_blob_record(a));
  usage = store_->blob_usage().value();
  EXPECT_EQ(usage.bytes, 24u);
  EXPECT_EQ(usage.count, 1u);
  EXPECT_EQ(lru_order(5), (std::vector<std::string>{b.str()}));
}

TEST_P(BlobIndex, RecordsPageByDigestAndTagsPageInKeyOrder) {
  std::vector<std::string> digests;
  for (int i = 0; i < 25; ++i) {
    auto digest = digest_of("blob" + std::to_string(i));
    digests.push_back(digest.str());
    ASSERT_TRUE(store_->put_blob_record(digest, {1, i}));
  }
  std::sort(digests.begin(), digests.end());
  std::vector<std::string> paged;
  std::string after;
  for (;;) {
    auto page = store_->list_blob_records(after, 7).value();
    if (page.empty()) break;
    for (const auto& [digest, record] : page) paged.push_back(after = digest.str());
  }
  EXPECT_EQ(paged, digests);

  TagRecord record{digest_of("m").str(), "application/vnd.oci.image.manifest.v1+json", 1, 1, 1};
  std::vector<TagKey> keys{{"docker.io", "library/alpine", "3.19"},
                           {"docker.io", "library/alpine", "3.20"},
                           {"docker.io", "library/alpine/sub", "x"},
                           {"quay.io", "a", "1"},
                           {"registry.k8s.io", "pause", "3.9"}};
  for (const auto& key : keys) ASSERT_TRUE(store_->put_tag(key, record));
  std::vector<std::string> tags;
  std::optional<TagKey> cursor;
  for (;;) {
    auto page = store_->list_tag_entries(cursor, 2).value();
    if (page.empty()) break;
    for (const auto& entry : page) {
      tags.push_back(entry.key.registry + "/" + entry.key.repository + ":" + entry.key.tag);
      cursor = entry.key;
    }
  }
  EXPECT_EQ(tags, (std::vector<std::string>{"docker.io/library/alpine:3.19",
                                             "docker.io/library/alpine:3.20",
                                             "docker.io/library/alpine/sub:x", "quay.io/a:1",
                                             "registry.k8s.io/pause:3.9"}));
  // A cursor that names no stored tag still pages from its place in the order.
  auto from_gap = store_->list_tag_entries(TagKey{"docker.io", "library/alpine", "3.195"}, 10);
  ASSERT_TRUE(from_gap);
  EXPECT_EQ(from_gap->size(), 4u);
}

TEST_P(BlobIndex, RepositoryDigestsAreScopedByRegistryAndRepository) {
  auto layer = digest_of("layer");
  EXPECT_FALSE(store_->repository_has_digest("docker.io", "myorg/private", layer).value());
  ASSERT_TRUE(store_->record_repository_digests("docker.io", "myorg/private", {layer}));
  ASSERT_TRUE(store_->record_repository_digests("docker.io", "myorg/private", {layer}));  // again
  EXPECT_TRUE(store_->repository_has_digest("docker.io", "myorg/private", layer).value());
  EXPECT_FALSE(store_->repository_has_digest("docker.io", "library/alpine", layer).value());
  EXPECT_FALSE(store_->repository_has_digest("quay.io", "myorg/private", layer).value());
  // A prefix of the repository is another repository.
  EXPECT_FALSE(store_->repository_has_digest("docker.io", "myorg/priv", layer).value());
}

INSTANTIATE_TEST_SUITE_P(AllStores, BlobIndex, testing::every_metadata_store(),
                         testing::store_name);

class RocksBlobIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("regmirror-blobindex-rocks-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(RocksBlobIndex, TotalsAndOrderSurviveAReopen) {
  {
    auto store = RocksMetadataStore::open_at(dir_, nullptr).value();
    ASSERT_TRUE(store->record_committed(digest_of("x"), 100, 2));
    ASSERT_TRUE(store->record_committed(digest_of("y"), 50, 1));
  }
  auto store = RocksMetadataStore::open_at(dir_, nullptr).value();
  auto usage = store->blob_usage().value();
  EXPECT_EQ(usage.bytes, 150u);
  EXPECT_EQ(usage.count, 2u);
  auto oldest = store->oldest_blob_records(std::nullopt, 1).value();
  ASSERT_EQ(oldest.size(), 1u);
  EXPECT_EQ(oldest[0].first, digest_of("y"));
}

TEST_F(RocksBlobIndex, AnIndexFromBeforeTheAgeOrderGetsItAtOpen) {
  // What an older regmirror wrote: blob records only, no age keys, no totals.
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (int i = 0; i < 30; ++i) {
      auto digest = digest_of("old" + std::to_string(i));
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), codec::blob_key(digest),
                          codec::encode(BlobRecord{static_cast<std::uint64_t>(i), 100 - i}))
                      .ok());
    }
    // An undecodable record is left alone (reported on read), not counted.
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), codec::blob_key(digest_of("bad")), "garbage").ok());
  }
  auto store = RocksMetadataStore::open_at(dir_, nullptr).value();
  auto usage = store->blob_usage().value();
  EXPECT_EQ(usage.count, 30u);
  EXPECT_EQ(usage.bytes, 435u);  // 0 + 1 + ... + 29
  auto oldest = store->oldest_blob_records(std::nullopt, 2).value();
  ASSERT_EQ(oldest.size(), 2u);
  EXPECT_EQ(oldest[0].first, digest_of("old29"));  // last_access 71, the oldest
  EXPECT_EQ(oldest[1].first, digest_of("old28"));
  EXPECT_FALSE(store->get_blob_record(digest_of("bad")));
}

TEST(BlobAgeKey, SortsByTimeAndRoundTrips) {
  EXPECT_LT(codec::age_key(-1, "sha256:z"), codec::age_key(0, "sha256:a"));
  EXPECT_LT(codec::age_key(255, "sha256:z"), codec::age_key(256, "sha256:a"));
  auto age = codec::parse_age_key(codec::age_key(-42, "sha256:abc"));
  ASSERT_TRUE(age);
  EXPECT_EQ(age->last_access, -42);
  EXPECT_EQ(age->digest, "sha256:abc");
  EXPECT_FALSE(codec::parse_age_key(codec::blob_key(digest_of("x"))));
  EXPECT_FALSE(codec::parse_age_key("a"));
}

}  // namespace
}  // namespace regmirror::cache
