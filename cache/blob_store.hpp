#pragma once
// Content-addressed blob storage: the seam between HTTP semantics (proxy/) and where bytes live
// (local disk today; an S3 tier behind the same interface). Manifests are stored here too, by
// digest; their media types live in the MetadataStore.
//
// Contract for every implementation:
//  - Thread-safe: any thread may call any method; readers and writers never block each other.
//  - A blob becomes visible to open()/stat() only through BlobWriter::commit(), which verifies
//    the digest (and size, when promised) first. A crash at any moment never leaves a visible
//    partial blob.
//  - Readers keep working on a blob that is removed or replaced while they read.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

#include "cache/digest.hpp"
#include "config/result.hpp"

namespace regmirror::cache {

using regmirror::Result;  // cache::Result<T>: errors are CacheErrc (cache_error.hpp) or errno

// A committed blob, open for reading.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual std::uint64_t size() const = 0;
  // A file descriptor positioned nowhere in particular (use offsets), for sendfile(2); -1 when
  // the blob is not a local file.
  virtual int native_fd() const = 0;
  // Reads up to out.size() bytes at `offset`; 0 only at end of blob.
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) = 0;
};

// An in-progress write. One thread writes; any thread may read_at() the bytes written so far
// (coalesced clients stream a download while it is being written).
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;  // an uncommitted writer is aborted
  virtual Result<void> write(std::span<const std::byte> data) = 0;
  virtual std::uint64_t bytes_written() const = 0;
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) = 0;
  // Like BlobReader::native_fd(), valid until the writer is destroyed (not closed by abort()).
  virtual int native_fd() const = 0;
  // Verifies the digest (and the promised size), makes the bytes durable, then visible.
  // kDigestMismatch/kSizeMismatch: nothing becomes visible and the partial data is deleted.
  virtual Result<void> commit() = 0;
  // Drops the partial data; readers already holding native_fd() may finish reading it.
  virtual void abort() = 0;
};

struct BlobInfo {
  std::uint64_t size = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // CacheErrc::kNotFound when absent.
  virtual Result<std::unique_ptr<BlobReader>> open(const Digest& digest) = 0;
  virtual Result<BlobInfo> stat(const Digest& digest) = 0;
  // `expected_size`: when known (Content-Length, descriptor size), commit() also checks it.
  virtual Result<std::unique_ptr<BlobWriter>> begin_write(
      const Digest& expected, std::optional<std::uint64_t> expected_size) = 0;
  virtual Result<void> remove(const Digest& digest) = 0;
  // Every committed blob, in no particular order (for verify and eviction).
  virtual Result<void> for_each(const std::function<void(const Digest&, const BlobInfo&)>& fn) = 0;
};

}  // namespace regmirror::cache
