#include "proxy/registry/write_behind.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "cache/memory_blob_store.hpp"
#include "proxy/registry/blob_download.hpp"
#include "proxy/upstream/upstream_client.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 131) % 251);
  return out;
}

std::span<const std::byte> bytes(const std::string& s, std::size_t from, std::size_t n) {
  return std::as_bytes(std::span(s.data() + from, n));
}

bool drained(WriteBehind& body) {
  asio::io_context io;
  bool ok = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { ok = co_await body.drained(); }, asio::detached);
  io.run();
  return ok;
}

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(WriteBehind, PausesPastTheLimitResumesBelowHalfAndWritesEveryByteInOrder) {
  cache::MemoryBlobStore store;
  const auto content = pattern(6 << 20);
  const auto digest = cache::digest_of(content);
  auto download = std::make_shared<BlobDownload>(digest);
  asio::thread_pool pool(1);
  // Hold the pool's only thread: nothing drains until released, so the queue must fill.
  std::promise<void> release;
  auto held = release.get_future().share();
  asio::post(pool, [held] { held.wait(); });
  auto body = std::make_shared<WriteBehind>(download, pool, 1 << 20);
  upstream::StreamSink sink;
  std::atomic<int> resumes{0};
  sink.resume = [&] { ++resumes; };
  body->bind(&sink);
  body->begin(content.size(), [&] { return store.begin_write(digest, content.size()); });

  int pauses = 0;
  std::size_t offset = 0;
  while (offset < content.size()) {
    const auto n = std::min<std::size_t>(64 * 1024, content.size() - offset);
    auto action = body->accept(bytes(content, offset, n));
    if (action == upstream::SinkAction::kPause) {
      ++pauses;
      if (pauses == 1) release.set_value();
      ASSERT_TRUE(eventually([&] { return resumes >= pauses; })) << "never resumed";
      continue;  // libcurl offers the same chunk again
    }
    ASSERT_EQ(action, upstream::SinkAction::kContinue);
    offset += n;
  }
  EXPECT_GT(pauses, 0);
  EXPECT_EQ(body->accepted(), content.size());
  ASSERT_TRUE(drained(*body));
  download->finish();
  EXPECT_EQ(download->status().state, BlobDownload::State::kComplete);
  auto reader = store.open(digest);
  ASSERT_TRUE(reader);
  EXPECT_EQ((*reader)->size(), content.size());
}

TEST(WriteBehind, SkipsTheBytesOfABodyThatRestartedFromZero) {
  cache::MemoryBlobStore store;
  const auto content = pattern(300000);
  const auto digest = cache::digest_of(content);
  auto download = std::make_shared<BlobDownload>(digest);
  asio::thread_pool pool(1);
  auto body = std::make_shared<WriteBehind>(download, pool);
  body->begin(content.size(), [&] { return store.begin_write(digest, content.size()); });
  ASSERT_EQ(body->accept(bytes(content, 0, 100000)), upstream::SinkAction::kContinue);
  // The upstream broke; the next one ignored the Range request and sends it all again.
  body->skip_next(100000);
  for (std::size_t offset = 0; offset < content.size(); offset += 50000) {
    ASSERT_EQ(body->accept(bytes(content, offset, 50000)), upstream::SinkAction::kContinue);
  }
  EXPECT_EQ(body->accepted(), content.size());
  ASSERT_TRUE(drained(*body));
  download->finish();
  EXPECT_EQ(download->status().state, BlobDownload::State::kComplete);
}

TEST(WriteBehind, AWriterThatCannotOpenFailsTheDownloadAndAbortsTheTransfer) {
  const auto content = pattern(1000);
  const auto digest = cache::digest_of(content);
  auto download = std::make_shared<BlobDownload>(digest);
  asio::thread_pool pool(1);
  auto body = std::make_shared<WriteBehind>(download, pool);
  body->begin(content.size(), [] {
    return cache::Result<std::unique_ptr<cache::BlobWriter>>(
        boost::system::errc::make_error_code(boost::system::errc::no_space_on_device));
  });
  EXPECT_FALSE(drained(*body));
  EXPECT_EQ(download->status().state, BlobDownload::State::kFailed);
  EXPECT_NE(download->status().message.find(digest.str()), std::string::npos);
  EXPECT_EQ(body->accept(bytes(content, 0, 10)), upstream::SinkAction::kAbort);
}

// Small chunks (a slow upstream) are written in batches: a drain job starts once 128 KiB wait
// or the oldest waiting byte is 100 ms old, not per chunk.
TEST(WriteBehind, SmallChunksAreWrittenInBatchesBySizeOrAge) {
  cache::MemoryBlobStore store;
  const auto content = pattern(std::size_t{256} * 1024);
  const auto digest = cache::digest_of(content);
  auto download = std::make_shared<BlobDownload>(digest);
  asio::thread_pool pool(1);
  auto body = std::make_shared<WriteBehind>(download, pool);
  body->begin(content.size(), [&] { return store.begin_write(digest, content.size()); });
  ASSERT_TRUE(
      eventually([&] { return download->status().state == BlobDownload::State::kStreaming; }));
  constexpr std::size_t kChunk = 4096;
  auto written = [&] { return download->status().written; };

  // Four chunks at once: below both thresholds, nothing is written yet.
  const auto first = std::chrono::steady_clock::now();
  std::size_t offset = 0;
  for (int i = 0; i < 4; ++i, offset += kChunk)
    ASSERT_EQ(body->accept(bytes(content, offset, kChunk)), upstream::SinkAction::kContinue);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Only meaningful when this thread was not held up past the age limit itself.
  if (std::chrono::steady_clock::now() - first < std::chrono::milliseconds(90)) {
    EXPECT_EQ(written(), 0U);
  }

  // By age: the next chunk, once the first is over 100 ms old, starts a job for all five.
  std::this_thread::sleep_for(std::chrono::milliseconds(110));
  ASSERT_EQ(body->accept(bytes(content, offset, kChunk)), upstream::SinkAction::kContinue);
  offset += kChunk;
  ASSERT_TRUE(eventually([&] { return written() == offset; })) << written();

  // By size: up to 128 KiB waiting starts a job without any wait.
  const auto before = offset;
  while (offset - before < std::size_t{128} * 1024) {
    ASSERT_EQ(body->accept(bytes(content, offset, kChunk)), upstream::SinkAction::kContinue);
    offset += kChunk;
  }
  ASSERT_TRUE(eventually([&] { return written() >= before + std::size_t{128} * 1024; }))
      << written();

  // The end of the hop (drained) writes what is left, however little.
  while (offset < content.size()) {
    ASSERT_EQ(body->accept(bytes(content, offset,
                                 1000 < content.size() - offset ? 1000 : content.size() - offset)),
              upstream::SinkAction::kContinue);
    offset += std::min<std::size_t>(1000, content.size() - offset);
  }
  ASSERT_TRUE(drained(*body));
  EXPECT_EQ(written(), content.size());
  download->finish();
  EXPECT_EQ(download->status().state, BlobDownload::State::kComplete);
}

}  // namespace
}  // namespace regmirror::proxy::registry
