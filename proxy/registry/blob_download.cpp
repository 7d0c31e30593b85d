#include "proxy/registry/blob_download.hpp"

#include "cache/cache_error.hpp"

namespace regmirror::proxy::registry {

BlobDownload::Status BlobDownload::status() const {
  std::lock_guard lock(mutex_);
  auto out = status_;
  if (writer_) out.written = writer_->bytes_written();
  return out;
}

int BlobDownload::native_fd() const {
  std::lock_guard lock(mutex_);
  return writer_ ? writer_->native_fd() : -1;
}

cache::Result<std::size_t> BlobDownload::read_at(std::uint64_t offset,
                                                 std::span<std::byte> out) const {
  cache::BlobWriter* writer = nullptr;
  {
    std::lock_guard lock(mutex_);
    writer = writer_.get();
  }
  if (writer == nullptr) return std::size_t{0};
  return writer->read_at(offset, out);  // the writer lives as long as this object
}

void BlobDownload::on_progress(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  waiters_.push_back(std::move(wake));
  has_waiters_.store(true, std::memory_order_release);
}

void BlobDownload::notify() {
  if (!has_waiters_.load(std::memory_order_acquire)) return;
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    waiters.swap(waiters_);
    has_waiters_.store(false, std::memory_order_release);
  }
  for (auto& wake : waiters) wake();
}

void BlobDownload::begin_streaming(std::unique_ptr<cache::BlobWriter> writer,
                                   std::optional<std::uint64_t> total) {
  {
    std::lock_guard lock(mutex_);
    writer_ = std::move(writer);
    status_.total = total;
    status_.state = State::kStreaming;
  }
  notify();
}

bool BlobDownload::started() const {
  std::lock_guard lock(mutex_);
  return status_.state != State::kStarting;
}

bool BlobDownload::append(std::span<const std::byte> data) {
  // Only the download job writes, so writer_ is stable here without the lock.
  auto written = writer_->write(data);
  if (!written) {
    fail(written.error() == cache::CacheErrc::kSizeMismatch ? OciError::kUpstreamInvalid
                                                             : OciError::kInternal,
         "cannot cache blob " + digest_.str() + ": " + written.error().message());
    return false;
  }
  notify();
  return true;
}

void BlobDownload::finish() {
  {
    std::lock_guard lock(mutex_);
    if (status_.state != State::kStreaming || !writer_) return;  // already failed
  }
  auto committed = writer_->commit();
  {
    std::lock_guard lock(mutex_);
    if (committed) {
      status_.state = State::kComplete;
      status_.total = writer_->bytes_written();
    } else {
      status_.state = State::kFailed;
      bool bad_bytes = committed.error() == cache::CacheErrc::kDigestMismatch ||
                       committed.error() == cache::CacheErrc::kSizeMismatch;
      status_.error = bad_bytes ? OciError::kUpstreamInvalid : OciError::kInternal;
      status_.message = "blob " + digest_.str() + " not cached: " + committed.error().message();
    }
  }
  notify();
}

void BlobDownload::fail(OciError error, std::string message, std::string retry_after) {
  {
    std::lock_guard lock(mutex_);
    if (status_.state == State::kFailed || status_.state == State::kComplete) return;
    status_.state = State::kFailed;
    status_.error = error;
    status_.message = std::move(message);
    status_.retry_after = std::move(retry_after);
    if (writer_) writer_->abort();
  }
  notify();
}

}  // namespace regmirror::proxy::registry
