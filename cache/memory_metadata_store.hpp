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

 private:
  std::mutex mutex_;
  std::map<std::string, ManifestRecord> manifests_;
  std::map<std::string, TagRecord> tags_;  // by codec::tag_key, so iteration order matches Rocks
};

}  // namespace regmirror::cache
