#include "proxy/registry/write_behind.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/registry/blob_download.hpp"
#include "proxy/upstream/upstream_client.hpp"

namespace regmirror::proxy::registry {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kBlock = 1 << 20;  // queue blocks: one allocation per MiB, not per chunk
// A drain job is started once this much waits, or the oldest waiting byte is this old (or the
// hop ends: drained()). Scheduling one per chunk woke a pool thread and then a network thread
// for every few KiB: with 500 slow transfers, context switches were 40% of the mirror's CPU.
constexpr std::size_t kDrainBytes = std::size_t{128} * 1024;
constexpr auto kDrainAge = std::chrono::milliseconds(100);
}  // namespace

WriteBehind::WriteBehind(std::shared_ptr<BlobDownload> download, asio::thread_pool& pool,
                         std::size_t max_queued)
    : download_(std::move(download)), pool_(pool), max_queued_(max_queued) {}

void WriteBehind::begin(std::optional<std::uint64_t> total, Open open) {
  std::lock_guard lock(mutex_);
  if (begun_) return;
  begun_ = true;
  total_ = total;
  open_ = std::move(open);
  schedule_locked();  // opens the writer even for an empty body
}

bool WriteBehind::begun() const {
  std::lock_guard lock(mutex_);
  return begun_;
}

std::optional<std::uint64_t> WriteBehind::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

void WriteBehind::skip_next(std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  skip_ = bytes;
}

std::uint64_t WriteBehind::accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

void WriteBehind::bind(upstream::StreamSink* sink) {
  std::lock_guard lock(mutex_);
  sink_ = sink;
  paused_ = false;
}

upstream::SinkAction WriteBehind::accept(std::span<const std::byte> data) {
  std::lock_guard lock(mutex_);
  if (failed_) return upstream::SinkAction::kAbort;
  if (skip_ > 0) {
    auto dropped = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, data.size()));
    skip_ -= dropped;
    data = data.subspan(dropped);
    if (data.empty()) return upstream::SinkAction::kContinue;
  }
  if (queued_ + data.size() > max_queued_ && queued_ > 0) {
    paused_ = true;  // libcurl hands this same chunk again after resume()
    return upstream::SinkAction::kPause;
  }
  std::size_t left = data.size();
  const std::byte* from = data.data();
  while (left > 0) {
    if (queue_.empty() || queue_.back().size() == queue_.back().capacity()) {
      queue_.emplace_back();
      queue_.back().reserve(std::max(kBlock, left));
    }
    auto& block = queue_.back();
    std::size_t n = std::min(left, block.capacity() - block.size());
    block.insert(block.end(), from, from + n);
    from += n;
    left -= n;
  }
  auto now = std::chrono::steady_clock::now();
  if (!draining_ && queued_ == 0) waiting_since_ = now;
  queued_ += data.size();
  accepted_ += data.size();
  if (draining_) return upstream::SinkAction::kContinue;  // the running job takes it too
  if (!opened_ || queued_ >= kDrainBytes || now - waiting_since_ >= kDrainAge) schedule_locked();
  return upstream::SinkAction::kContinue;
}

void WriteBehind::schedule_locked() {
  if (draining_) return;
  draining_ = true;
  asio::post(pool_, [self = shared_from_this()] { self->drain(); });
}

void WriteBehind::drain() {
  for (;;) {
    enum class Step { kOpen, kWrite, kIdle };
    Step step = Step::kIdle;
    std::vector<std::byte> block;
    Open open;
    std::optional<std::uint64_t> total;
    std::function<void()> resume;
    {
      std::lock_guard lock(mutex_);
      if (!failed_ && !opened_) {
        step = Step::kOpen;
        open = open_;
        total = total_;
      } else if (!failed_ && !queue_.empty()) {
        step = Step::kWrite;
        block = std::move(queue_.front());
        queue_.pop_front();
      } else {
        draining_ = false;
        // A failed download resumes its transfer too, so that the hop can end (kAbort).
        if (paused_ && sink_ != nullptr && sink_->resume) {
          paused_ = false;
          resume = sink_->resume;
        }
        // Woken under the lock: a waiter that saw the drained state has nothing left in flight
        // that could touch its executor or timer after it returned.
        for (auto& waiter : idle_waiters_) waiter.wake();
        idle_waiters_.clear();
      }
    }
    switch (step) {
      case Step::kIdle:
        if (resume) resume();
        return;
      case Step::kOpen: {
        auto writer = open();
        if (!writer) {
          download_->fail(OciError::kInternal, "cannot create cache file for " +
                                                   download_->digest().str() + ": " +
                                                   writer.error().message());
          std::lock_guard lock(mutex_);
          failed_ = true;
          queue_.clear();
          queued_ = 0;
        } else {
          download_->begin_streaming(std::move(*writer), total);
          std::lock_guard lock(mutex_);
          opened_ = true;
        }
        break;
      }
      case Step::kWrite: {
        const bool ok = download_->append(block);  // fails the download itself on error
        {
          std::lock_guard lock(mutex_);
          queued_ -= block.size();
          if (!ok) {
            failed_ = true;
            queue_.clear();
            queued_ = 0;
          }
          if (paused_ && queued_ <= max_queued_ / 2 && sink_ != nullptr && sink_->resume) {
            paused_ = false;
            resume = sink_->resume;
          }
        }
        if (resume) resume();  // only posts to the transfer thread
        break;
      }
    }
  }
}

asio::awaitable<bool> WriteBehind::drained() {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor);
  const std::weak_ptr<asio::steady_timer> weak = timer;
  // Forgets this coroutine's waiter before it returns, so that a later drain job cannot post to
  // an executor (or keep a timer) that may be gone by then.
  auto forget = [&] {
    std::erase_if(idle_waiters_, [&](const IdleWaiter& w) { return w.owner == timer.get(); });
  };
  for (;;) {
    timer->expires_after(std::chrono::seconds(30));
    {
      std::lock_guard lock(mutex_);
      if (!begun_ || failed_) {
        forget();
        co_return false;
      }
      if (opened_ && !draining_ && queue_.empty()) {
        forget();
        co_return true;
      }
      forget();
      // The posted handler holds the timer weakly: it may run after this coroutine ended.
      idle_waiters_.push_back({timer.get(), [executor, weak] {
                                 asio::post(executor, [weak] {
                                   if (auto t = weak.lock()) t->cancel();
                                 });
                               }});
      if (!draining_) schedule_locked();
    }
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace regmirror::proxy::registry
