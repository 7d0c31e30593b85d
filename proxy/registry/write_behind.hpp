#pragma once
// Between an upstream transfer and a BlobDownload's writer. The transfer's chunks arrive on the
// transfer thread, which must never block; the writer writes to disk (and, with S3, into a
// multipart upload) and may. So chunks go into a bounded queue that one job at a time drains
// on the disk pool; past `max_queued` bytes the transfer is paused (SinkAction::kPause) until
// the queue is below half of it. A job starts once 128 KiB wait or the oldest is 100 ms old
// (and at the end of each hop), not per chunk. Clients following the download see only bytes
// written.
//
// Thread-safety: accept() and begin() on the transfer thread; the rest from the download's
// coroutine; the drain job on the pool.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "cache/blob_store.hpp"
#include "proxy/upstream/http_exchange.hpp"

namespace regmirror::proxy::upstream {
struct StreamSink;
}

namespace regmirror::proxy::registry {

class BlobDownload;

class WriteBehind : public std::enable_shared_from_this<WriteBehind> {
 public:
  // Creates the writer (begin_write on the right store); runs on the pool.
  using Open = std::function<cache::Result<std::unique_ptr<cache::BlobWriter>>()>;

  WriteBehind(std::shared_ptr<BlobDownload> download, boost::asio::thread_pool& pool,
              std::size_t max_queued = 8 << 20);

  // The body starts (once, on the first 200): the blob's size when known, how to open the
  // writer. Opening happens on the pool; the download becomes kStreaming then.
  void begin(std::optional<std::uint64_t> total, Open open);
  bool begun() const;
  std::optional<std::uint64_t> total() const;

  // Takes a chunk of the body. The first `skip` bytes of a body that restarted from zero (an
  // upstream that answered a Range request with 200) are dropped: they were taken already.
  upstream::SinkAction accept(std::span<const std::byte> data);
  void skip_next(std::uint64_t bytes);
  // Bytes taken so far: where a broken transfer continues.
  std::uint64_t accepted() const;

  // The hop in progress, whose `resume` un-pauses it; null between hops.
  void bind(upstream::StreamSink* sink);

  // Waits until every byte taken is written. False when a write failed (the download is then
  // failed with the reason) or nothing was begun.
  boost::asio::awaitable<bool> drained();

 private:
  void schedule_locked();
  void drain();

  std::shared_ptr<BlobDownload> download_;
  boost::asio::thread_pool& pool_;
  const std::size_t max_queued_;

  mutable std::mutex mutex_;
  bool begun_ = false;
  bool opened_ = false;
  bool failed_ = false;
  bool draining_ = false;
  bool paused_ = false;
  std::optional<std::uint64_t> total_;
  Open open_;
  std::deque<std::vector<std::byte>> queue_;
  std::size_t queued_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t skip_ = 0;
  std::chrono::steady_clock::time_point waiting_since_;  // first byte no job is draining yet
  upstream::StreamSink* sink_ = nullptr;
  struct IdleWaiter {
    const void* owner;  // the waiting coroutine's timer, to forget it when that one returns
    std::function<void()> wake;
  };
  std::vector<IdleWaiter> idle_waiters_;
};

}  // namespace regmirror::proxy::registry
