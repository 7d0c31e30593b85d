#pragma once
// MetadataStore in memory (tests and the conformance suite).
#include <map>
#include <mutex>
#include <set>

#include "cache/metadata_store.hpp"

namespace regmirror::cache {

class MemoryMetadataStore final : public MetadataStore {
 public:
  Result<std::optional<ManifestRecord>> get_manifest(const Digest& digest) override;
  Result<void> put_manifest(const Digest& digest, const ManifestRecord& record) override;
  Result<std::optional<TagRecord>> get_tag(const TagKey& key) override;
  Result<void> put_tag(const TagKey& key, const TagRecord& record) override;
  Result<void> delete_tag(const TagKey& key) override;
  Result<std::vector<std::string>> list_tags(const std::string& registry,
                                             const std::string& repository) override;
  Result<std::vector<TagEntry>> list_all_tags() override;
  Result<std::vector<TagEntry>> list_tag_entries(const std::optional<TagKey>& after,
                                                 std::size_t limit) override;
  Result<std::optional<PinRecord>> get_pin(const std::string& ref) override;
  Result<void> put_pin(const std::string& ref, const PinRecord& record) override;
  Result<void> delete_pin(const std::string& ref) override;
  Result<std::vector<std::pair<std::string, PinRecord>>> list_pins() override;
  Result<std::optional<BlobRecord>> get_blob_record(const Digest& digest) override;
  Result<void> put_blob_record(const Digest& digest, const BlobRecord& record) override;
  Result<void> record_committed(const Digest& digest, std::uint64_t size,
                                std::int64_t when) override;
  Result<void> record_access(const std::vector<std::pair<Digest, std::int64_t>>& accesses) override;
  Result<void> delete_blob_record(const Digest& digest) override;
  Result<BlobUsage> blob_usage() override;
  Result<std::vector<std::pair<Digest, BlobRecord>>> oldest_blob_records(
      const std::optional<BlobAge>& after, std::size_t limit) override;
  Result<std::vector<std::pair<Digest, BlobRecord>>> list_blob_records(const std::string& after,
                                                                       std::size_t limit) override;
  Result<void> put_referrer(const Referrer& referrer) override;
  Result<std::vector<Referrer>> list_referrers(const Digest& subject) override;
  Result<void> record_repository_digests(const std::string& registry, const std::string& repository,
                                         const std::vector<Digest>& digests) override;
  Result<bool> repository_has_digest(const std::string& registry, const std::string& repository,
                                     const Digest& digest) override;
  Result<void> apply_import(const ImportBatch& batch) override;

 private:
  std::mutex mutex_;
  std::map<std::string, ManifestRecord> manifests_;
  std::map<std::string, TagRecord> tags_;  // by codec::tag_key, so iteration order matches Rocks
  std::map<std::string, PinRecord> pins_;
  std::map<std::string, Referrer> referrers_;  // by codec::referrer_key, as Rocks orders them
  void set_blob(const std::string& digest, const std::optional<BlobRecord>& record);  // locked
  std::map<std::string, BlobRecord> blob_records_;  // by digest text
  std::set<std::pair<std::int64_t, std::string>> ages_;  // (last_access, digest text)
  BlobUsage usage_;
  std::set<std::string> repository_digests_;  // codec::repository_digest_key
};

}  // namespace regmirror::cache
