#include "proxy/s3/s3_blob_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cache/cache_error.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/s3/object_upload.hpp"

namespace regmirror::proxy::s3 {
namespace {

namespace fs = std::filesystem;

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

// An unlinked temp file: nothing is left behind by a crash.
int open_spool(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT)) return fd;
  std::string path = (dir / "spool.XXXXXX").string();
  fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(path.c_str());
  return fd;
}

// Bytes in a spool file, hashed as they arrive; commit() only verifies (the S3 writer and the
// plain-store reader decide what "visible" means).
class SpoolWriter final : public cache::BlobWriter {
 public:
  SpoolWriter(int fd, cache::Digest expected, std::optional<std::uint64_t> expected_size)
      : fd_(fd), expected_(std::move(expected)), expected_size_(expected_size),
        hasher_(expected_.algorithm()) {}
  ~SpoolWriter() override { ::close(fd_); }

  cache::Result<void> write(std::span<const std::byte> data) override {
    if (finished_) return cache::CacheErrc::kAlreadyFinished;
    auto written = written_.load(std::memory_order_relaxed);
    if (expected_size_ && written + data.size() > *expected_size_) {
      return cache::CacheErrc::kSizeMismatch;
    }
    hasher_.update(data);
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(written));
      if (n < 0) {
        if (errno == EINTR) continue;
        return last_errno();
      }
      data = data.subspan(static_cast<std::size_t>(n));
      written += static_cast<std::uint64_t>(n);
    }
    written_.store(written, std::memory_order_release);
    return {};
  }
  std::uint64_t bytes_written() const override { return written_.load(std::memory_order_acquire); }
  cache::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    auto available = bytes_written();
    if (offset >= available) return std::size_t{0};
    if (out.size() > available - offset) out = out.first(available - offset);
    while (true) {
      ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return last_errno();
    }
  }
  int native_fd() const override { return fd_; }
  cache::Result<void> commit() override {
    if (finished_) return cache::CacheErrc::kAlreadyFinished;
    finished_ = true;
    if (expected_size_ && bytes_written() != *expected_size_) return cache::CacheErrc::kSizeMismatch;
    if (hasher_.finish() != expected_) return cache::CacheErrc::kDigestMismatch;
    return {};
  }
  void abort() override { finished_ = true; }

 private:
  int fd_;
  cache::Digest expected_;
  std::optional<std::uint64_t> expected_size_;
  cache::DigestHasher hasher_;
  std::atomic<std::uint64_t> written_{0};
  bool finished_ = false;
};

// Spool for read_at + multipart upload; the object appears only after the digest matched.
class S3BlobWriter final : public cache::BlobWriter {
 public:
  S3BlobWriter(std::unique_ptr<SpoolWriter> spool, std::unique_ptr<ObjectUpload> upload)
      : spool_(std::move(spool)), upload_(std::move(upload)) {}
  ~S3BlobWriter() override {
    if (!finished_) abort();
  }

  cache::Result<void> write(std::span<const std::byte> data) override {
    if (finished_) return cache::CacheErrc::kAlreadyFinished;
    if (auto spooled = spool_->write(data); !spooled) return spooled;
    if (auto sent = upload_->write(data); !sent) return to_cache_error(sent.error());
    return {};
  }
  std::uint64_t bytes_written() const override { return spool_->bytes_written(); }
  cache::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    return spool_->read_at(offset, out);
  }
  int native_fd() const override { return spool_->native_fd(); }
  cache::Result<void> commit() override {
    if (finished_) return cache::CacheErrc::kAlreadyFinished;
    finished_ = true;
    if (auto verified = spool_->commit(); !verified) {
      upload_->abort();
      return verified;
    }
    if (auto done = upload_->complete(); !done) return to_cache_error(done.error());
    return {};
  }
  void abort() override {
    if (finished_) return;
    finished_ = true;
    spool_->abort();
    upload_->abort();
  }

 private:
  std::unique_ptr<SpoolWriter> spool_;
  std::unique_ptr<ObjectUpload> upload_;
  bool finished_ = false;
};

// One streaming GET on its own thread into a sink writer; read_at() waits for the bytes.
class BucketReader final : public cache::BlobReader {
 public:
  BucketReader(S3Client& client, std::string key, S3BlobStore::SinkFactory make_sink)
      : client_(client), key_(std::move(key)), make_sink_(std::move(make_sink)) {}

