#include "cache/memory_metadata_store.hpp"

#include "cache/cache_error.hpp"
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

Result<std::vector<TagEntry>> MemoryMetadataStore::list_all_tags() {
  std::lock_guard lock(mutex_);
  std::vector<TagEntry> out;
  for (const auto& [key, record] : tags_) {
    auto tag_key = codec::parse_tag_key(key);
    if (!tag_key) return CacheErrc::kCorruptRecord;
    out.push_back(TagEntry{std::move(*tag_key), record});
  }
  return out;
}

Result<std::vector<TagEntry>> MemoryMetadataStore::list_tag_entries(
    const std::optional<TagKey>& after, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<TagEntry> out;
  auto it = after ? tags_.upper_bound(codec::tag_key(*after)) : tags_.begin();
  for (; it != tags_.end() && out.size() < limit; ++it) {
    auto tag_key = codec::parse_tag_key(it->first);
    if (!tag_key) return CacheErrc::kCorruptRecord;
    out.push_back(TagEntry{std::move(*tag_key), it->second});
  }
  return out;
}

Result<std::optional<PinRecord>> MemoryMetadataStore::get_pin(const std::string& ref) {
  std::lock_guard lock(mutex_);
  auto it = pins_.find(ref);
  if (it == pins_.end()) return std::optional<PinRecord>();
  return std::optional<PinRecord>(it->second);
}

Result<void> MemoryMetadataStore::put_pin(const std::string& ref, const PinRecord& record) {
  std::lock_guard lock(mutex_);
  pins_[ref] = record;
  return {};
}

Result<void> MemoryMetadataStore::delete_pin(const std::string& ref) {
  std::lock_guard lock(mutex_);
  pins_.erase(ref);
  return {};
}

Result<std::vector<std::pair<std::string, PinRecord>>> MemoryMetadataStore::list_pins() {
  std::lock_guard lock(mutex_);
  return std::vector<std::pair<std::string, PinRecord>>(pins_.begin(), pins_.end());
}

Result<std::optional<BlobRecord>> MemoryMetadataStore::get_blob_record(const Digest& digest) {
  std::lock_guard lock(mutex_);
  auto it = blob_records_.find(digest.str());
  if (it == blob_records_.end()) return std::optional<BlobRecord>();
  return std::optional<BlobRecord>(it->second);
}

void MemoryMetadataStore::set_blob(const std::string& digest,
                                   const std::optional<BlobRecord>& record) {
  if (auto it = blob_records_.find(digest); it != blob_records_.end()) {
    ages_.erase({it->second.last_access, digest});
    usage_.bytes -= it->second.size;
    usage_.count -= 1;
    blob_records_.erase(it);
  }
  if (!record) return;
  blob_records_.emplace(digest, *record);
  ages_.emplace(record->last_access, digest);
  usage_.bytes += record->size;
  usage_.count += 1;
}

Result<void> MemoryMetadataStore::put_blob_record(const Digest& digest, const BlobRecord& record) {
  std::lock_guard lock(mutex_);
  set_blob(digest.str(), record);
  return {};
}

Result<void> MemoryMetadataStore::record_committed(const Digest& digest, std::uint64_t size,
                                                   std::int64_t when) {
  std::lock_guard lock(mutex_);
  BlobRecord record{size, when};
  if (auto it = blob_records_.find(digest.str()); it != blob_records_.end()) {
    record.last_access = std::max(when, it->second.last_access);
  }
  set_blob(digest.str(), record);
  return {};
}

Result<void> MemoryMetadataStore::record_access(
    const std::vector<std::pair<Digest, std::int64_t>>& accesses) {
  std::lock_guard lock(mutex_);
  for (const auto& [digest, when] : accesses) {
    BlobRecord record;
    if (auto it = blob_records_.find(digest.str()); it != blob_records_.end()) {
      if (it->second.last_access >= when) continue;
      record = it->second;
    }
    record.last_access = when;
    set_blob(digest.str(), record);
  }
  return {};
}

Result<void> MemoryMetadataStore::delete_blob_record(const Digest& digest) {
  std::lock_guard lock(mutex_);
  set_blob(digest.str(), std::nullopt);
  return {};
}

Result<BlobUsage> MemoryMetadataStore::blob_usage() {
  std::lock_guard lock(mutex_);
  return usage_;
}

Result<std::vector<std::pair<Digest, BlobRecord>>> MemoryMetadataStore::oldest_blob_records(
    const std::optional<BlobAge>& after, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<Digest, BlobRecord>> out;
  auto it = after ? ages_.upper_bound({after->last_access, after->digest}) : ages_.begin();
  for (; it != ages_.end() && out.size() < limit; ++it) {
    auto digest = Digest::parse(it->second);
    if (!digest) return CacheErrc::kCorruptRecord;
    out.emplace_back(std::move(*digest), blob_records_.at(it->second));
  }
  return out;
}

Result<std::vector<std::pair<Digest, BlobRecord>>> MemoryMetadataStore::list_blob_records(
    const std::string& after, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<Digest, BlobRecord>> out;
  auto it = after.empty() ? blob_records_.begin() : blob_records_.upper_bound(after);
  for (; it != blob_records_.end() && out.size() < limit; ++it) {
    auto digest = Digest::parse(it->first);
    if (!digest) return CacheErrc::kCorruptRecord;
    out.emplace_back(std::move(*digest), it->second);
  }
  return out;
}

Result<void> MemoryMetadataStore::put_referrer(const Referrer& referrer) {
  std::lock_guard lock(mutex_);
  referrers_.insert_or_assign(codec::referrer_key(referrer.subject, referrer.digest), referrer);
  return {};
}

Result<std::vector<Referrer>> MemoryMetadataStore::list_referrers(const Digest& subject) {
  std::lock_guard lock(mutex_);
  auto prefix = codec::referrer_prefix(subject);
  std::vector<Referrer> out;
  for (auto it = referrers_.lower_bound(prefix);
       it != referrers_.end() && it->first.starts_with(prefix); ++it) {
    out.push_back(it->second);
  }
  return out;
}

Result<void> MemoryMetadataStore::record_repository_digests(const std::string& registry,
                                                            const std::string& repository,
                                                            const std::vector<Digest>& digests) {
  std::lock_guard lock(mutex_);
  for (const auto& digest : digests) {
    repository_digests_.insert(codec::repository_digest_key(registry, repository, digest));
  }
  return {};
}

Result<bool> MemoryMetadataStore::repository_has_digest(const std::string& registry,
                                                        const std::string& repository,
                                                        const Digest& digest) {
  std::lock_guard lock(mutex_);
  return repository_digests_.contains(codec::repository_digest_key(registry, repository, digest));
}

Result<void> MemoryMetadataStore::apply_import(const ImportBatch& batch) {
  std::lock_guard lock(mutex_);
  for (const auto& [digest, record] : batch.manifests) manifests_[digest.str()] = record;
  for (const auto& entry : batch.tags) tags_[codec::tag_key(entry.key)] = entry.record;
  for (const auto& [ref, record] : batch.pins) pins_[ref] = record;
  for (const auto& referrer : batch.referrers) {
    referrers_.insert_or_assign(codec::referrer_key(referrer.subject, referrer.digest), referrer);
  }
  return {};
}

}  // namespace regmirror::cache
