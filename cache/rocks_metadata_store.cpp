#include "cache/rocks_metadata_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "cache/cache_error.hpp"
#include "cache/metadata_codec.hpp"

namespace regmirror::cache {

RocksMetadataStore::RocksMetadataStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
RocksMetadataStore::~RocksMetadataStore() = default;

Result<std::unique_ptr<RocksMetadataStore>> RocksMetadataStore::open_at(
    const std::filesystem::path& dir, std::string* error_detail) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.keep_log_file_num = 3;
  options.max_log_file_size = 4 << 20;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(options, dir.string(), &raw);
  if (!status.ok()) {
    if (error_detail != nullptr) *error_detail = status.ToString();
    return CacheErrc::kIndexUnavailable;
  }
  return std::unique_ptr<RocksMetadataStore>(
      new RocksMetadataStore(std::unique_ptr<rocksdb::DB>(raw)));
}

Result<std::optional<std::string>> RocksMetadataStore::get(const std::string& key) {
  std::string value;
  auto status = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return std::optional<std::string>(std::move(value));
}

Result<void> RocksMetadataStore::put(const std::string& key, const std::string& value) {
  // Records are small and cheap to lose to a crash (they are re-fetched), so no per-write sync;
  // the WAL keeps them across a process kill.
  auto status = db_->Put(rocksdb::WriteOptions(), key, value);
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<std::optional<ManifestRecord>> RocksMetadataStore::get_manifest(const Digest& digest) {
  auto raw = get(codec::manifest_key(digest));
  if (!raw) return raw.error();
  if (!*raw) return std::optional<ManifestRecord>();
  auto record = codec::decode_manifest(**raw);
  if (!record) return CacheErrc::kCorruptRecord;
  return record;
}

Result<void> RocksMetadataStore::put_manifest(const Digest& digest, const ManifestRecord& record) {
  return put(codec::manifest_key(digest), codec::encode(record));
}

Result<std::optional<TagRecord>> RocksMetadataStore::get_tag(const TagKey& key) {
  auto raw = get(codec::tag_key(key));
  if (!raw) return raw.error();
  if (!*raw) return std::optional<TagRecord>();
  auto record = codec::decode_tag(**raw);
  if (!record) return CacheErrc::kCorruptRecord;
  return record;
}

Result<void> RocksMetadataStore::put_tag(const TagKey& key, const TagRecord& record) {
  return put(codec::tag_key(key), codec::encode(record));
}

Result<void> RocksMetadataStore::delete_tag(const TagKey& key) {
  auto status = db_->Delete(rocksdb::WriteOptions(), codec::tag_key(key));
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<std::vector<std::string>> RocksMetadataStore::list_tags(const std::string& registry,
                                                               const std::string& repository) {
  auto prefix = codec::tag_prefix(registry, repository);
  std::vector<std::string> tags;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    tags.emplace_back(it->key().ToString().substr(prefix.size()));
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  return tags;  // RocksDB iterates in key order, so the tags are sorted
}

}  // namespace regmirror::cache
