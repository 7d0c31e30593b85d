#pragma once
// Local disk as the hot tier in front of the shared bucket (cache::BlobStore contract):
//  - open(): the local file; else the bucket's copy, streamed into a local writer while the
//    reader reads it (the blob is then local for the next reader); else kNotFound.
//  - stat(): local, else the bucket.
//  - begin_write(): a writer that tees into a local temp file and a multipart upload; commit()
//    verifies once (the local commit checks digest and size), then completes the upload. A
//    bucket failure does not fail the commit (the blob is cached locally; logged as s3_error).
//  - remove()/for_each(): the local tier only. Local eviction never deletes from the bucket;
//    bucket retention is an explicit, separate policy.
//
// open()/stat() may block on the bucket on a local miss: call them from worker threads; the
// network-thread fast path should open local() directly.
#include "cache/blob_store.hpp"
#include "proxy/s3/s3_blob_store.hpp"

namespace regmirror::proxy::s3 {

class TieredBlobStore final : public cache::BlobStore {
 public:
  TieredBlobStore(cache::BlobStore& local, S3BlobStore& bucket) : local_(local), bucket_(bucket) {}

  cache::Result<std::unique_ptr<cache::BlobReader>> open(const cache::Digest& digest) override;
  cache::Result<cache::BlobInfo> stat(const cache::Digest& digest) override;
  cache::Result<std::unique_ptr<cache::BlobWriter>> begin_write(
      const cache::Digest& expected, std::optional<std::uint64_t> expected_size) override;
  cache::Result<void> remove(const cache::Digest& digest) override;
  cache::Result<void> for_each(
      const std::function<void(const cache::Digest&, const cache::BlobInfo&)>& fn) override;

  cache::BlobStore& local() { return local_; }
  S3BlobStore& bucket() { return bucket_; }

 private:
  cache::BlobStore& local_;
  S3BlobStore& bucket_;
};

}  // namespace regmirror::proxy::s3
