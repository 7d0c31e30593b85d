#pragma once
// MetadataStore in memory (tests and the conformance suite).
#include <map>
#include <mutex>

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
  Result<std::optional<PinRecord>> get_pin(const std::string& ref) override;
  Result<void> put_pin(const std::string& ref, const PinRecord& record) override;
  Result<void> delete_pin(const std::string& ref) override;
  Result<std::vector<std::pair<std::string, PinRecord>>> list_pins() override;
  Result<std::optional<BlobRecord>> get_blob_record(const Digest& digest) override;
  Result<void> put_blob_record(const Digest& digest, const BlobRecord& record) override;
  Result<void> record_access(const std::vector<std::pair<Digest, std::int64_t>>& accesses) override;
  Result<void> delete_blob_record(const Digest& digest) override;
  Result<std::vector<std::pair<Digest, BlobRecord>>> list_blob_records() override;
  Result<void> apply_import(const ImportBatch& batch) override;

 private:
  std::mutex mutex_;
  std::map<std::string, ManifestRecord> manifests_;
  std::map<std::string, TagRecord> tags_;  // by codec::tag_key, so iteration order matches Rocks
  std::map<std::string, PinRecord> pins_;
  std::map<std::string, BlobRecord> blob_records_;  // by digest text
};

}  // namespace regmirror::cache
