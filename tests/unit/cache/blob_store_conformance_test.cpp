// One suite for every BlobStore implementation: the contract in cache/blob_store.hpp.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "cache/cache_error.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/memory_blob_store.hpp"
#include "tests/unit/cache/blob_store_conformance.hpp"

namespace regmirror::cache::testing {

std::vector<StoreFactory>& added_blob_stores() {
  static std::vector<StoreFactory> added;
  return added;
}

bool add_blob_store(StoreFactory factory) {
  added_blob_stores().push_back(std::move(factory));
  return true;
}

std::vector<StoreFactory> every_blob_store() {
  std::vector<StoreFactory> all{
      {"fs",
       [](const std::filesystem::path& dir) -> std::unique_ptr<BlobStore> {
         auto store = FsBlobStore::open_at(dir);
         return store ? std::move(*store) : nullptr;
       }},
      {"memory",
       [](const std::filesystem::path&) -> std::unique_ptr<BlobStore> {
         return std::make_unique<MemoryBlobStore>();
       }}};
  all.insert(all.end(), added_blob_stores().begin(), added_blob_stores().end());
  return all;
}

namespace {

namespace fs = std::filesystem;

TEST_P(BlobStoreConformance, CommittedBlobIsReadable) {
  const std::string content = "layer bytes";
  auto digest = digest_of(content);
  EXPECT_EQ(store_->stat(digest).error(), CacheErrc::kNotFound);
  auto writer = store_->begin_write(digest, content.size());
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write(bytes_of(content)));
  // Not visible before commit.
  EXPECT_EQ(store_->open(digest).error(), CacheErrc::kNotFound);
  ASSERT_TRUE((*writer)->commit());
  auto reader = store_->open(digest);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->size(), content.size());
  EXPECT_EQ(read_all(**reader), content);
  EXPECT_EQ(store_->stat(digest)->size, content.size());
}

TEST_P(BlobStoreConformance, WrongBytesAreNeverVisible) {
  auto digest = digest_of("the real content");
  auto writer = store_->begin_write(digest, std::nullopt);
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write(bytes_of("evil content....")));
  EXPECT_EQ((*writer)->commit().error(), CacheErrc::kDigestMismatch);
  EXPECT_EQ(store_->open(digest).error(), CacheErrc::kNotFound);
}

TEST_P(BlobStoreConformance, SizeIsEnforced) {
  const std::string content = "12345";
  auto digest = digest_of(content);
  auto short_writer = store_->begin_write(digest, 6);
  ASSERT_TRUE((*short_writer)->write(bytes_of(content)));
  EXPECT_EQ((*short_writer)->commit().error(), CacheErrc::kSizeMismatch);
  auto long_writer = store_->begin_write(digest, 4);
  EXPECT_EQ((*long_writer)->write(bytes_of(content)).error(), CacheErrc::kSizeMismatch);
  EXPECT_EQ(store_->open(digest).error(), CacheErrc::kNotFound);
}

TEST_P(BlobStoreConformance, AbandonedWriterLeavesNothing) {
  auto digest = digest_of("abandoned");
  {
    auto writer = store_->begin_write(digest, std::nullopt);
    ASSERT_TRUE((*writer)->write(bytes_of("aband")));
  }  // destroyed without commit
  EXPECT_EQ(store_->open(digest).error(), CacheErrc::kNotFound);
  std::size_t blobs = 0;
  ASSERT_TRUE(store_->for_each([&](const Digest&, const BlobInfo&) { ++blobs; }));
  EXPECT_EQ(blobs, 0u);
}

TEST_P(BlobStoreConformance, PartialBytesAreReadableWhileWriting) {
  const std::string content(200000, 'x');
  auto digest = digest_of(content);
  auto writer = store_->begin_write(digest, content.size());
  ASSERT_TRUE((*writer)->write(bytes_of(content.substr(0, 1000))));
  EXPECT_EQ((*writer)->bytes_written(), 1000u);
  std::string out(2000, '\0');
  auto n = (*writer)->read_at(0, std::as_writable_bytes(std::span(out.data(), out.size())));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1000u);
  ASSERT_TRUE((*writer)->write(bytes_of(content.substr(1000))));
  ASSERT_TRUE((*writer)->commit());
}

TEST_P(BlobStoreConformance, ReadersSurviveRemoval) {
  const std::string content = "still readable";
  auto digest = digest_of(content);
  auto writer = store_->begin_write(digest, content.size());
  ASSERT_TRUE((*writer)->write(bytes_of(content)));
  ASSERT_TRUE((*writer)->commit());
  auto reader = store_->open(digest);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(store_->remove(digest));
  EXPECT_EQ(read_all(**reader), content);
  EXPECT_EQ(store_->remove(digest).error(), CacheErrc::kNotFound);
}

TEST_P(BlobStoreConformance, ConcurrentWritersOfOneDigestAllSucceed) {
  const std::string content(100000, 'z');
  auto digest = digest_of(content);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto writer = store_->begin_write(digest, content.size());
      if (writer && (*writer)->write(bytes_of(content)) && (*writer)->commit()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(read_all(**store_->open(digest)), content);
}

INSTANTIATE_TEST_SUITE_P(AllStores, BlobStoreConformance, ::testing::ValuesIn(every_blob_store()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FsBlobStore, StartupRemovesLeftoverTempFiles) {
  auto dir = fs::temp_directory_path() / ("regmirror-tmp-" + std::to_string(std::random_device{}()));
  {
    auto store = FsBlobStore::open_at(dir);
    ASSERT_TRUE(store);
    auto writer = (*store)->begin_write(digest_of("x"), std::nullopt);
    ASSERT_TRUE((*writer)->write(bytes_of("x")));
    // Simulate a crash: the temp file stays because the process never got to abort.
    std::ofstream(dir / "tmp" / "crashed.partial") << "partial";
  }
  auto reopened = FsBlobStore::open_at(dir);
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->removed_temp_files(), 1u);
  EXPECT_TRUE(fs::is_empty(dir / "tmp"));
  fs::remove_all(dir);
}

TEST(FsBlobStore, LayoutIsContentAddressed) {
  auto dir = fs::temp_directory_path() / ("regmirror-layout-" + std::to_string(std::random_device{}()));
  auto store = FsBlobStore::open_at(dir);
  ASSERT_TRUE(store);
  auto digest = digest_of("abc");
  auto writer = (*store)->begin_write(digest, 3);
  ASSERT_TRUE((*writer)->write(bytes_of("abc")));
  ASSERT_TRUE((*writer)->commit());
  EXPECT_TRUE(fs::exists(dir / "blobs" / "sha256" / "ba" /
                         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace regmirror::cache::testing
