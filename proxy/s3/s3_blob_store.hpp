#pragma once
// Blobs in an S3 bucket, content-addressed: <prefix>blobs/<algorithm>/<hex>. Implements the
// cache::BlobStore contract (cache/blob_store.hpp):
//  - begin_write() streams into a multipart upload (never the whole blob in memory) and keeps
//    a spool file for read_at(); commit() verifies digest and size first and only then
//    completes the upload, so no replica ever sees an unverified or partial object.
//  - open() starts one streaming GET into an unlinked spool file (or into a caller's writer,
//    see open_into): readers keep working when the object is deleted meanwhile; read_at()
//    blocks until the bytes are there; the last byte is held back until the digest matched.
//  - remove() deletes the object (explicit retention only; the tiered store never calls it).
// Errors: cache::CacheErrc::kNotFound for a missing object, S3Errc codes otherwise (the full
// message is logged, with bucket and key).
//
// Blocking on the network: call from worker threads.
#include <filesystem>
#include <functional>
#include <string>

#include "cache/blob_store.hpp"
#include "proxy/s3/s3_client.hpp"

namespace regmirror::proxy::s3 {

class S3BlobStore final : public cache::BlobStore {
 public:
  // `prefix` ends with '/' or is empty. Spool files go to `spool_dir` (created if needed).
  S3BlobStore(S3Client& client, std::string prefix, std::filesystem::path spool_dir,
              std::size_t part_size);

  cache::Result<std::unique_ptr<cache::BlobReader>> open(const cache::Digest& digest) override;
  cache::Result<cache::BlobInfo> stat(const cache::Digest& digest) override;
  cache::Result<std::unique_ptr<cache::BlobWriter>> begin_write(
      const cache::Digest& expected, std::optional<std::uint64_t> expected_size) override;
  cache::Result<void> remove(const cache::Digest& digest) override;
  cache::Result<void> for_each(
      const std::function<void(const cache::Digest&, const cache::BlobInfo&)>& fn) override;

  // Like open(), but the bytes go into the writer `make_sink(size)` returns (the tiered store
  // passes a local-disk writer: the blob lands on local disk while it is read), committed
  // when the transfer ends.
  using SinkFactory =
      std::function<cache::Result<std::unique_ptr<cache::BlobWriter>>(std::uint64_t size)>;
  cache::Result<std::unique_ptr<cache::BlobReader>> open_into(const cache::Digest& digest,
                                                              SinkFactory make_sink);

  // One streaming GET of the blob (for BlobFetcher: fill a BlobDownload from the bucket).
  // kNotFound when the bucket does not have it.
  S3Result<ObjectInfo> stream(const cache::Digest& digest, GetSink& sink);

  std::string key_of(const cache::Digest& digest) const;
  S3Client& client() { return client_; }
  std::size_t part_size() const { return part_size_; }

 private:
  S3Client& client_;
  std::string prefix_;
  std::filesystem::path spool_dir_;
  std::size_t part_size_;
};

// An S3 failure as a cache error code; logs the message (event s3_error) unless not-found.
boost::system::error_code to_cache_error(const S3Error& error);

}  // namespace regmirror::proxy::s3
