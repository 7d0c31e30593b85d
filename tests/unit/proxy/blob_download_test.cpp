#include "proxy/registry/blob_download.hpp"

#include <gtest/gtest.h>

#include "cache/memory_blob_store.hpp"

namespace regmirror::proxy::registry {
namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

TEST(BlobDownload, WithholdsTheLastByteUntilVerified) {
  cache::MemoryBlobStore store;
  const std::string content = "0123456789";
  auto digest = cache::digest_of(content);
  BlobDownload download(digest);
  EXPECT_EQ(download.status().releasable(), 0u);
  download.begin_streaming(std::move(*store.begin_write(digest, content.size())), content.size());
  ASSERT_TRUE(download.append(bytes_of(content)));
  auto streaming = download.status();
  EXPECT_EQ(streaming.written, 10u);
  EXPECT_EQ(streaming.releasable(), 9u);
  download.finish();
  auto done = download.status();
  EXPECT_EQ(done.state, BlobDownload::State::kComplete);
  EXPECT_EQ(done.releasable(), 10u);
  EXPECT_TRUE(store.open(digest));
}

TEST(BlobDownload, WrongBytesFailAndAreNotCached) {
  cache::MemoryBlobStore store;
  auto digest = cache::digest_of("good bytes");
  BlobDownload download(digest);
  int wakes = 0;
  download.on_progress([&] { ++wakes; });
  download.begin_streaming(std::move(*store.begin_write(digest, 10)), 10);
  ASSERT_TRUE(download.append(bytes_of("evil bytes")));
  download.finish();
  auto status = download.status();
  EXPECT_EQ(status.state, BlobDownload::State::kFailed);
  EXPECT_EQ(status.error, OciError::kUpstreamInvalid);
  EXPECT_EQ(status.releasable(), 9u);  // never the full body
  EXPECT_FALSE(store.open(digest));
  EXPECT_EQ(wakes, 1);  // one-shot waiter
}

TEST(BlobDownload, OversizedUpstreamBodyFails) {
  cache::MemoryBlobStore store;
  auto digest = cache::digest_of("abc");
  BlobDownload download(digest);
  download.begin_streaming(std::move(*store.begin_write(digest, 3)), 3);
  EXPECT_FALSE(download.append(bytes_of("abcdef")));
  EXPECT_EQ(download.status().state, BlobDownload::State::kFailed);
}

}  // namespace
}  // namespace regmirror::proxy::registry
