#include "cache/memory_metadata_store.hpp"

#include "cache/metadata_codec.hpp"

namespace regmirror::cache {

Result<std::optional<ManifestRecord>> MemoryMetadataStore::get_manifest(const Digest& digest) {
  std::lock_guard lock(mutex_);
  auto it = manifests_.find(digest.str());
  if (it == manifests_.end()) return std::optional<ManifestRecord>();
  return std::optional<ManifestRecord>(it->second);
}

Result<void> MemoryMetadataStore::put_manifest(const Digest& digest, const ManifestRecord& record) {
  std::lock_guard lock(mutex_);
  manifests_[digest.str()] = record;
  return {};
}

Result<std::optional<TagRecord>> MemoryMetadataStore::get_tag(const TagKey& key) {
  std::lock_guard lock(mutex_);
  auto it = tags_.find(codec::tag_key(key));
  if (it == tags_.end()) return std::optional<TagRecord>();
  return std::optional<TagRecord>(it->second);
}

Result<void> MemoryMetadataStore::put_tag(const TagKey& key, const TagRecord& record) {
  std::lock_guard lock(mutex_);
  tags_[codec::tag_key(key)] = record;
  return {};
}

Result<void> MemoryMetadataStore::delete_tag(const TagKey& key) {
  std::lock_guard lock(mutex_);
  tags_.erase(codec::tag_key(key));
  return {};
}

Result<std::vector<std::string>> MemoryMetadataStore::list_tags(const std::string& registry,
                                                                const std::string& repository) {
  std::lock_guard lock(mutex_);
  auto prefix = codec::tag_prefix(registry, repository);
  std::vector<std::string> tags;
  for (auto it = tags_.lower_bound(prefix); it != tags_.end() && it->first.starts_with(prefix);
       ++it) {
    tags.push_back(it->first.substr(prefix.size()));
  }
  return tags;
}

}  // namespace regmirror::cache
