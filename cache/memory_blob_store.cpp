#include "cache/memory_blob_store.hpp"

#include <cstring>

#include "cache/cache_error.hpp"

namespace regmirror::cache {
namespace {

std::size_t copy_out(const std::string& bytes, std::uint64_t offset, std::span<std::byte> out) {
  if (offset >= bytes.size()) return 0;
  auto n = std::min<std::size_t>(out.size(), bytes.size() - offset);
  std::memcpy(out.data(), bytes.data() + offset, n);
  return n;
}

class MemoryBlobReader final : public BlobReader {
 public:
  explicit MemoryBlobReader(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_->size(); }
  int native_fd() const override { return -1; }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    return copy_out(*bytes_, offset, out);
  }

 private:
  std::shared_ptr<const std::string> bytes_;
};

}  // namespace

class MemoryBlobWriter final : public BlobWriter {
 public:
  MemoryBlobWriter(MemoryBlobStore& store, Digest expected, std::optional<std::uint64_t> size)
      : store_(store), expected_(std::move(expected)), expected_size_(size) {}

  Result<void> write(std::span<const std::byte> data) override {
    std::lock_guard lock(mutex_);
    if (finished_) return CacheErrc::kAlreadyFinished;
    if (expected_size_ && bytes_.size() + data.size() > *expected_size_) {
      return CacheErrc::kSizeMismatch;
    }
    bytes_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return {};
  }
  std::uint64_t bytes_written() const override {
    std::lock_guard lock(mutex_);
    return bytes_.size();
  }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    std::lock_guard lock(mutex_);
    return copy_out(bytes_, offset, out);
  }
  int native_fd() const override { return -1; }
  Result<void> commit() override {
    std::lock_guard lock(mutex_);
    if (finished_) return CacheErrc::kAlreadyFinished;
    finished_ = true;
    if (expected_size_ && bytes_.size() != *expected_size_) return CacheErrc::kSizeMismatch;
    if (digest_of(bytes_, expected_.algorithm()) != expected_) return CacheErrc::kDigestMismatch;
    store_.put(expected_, std::make_shared<const std::string>(bytes_));
    return {};
  }
  void abort() override {
    std::lock_guard lock(mutex_);
    finished_ = true;
  }

 private:
  MemoryBlobStore& store_;
  Digest expected_;
  std::optional<std::uint64_t> expected_size_;
  mutable std::mutex mutex_;
  std::string bytes_;
  bool finished_ = false;
};

Result<std::unique_ptr<BlobReader>> MemoryBlobStore::open(const Digest& digest) {
  std::lock_guard lock(mutex_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return CacheErrc::kNotFound;
  return std::unique_ptr<BlobReader>(new MemoryBlobReader(it->second));
}

Result<BlobInfo> MemoryBlobStore::stat(const Digest& digest) {
  std::lock_guard lock(mutex_);
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return CacheErrc::kNotFound;
  return BlobInfo{it->second->size()};
}

Result<std::unique_ptr<BlobWriter>> MemoryBlobStore::begin_write(
    const Digest& expected, std::optional<std::uint64_t> expected_size) {
  return std::unique_ptr<BlobWriter>(new MemoryBlobWriter(*this, expected, expected_size));
}

Result<void> MemoryBlobStore::remove(const Digest& digest) {
  std::lock_guard lock(mutex_);
  if (blobs_.erase(digest) == 0) return CacheErrc::kNotFound;
  return {};
}

Result<void> MemoryBlobStore::for_each(
    const std::function<void(const Digest&, const BlobInfo&)>& fn) {
  std::map<Digest, std::shared_ptr<const std::string>> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = blobs_;
  }
  for (const auto& [digest, bytes] : snapshot) fn(digest, BlobInfo{bytes->size()});
  return {};
}

void MemoryBlobStore::corrupt(const Digest& digest, std::string bytes) {
  put(digest, std::make_shared<const std::string>(std::move(bytes)));
}

void MemoryBlobStore::put(const Digest& digest, std::shared_ptr<const std::string> bytes) {
  std::lock_guard lock(mutex_);
  blobs_[digest] = std::move(bytes);
}

}  // namespace regmirror::cache
