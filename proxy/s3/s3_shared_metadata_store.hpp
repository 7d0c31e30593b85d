#pragma once
// The local index with tag and manifest records shared through the bucket, so that a tag
// validated by one replica is fresh for all and an empty replica knows every tag and manifest
// already in the bucket:
//   <prefix>tags/<registry>/<repository>/<tag>   {"digest","media_type","size","fetched_at","validated_at"}
//   <prefix>manifests/<algorithm>/<hex>          {"media_type","size"}
//
//  - get_tag(): a local record validated within the registry's tag TTL is answered locally;
//    otherwise the bucket's record is read and the newer of the two (by validated_at) wins and
//    is kept locally. A bucket failure falls back to the local record (logged).
//  - put_tag()/delete_tag()/put_manifest(): local first (that result is returned), then the
//    bucket (a failure there is logged, not returned: the local tier still works).
//  - get_manifest(): local, else the bucket's record (then kept locally).
//  - list_tags()/list_all_tags(): the union of both.
//  - pins, blob records, access times: local only (per-replica eviction bookkeeping).
//  - referrers: local only (each replica indexes the manifests it stores; a replica that
//    never stored a referrer answers from its upstreams or not at all).
//  - apply_import(): local batch, then its tags and manifests are pushed to the bucket.
// Blocking (disk and network): call from worker threads.
#include <functional>
#include <map>
#include <string>

#include "cache/metadata_store.hpp"
#include "proxy/s3/s3_client.hpp"

namespace regmirror::proxy::s3 {

class S3SharedMetadataStore final : public cache::MetadataStore {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // `tag_ttl_seconds`: per canonical registry name; a registry not listed always asks the bucket.
  S3SharedMetadataStore(cache::MetadataStore& local, S3Client& client, std::string prefix,
                        std::map<std::string, std::int64_t> tag_ttl_seconds, Clock clock);

  cache::Result<std::optional<cache::ManifestRecord>> get_manifest(const cache::Digest& digest) override;
  cache::Result<void> put_manifest(const cache::Digest& digest,
                                   const cache::ManifestRecord& record) override;
  cache::Result<std::optional<cache::TagRecord>> get_tag(const cache::TagKey& key) override;
  cache::Result<void> put_tag(const cache::TagKey& key, const cache::TagRecord& record) override;
  cache::Result<void> delete_tag(const cache::TagKey& key) override;
  cache::Result<std::vector<std::string>> list_tags(const std::string& registry,
                                                    const std::string& repository) override;
  cache::Result<std::vector<cache::TagEntry>> list_all_tags() override;
  // This replica's tags only: paging across the bucket's listing and the local index at once
  // is left to list_all_tags().
  cache::Result<std::vector<cache::TagEntry>> list_tag_entries(
      const std::optional<cache::TagKey>& after, std::size_t limit) override;

  cache::Result<std::optional<cache::PinRecord>> get_pin(const std::string& ref) override;
  cache::Result<void> put_pin(const std::string& ref, const cache::PinRecord& record) override;
  cache::Result<void> delete_pin(const std::string& ref) override;
  cache::Result<std::vector<std::pair<std::string, cache::PinRecord>>> list_pins() override;
  cache::Result<std::optional<cache::BlobRecord>> get_blob_record(const cache::Digest& digest) override;
  cache::Result<void> put_blob_record(const cache::Digest& digest,
                                      const cache::BlobRecord& record) override;
  cache::Result<void> record_access(
      const std::vector<std::pair<cache::Digest, std::int64_t>>& accesses) override;
  cache::Result<void> record_committed(const cache::Digest& digest, std::uint64_t size,
                                       std::int64_t when) override;
  cache::Result<void> delete_blob_record(const cache::Digest& digest) override;
  cache::Result<cache::BlobUsage> blob_usage() override;
  cache::Result<std::vector<std::pair<cache::Digest, cache::BlobRecord>>> oldest_blob_records(
      const std::optional<cache::BlobAge>& after, std::size_t limit) override;
  cache::Result<std::vector<std::pair<cache::Digest, cache::BlobRecord>>> list_blob_records(
      const std::string& after, std::size_t limit) override;
  cache::Result<void> put_referrer(const cache::Referrer& referrer) override;
  cache::Result<std::vector<cache::Referrer>> list_referrers(const cache::Digest& subject) override;
  cache::Result<void> record_repository_digests(const std::string& registry,
                                                const std::string& repository,
                                                const std::vector<cache::Digest>& digests) override;
  cache::Result<bool> repository_has_digest(const std::string& registry,
                                            const std::string& repository,
                                            const cache::Digest& digest) override;
  cache::Result<void> apply_import(const cache::ImportBatch& batch) override;

  std::string tag_object_key(const cache::TagKey& key) const;
  std::string manifest_object_key(const cache::Digest& digest) const;

 private:
  // nullopt: no record or the bucket failed (logged).
  std::optional<cache::TagRecord> bucket_tag(const cache::TagKey& key);
  void push_tag(const cache::TagKey& key, const cache::TagRecord& record);
  void push_manifest(const cache::Digest& digest, const cache::ManifestRecord& record);

  cache::MetadataStore& local_;
  S3Client& client_;
  std::string prefix_;
  std::map<std::string, std::int64_t> tag_ttl_;
  Clock clock_;
};

}  // namespace regmirror::proxy::s3
