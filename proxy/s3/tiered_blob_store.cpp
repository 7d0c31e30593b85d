#include "proxy/s3/tiered_blob_store.hpp"

#include "cache/cache_error.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/s3/object_upload.hpp"

namespace regmirror::proxy::s3 {
namespace {

class TeeWriter final : public cache::BlobWriter {
 public:
  TeeWriter(std::unique_ptr<cache::BlobWriter> local, std::unique_ptr<ObjectUpload> upload)
      : local_(std::move(local)), upload_(std::move(upload)) {}
  ~TeeWriter() override {
    if (!finished_) abort();
  }

  cache::Result<void> write(std::span<const std::byte> data) override {
    if (auto wrote = local_->write(data); !wrote) return wrote;
    if (upload_ok_) {
      if (auto sent = upload_->write(data); !sent) {
        // The local tier still gets the blob; the bucket does not (another replica may).
        upload_ok_ = false;
        logging::warn("s3_upload_failed", {{"key", upload_->key()}, {"error", sent.error().message}});
        upload_->abort();
      }
    }
    return {};
  }
  std::uint64_t bytes_written() const override { return local_->bytes_written(); }
  cache::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    return local_->read_at(offset, out);
  }
  int native_fd() const override { return local_->native_fd(); }

  cache::Result<void> commit() override {
    if (finished_) return cache::CacheErrc::kAlreadyFinished;
    finished_ = true;
    // The local commit verifies digest and size: only verified bytes reach the bucket.
    if (auto committed = local_->commit(); !committed) {
      upload_->abort();
      return committed;
    }
    if (upload_ok_) {
      if (auto done = upload_->complete(); !done) {
        logging::warn("s3_upload_failed", {{"key", upload_->key()}, {"error", done.error().message}});
      }
    }
    return {};
  }
  void abort() override {
    if (finished_) return;
    finished_ = true;
    local_->abort();
    upload_->abort();
  }

 private:
  std::unique_ptr<cache::BlobWriter> local_;
  std::unique_ptr<ObjectUpload> upload_;
  bool upload_ok_ = true;
  bool finished_ = false;
};

}  // namespace

cache::Result<std::unique_ptr<cache::BlobReader>> TieredBlobStore::open(const cache::Digest& digest) {
  auto local = local_.open(digest);
  if (local || local.error() != cache::CacheErrc::kNotFound) return local;
  auto* store = &local_;
  return bucket_.open_into(digest, [store, digest](std::uint64_t size) {
    return store->begin_write(digest, size);
  });
}

cache::Result<cache::BlobInfo> TieredBlobStore::stat(const cache::Digest& digest) {
  auto local = local_.stat(digest);
  if (local || local.error() != cache::CacheErrc::kNotFound) return local;
  return bucket_.stat(digest);
}

cache::Result<std::unique_ptr<cache::BlobWriter>> TieredBlobStore::begin_write(
    const cache::Digest& expected, std::optional<std::uint64_t> expected_size) {
  auto local = local_.begin_write(expected, expected_size);
  if (!local) return local.error();
  auto upload = std::make_unique<ObjectUpload>(bucket_.client(), bucket_.key_of(expected),
                                               bucket_.part_size());
  return std::unique_ptr<cache::BlobWriter>(new TeeWriter(std::move(*local), std::move(upload)));
}

cache::Result<void> TieredBlobStore::remove(const cache::Digest& digest) {
  return local_.remove(digest);
}

cache::Result<void> TieredBlobStore::for_each(
    const std::function<void(const cache::Digest&, const cache::BlobInfo&)>& fn) {
  return local_.for_each(fn);
}

}  // namespace regmirror::proxy::s3
