#include "cache/fs_blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>

#include "cache/cache_error.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

boost::system::error_code last_errno() { return {errno, boost::system::system_category()}; }

// Owns a file descriptor; closes it exactly once.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<std::size_t> pread_some(int fd, std::uint64_t offset, std::span<std::byte> out) {
  while (true) {
    ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return last_errno();
  }
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return last_errno();
  if (::fsync(fd.get()) != 0) return last_errno();
  return {};
}

class FsBlobReader final : public BlobReader {
 public:
  FsBlobReader(Fd fd, std::uint64_t size) : fd_(std::move(fd)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  int native_fd() const override { return fd_.get(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    if (offset >= size_) return std::size_t{0};
    if (out.size() > size_ - offset) out = out.first(size_ - offset);
    return pread_some(fd_.get(), offset, out);
  }

 private:
  Fd fd_;
  std::uint64_t size_;
};

class FsBlobWriter final : public BlobWriter {
 public:
  FsBlobWriter(Fd fd, fs::path temp, fs::path final_path, Digest expected,
               std::optional<std::uint64_t> expected_size)
      : fd_(std::move(fd)),
        temp_(std::move(temp)),
        final_(std::move(final_path)),
        expected_(std::move(expected)),
        expected_size_(expected_size),
        hasher_(expected_.algorithm()) {}

  ~FsBlobWriter() override {
    if (!finished_) abort();
  }

  Result<void> write(std::span<const std::byte> data) override {
    if (finished_) return CacheErrc::kAlreadyFinished;
    auto written = written_.load(std::memory_order_relaxed);
    if (expected_size_ && written + data.size() > *expected_size_) return CacheErrc::kSizeMismatch;
    hasher_.update(data);
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(written));
      if (n < 0) {
        if (errno == EINTR) continue;
        return last_errno();  // ENOSPC and friends reach the caller with their errno
      }
      data = data.subspan(static_cast<std::size_t>(n));
      written += static_cast<std::uint64_t>(n);
    }
    // Release: a reader that sees the new size also sees the bytes.
    written_.store(written, std::memory_order_release);
    return {};
  }

  std::uint64_t bytes_written() const override { return written_.load(std::memory_order_acquire); }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    auto available = bytes_written();
    if (offset >= available) return std::size_t{0};
    if (out.size() > available - offset) out = out.first(available - offset);
    return pread_some(fd_.get(), offset, out);
  }

  int native_fd() const override { return fd_.get(); }

  Result<void> commit() override {
    if (finished_) return CacheErrc::kAlreadyFinished;
    finished_ = true;
    if (expected_size_ && bytes_written() != *expected_size_) {
      discard();
      return CacheErrc::kSizeMismatch;
    }
    if (hasher_.finish() != expected_) {
      discard();
      return CacheErrc::kDigestMismatch;
    }
    // Durable before visible: data, then the rename, then the directory entry.
    if (::fdatasync(fd_.get()) != 0) {
      auto ec = last_errno();
      discard();
      return ec;
    }
    std::error_code dir_ec;
    fs::create_directories(final_.parent_path(), dir_ec);
    if (dir_ec) {
      discard();
      return boost::system::error_code(dir_ec.value(), boost::system::system_category());
    }
    if (::rename(temp_.c_str(), final_.c_str()) != 0) {
      auto ec = last_errno();
      discard();
      return ec;
    }
    return fsync_dir(final_.parent_path());
  }

  void abort() override {
    if (finished_) return;
    finished_ = true;
    discard();
  }

 private:
  void discard() { ::unlink(temp_.c_str()); }  // the fd stays open for readers until destruction

  Fd fd_;
  fs::path temp_;
  fs::path final_;
  Digest expected_;
  std::optional<std::uint64_t> expected_size_;
  DigestHasher hasher_;
  std::atomic<std::uint64_t> written_{0};
  bool finished_ = false;
};

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  auto value = rng();
  for (int i = 0; i < 16; ++i, value >>= 4) out.push_back(kHex[value & 0xF]);
  return out;
}

}  // namespace

Result<std::unique_ptr<FsBlobStore>> FsBlobStore::open_at(const fs::path& root) {
  std::error_code ec;
  for (const auto* sub : {"blobs/sha256", "blobs/sha512", "tmp"}) {
    fs::create_directories(root / sub, ec);
    if (ec) return boost::system::error_code(ec.value(), boost::system::system_category());
  }
  std::unique_ptr<FsBlobStore> store(new FsBlobStore(root));
  // Anything in tmp/ is a write that never committed: it can never become visible, so drop it.
  for (const auto& entry : fs::directory_iterator(root / "tmp", ec)) {
    std::error_code remove_ec;
    if (fs::remove(entry.path(), remove_ec)) ++store->removed_temp_files_;
  }
  if (ec) return boost::system::error_code(ec.value(), boost::system::system_category());
  return store;
}

fs::path FsBlobStore::path_of(const Digest& digest) const {
  auto hex = digest.hex();
  return root_ / "blobs" / std::string(digest.algorithm_name()) / std::string(hex.substr(0, 2)) /
         std::string(hex);
}

Result<std::unique_ptr<BlobReader>> FsBlobStore::open(const Digest& digest) {
  Fd fd(::open(path_of(digest).c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return CacheErrc::kNotFound;
    return last_errno();
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return last_errno();
  return std::unique_ptr<BlobReader>(
      new FsBlobReader(std::move(fd), static_cast<std::uint64_t>(st.st_size)));
}

Result<BlobInfo> FsBlobStore::stat(const Digest& digest) {
  struct stat st {};
  if (::stat(path_of(digest).c_str(), &st) != 0) {
    if (errno == ENOENT) return CacheErrc::kNotFound;
    return last_errno();
  }
  return BlobInfo{static_cast<std::uint64_t>(st.st_size)};
}

Result<std::unique_ptr<BlobWriter>> FsBlobStore::begin_write(
    const Digest& expected, std::optional<std::uint64_t> expected_size) {
  auto temp = root_ / "tmp" / (std::string(expected.hex()) + "." + random_suffix());
  Fd fd(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return last_errno();
  return std::unique_ptr<BlobWriter>(
      new FsBlobWriter(std::move(fd), std::move(temp), path_of(expected), expected, expected_size));
}

Result<void> FsBlobStore::remove(const Digest& digest) {
  if (::unlink(path_of(digest).c_str()) != 0) {
    if (errno == ENOENT) return CacheErrc::kNotFound;
    return last_errno();
  }
  return {};
}

Result<void> FsBlobStore::for_each(
    const std::function<void(const Digest&, const BlobInfo&)>& fn) {
  std::error_code ec;
  for (const auto* algorithm : {"sha256", "sha512"}) {
    for (auto it = fs::recursive_directory_iterator(root_ / "blobs" / algorithm, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      auto digest = Digest::parse(std::string(algorithm) + ":" + it->path().filename().string());
      if (!digest) continue;  // not ours; never touch it
      auto size = it->file_size(ec);
      if (ec) break;
      fn(*digest, BlobInfo{size});
    }
    if (ec) return boost::system::error_code(ec.value(), boost::system::system_category());
  }
  return {};
}

}  // namespace regmirror::cache
