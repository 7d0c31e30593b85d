#pragma once
// The shared S3 tier, assembled from the config: what `regmirror serve` wires when
// "storage": {"s3": {...}} is set. Several replicas on one bucket share blobs, manifests and tag
// records; the local disk stays the hot tier.
//
// Wiring (serve_command.cpp, worker threads only for anything that may touch the bucket):
//  - `blobs` (TieredBlobStore) replaces the local store for ManifestService and for the writes
//    of BlobFetcher (begin_write tees into the bucket); the network-thread fast path keeps
//    opening the *local* store (a miss must never block on the bucket there).
//  - `metadata` (S3SharedMetadataStore) replaces the local index for ManifestService, the
//    tag-list service and the handler.
//  - `lease` deduplicates upstream fetches across replicas (see fetch_lease.hpp for where to
//    call it in BlobFetcher::run); `bucket_blobs->stream()` fills a local download from the bucket.
//  - `presign_blob_get()` gives the 307 target when `redirect_blobs` is set.
#include <chrono>
#include <memory>
#include <string>

#include "cache/blob_store.hpp"
#include "cache/metadata_store.hpp"
#include "config/config.hpp"
#include "proxy/s3/fetch_lease.hpp"
#include "proxy/s3/s3_blob_store.hpp"
#include "proxy/s3/s3_client.hpp"
#include "proxy/s3/s3_shared_metadata_store.hpp"
#include "proxy/s3/tiered_blob_store.hpp"

namespace regmirror::proxy::s3 {

struct S3Tier {
  std::unique_ptr<S3Client> client;
  std::unique_ptr<S3BlobStore> bucket_blobs;        // the bucket alone
  std::unique_ptr<TieredBlobStore> blobs;           // local first, then the bucket
  std::unique_ptr<S3SharedMetadataStore> metadata;  // local index + bucket records
  std::unique_ptr<FetchLease> lease;
  bool redirect_blobs = false;
  std::chrono::seconds redirect_expiry{300};
  std::chrono::seconds lease_wait{120};  // bound for FetchLease::wait_for_object

  // A presigned GET URL for a blob in the bucket, valid for `redirect_expiry`. Pure
  // computation (no request): check that the blob is in the bucket first.
  std::string presign_blob_get(const cache::Digest& digest) const;
};

// Reads the key files, checks that the bucket answers with these credentials (a wrong secret
// fails here with "S3 refused the signature (SignatureDoesNotMatch) for bucket X") and probes
// conditional-create support for leases. nullptr with `*error` set on failure (start-up
// error: log it and exit 1). `config.storage.s3` must be set. `local` and `local_meta` must
// outlive the tier.
std::unique_ptr<S3Tier> make_s3_tier(const config::Config& config, cache::BlobStore& local,
                                     cache::MetadataStore& local_meta, std::string* error);

}  // namespace regmirror::proxy::s3