  ~BucketReader() override {
    cancelled_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // Starts the GET and waits for its headers: kNotFound, an error, or ready to read.
  cache::Result<void> start() {
    thread_ = std::thread([this] { run(); });
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return writer_ != nullptr || done_; });
    if (writer_ == nullptr) return error_ ? error_ : cache::CacheErrc::kNotFound;
    return {};
  }

  std::uint64_t size() const override { return size_; }
  int native_fd() const override { return -1; }  // bytes arrive over time: no sendfile

  cache::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= size_ || out.empty()) return std::size_t{0};
    std::unique_lock lock(mutex_);
    // The last byte waits for the digest check: never a complete body of wrong bytes.
    changed_.wait(lock, [&] {
      auto written = writer_->bytes_written();
      return done_ || (written == size_ ? size_ - 1 : written) > offset;
    });
    if (done_ && !verified_) return error_ ? error_ : cache::CacheErrc::kDigestMismatch;
    std::uint64_t limit = verified_ ? size_ : writer_->bytes_written();
    if (!verified_ && limit == size_) --limit;
    if (offset >= limit) return cache::CacheErrc::kDigestMismatch;  // unreachable by the wait
    if (out.size() > limit - offset) out = out.first(limit - offset);
    auto* writer = writer_.get();
    lock.unlock();
    return writer->read_at(offset, out);
  }

 private:
  void run() {
    GetSink sink;
    sink.on_headers = [this](const ObjectInfo& info) {
      auto writer = make_sink_(info.size);
      std::lock_guard lock(mutex_);
      if (!writer) {
        error_ = writer.error();
        return false;
      }
      size_ = info.size;
      writer_ = std::move(*writer);
      changed_.notify_all();
      return true;
    };
    sink.on_data = [this](std::span<const std::byte> data) {
      if (cancelled_.load()) return false;
      auto wrote = writer_->write(data);  // only this thread writes
      std::lock_guard lock(mutex_);
      if (!wrote) {
        error_ = wrote.error();
        return false;
      }
      changed_.notify_all();
      return true;
    };
    auto result = client_.get_stream(key_, std::nullopt, sink);
    cache::Result<void> committed = cache::CacheErrc::kNotFound;
    if (result && writer_) {
      committed = writer_->commit();
    } else if (!result && !cancelled_.load() && result.error().code != S3Errc::kAborted) {
      committed = to_cache_error(result.error());
    }
    std::lock_guard lock(mutex_);
    if (committed) {
      verified_ = true;
    } else {
      if (!error_) error_ = committed.error();
      if (writer_) writer_->abort();
    }
    done_ = true;
    changed_.notify_all();
  }

  S3Client& client_;
  std::string key_;
  S3BlobStore::SinkFactory make_sink_;
  std::thread thread_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<cache::BlobWriter> writer_;
  std::uint64_t size_ = 0;
  bool done_ = false;
  bool verified_ = false;
  boost::system::error_code error_;
};

}  // namespace

boost::system::error_code to_cache_error(const S3Error& error) {
  if (error.code == S3Errc::kNotFound) return cache::CacheErrc::kNotFound;
  logging::warn("s3_error", {{"error", error.message}});
  return error.code;
}

S3BlobStore::S3BlobStore(S3Client& client, std::string prefix, fs::path spool_dir,
                         std::size_t part_size)
    : client_(client), prefix_(std::move(prefix)), spool_dir_(std::move(spool_dir)),
      part_size_(part_size) {
  std::error_code ec;
  fs::create_directories(spool_dir_, ec);
}

std::string S3BlobStore::key_of(const cache::Digest& digest) const {
  return prefix_ + "blobs/" + std::string(digest.algorithm_name()) + "/" + std::string(digest.hex());
}

cache::Result<std::unique_ptr<cache::BlobReader>> S3BlobStore::open(const cache::Digest& digest) {
  auto spool_dir = spool_dir_;
  return open_into(digest, [spool_dir, digest](std::uint64_t size)
                               -> cache::Result<std::unique_ptr<cache::BlobWriter>> {
    int fd = open_spool(spool_dir);
    if (fd < 0) return last_errno();
    return std::unique_ptr<cache::BlobWriter>(new SpoolWriter(fd, digest, size));
  });
}

cache::Result<std::unique_ptr<cache::BlobReader>> S3BlobStore::open_into(
    const cache::Digest& digest, SinkFactory make_sink) {
  auto reader = std::make_unique<BucketReader>(client_, key_of(digest), std::move(make_sink));
  if (auto started = reader->start(); !started) return started.error();
  return std::unique_ptr<cache::BlobReader>(std::move(reader));
}

S3Result<ObjectInfo> S3BlobStore::stream(const cache::Digest& digest, GetSink& sink) {
  return client_.get_stream(key_of(digest), std::nullopt, sink);
}

cache::Result<cache::BlobInfo> S3BlobStore::stat(const cache::Digest& digest) {
  auto head = client_.head_object(key_of(digest));
  if (!head) return to_cache_error(head.error());
  if (!*head) return cache::CacheErrc::kNotFound;
  return cache::BlobInfo{(*head)->size};
}

cache::Result<std::unique_ptr<cache::BlobWriter>> S3BlobStore::begin_write(
    const cache::Digest& expected, std::optional<std::uint64_t> expected_size) {
  int fd = open_spool(spool_dir_);
  if (fd < 0) return last_errno();
  auto spool = std::make_unique<SpoolWriter>(fd, expected, expected_size);
  auto upload = std::make_unique<ObjectUpload>(client_, key_of(expected), part_size_);
  return std::unique_ptr<cache::BlobWriter>(new S3BlobWriter(std::move(spool), std::move(upload)));
}

cache::Result<void> S3BlobStore::remove(const cache::Digest& digest) {
  auto head = client_.head_object(key_of(digest));
  if (!head) return to_cache_error(head.error());
  if (!*head) return cache::CacheErrc::kNotFound;
  auto deleted = client_.delete_object(key_of(digest));
  if (!deleted) return to_cache_error(deleted.error());
  return {};
}

cache::Result<void> S3BlobStore::for_each(
    const std::function<void(const cache::Digest&, const cache::BlobInfo&)>& fn) {
  const std::string base = prefix_ + "blobs/";
  std::string token;
  do {
    auto page = client_.list(base, "", token);
    if (!page) return to_cache_error(page.error());
    for (const auto& object : page->objects) {
      auto rest = std::string_view(object.key).substr(base.size());
      auto slash = rest.find('/');
      if (slash == std::string_view::npos) continue;
      auto digest = cache::Digest::parse(std::string(rest.substr(0, slash)) + ":" +
                                         std::string(rest.substr(slash + 1)));
      if (!digest) continue;  // not ours; never touch it
      fn(*digest, cache::BlobInfo{object.info.size});
    }
    token = page->next_token;
  } while (!token.empty());
  return {};
}

}  // namespace regmirror::proxy::s3
