#include "cache/rocks_metadata_store.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

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

Result<void> RocksMetadataStore::scan(
    const std::string& prefix,
    const std::function<bool(const std::string&, const std::string&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!fn(it->key().ToString(), it->value().ToString())) return CacheErrc::kCorruptRecord;
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<std::vector<TagEntry>> RocksMetadataStore::list_all_tags() {
  std::vector<TagEntry> out;
  auto scanned = scan(codec::all_tags_prefix(), [&](const std::string& key, const std::string& value) {
    auto tag_key = codec::parse_tag_key(key);
    auto record = codec::decode_tag(value);
    if (!tag_key || !record) return false;
    out.push_back(TagEntry{std::move(*tag_key), std::move(*record)});
    return true;
  });
  if (!scanned) return scanned.error();
  return out;
}

Result<std::optional<PinRecord>> RocksMetadataStore::get_pin(const std::string& ref) {
  auto raw = get(codec::pin_key(ref));
  if (!raw) return raw.error();
  if (!*raw) return std::optional<PinRecord>();
  auto record = codec::decode_pin(**raw);
  if (!record) return CacheErrc::kCorruptRecord;
  return record;
}

Result<void> RocksMetadataStore::put_pin(const std::string& ref, const PinRecord& record) {
  return put(codec::pin_key(ref), codec::encode(record));
}

Result<void> RocksMetadataStore::delete_pin(const std::string& ref) {
  auto status = db_->Delete(rocksdb::WriteOptions(), codec::pin_key(ref));
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<std::vector<std::pair<std::string, PinRecord>>> RocksMetadataStore::list_pins() {
  std::vector<std::pair<std::string, PinRecord>> out;
  auto prefix = codec::pin_prefix();
  auto scanned = scan(prefix, [&](const std::string& key, const std::string& value) {
    auto record = codec::decode_pin(value);
    if (!record) return false;
    out.emplace_back(key.substr(prefix.size()), std::move(*record));
    return true;
  });
  if (!scanned) return scanned.error();
  return out;
}

Result<std::optional<BlobRecord>> RocksMetadataStore::get_blob_record(const Digest& digest) {
  auto raw = get(codec::blob_key(digest));
  if (!raw) return raw.error();
  if (!*raw) return std::optional<BlobRecord>();
  auto record = codec::decode_blob(**raw);
  if (!record) return CacheErrc::kCorruptRecord;
  return record;
}

Result<void> RocksMetadataStore::put_blob_record(const Digest& digest, const BlobRecord& record) {
  return put(codec::blob_key(digest), codec::encode(record));
}

Result<void> RocksMetadataStore::record_access(
    const std::vector<std::pair<Digest, std::int64_t>>& accesses) {
  std::lock_guard lock(access_mutex_);
  rocksdb::WriteBatch batch;
  for (const auto& [digest, when] : accesses) {
    auto existing = get_blob_record(digest);
    BlobRecord record;
    if (existing && *existing) record = **existing;  // a corrupt record is rewritten
    if (record.last_access >= when && existing && *existing) continue;
    record.last_access = std::max(record.last_access, when);
    batch.Put(codec::blob_key(digest), codec::encode(record));
  }
  auto status = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<void> RocksMetadataStore::delete_blob_record(const Digest& digest) {
  auto status = db_->Delete(rocksdb::WriteOptions(), codec::blob_key(digest));
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<std::vector<std::pair<Digest, BlobRecord>>> RocksMetadataStore::list_blob_records() {
  std::vector<std::pair<Digest, BlobRecord>> out;
  auto prefix = codec::blob_prefix();
  auto scanned = scan(prefix, [&](const std::string& key, const std::string& value) {
    auto digest = Digest::parse(key.substr(prefix.size()));
    auto record = codec::decode_blob(value);
    if (!digest || !record) return false;
    out.emplace_back(std::move(*digest), *record);
    return true;
  });
  if (!scanned) return scanned.error();
  return out;
}

Result<void> RocksMetadataStore::apply_import(const ImportBatch& import) {
  rocksdb::WriteBatch batch;
  for (const auto& [digest, record] : import.manifests) {
    batch.Put(codec::manifest_key(digest), codec::encode(record));
  }
  for (const auto& entry : import.tags) batch.Put(codec::tag_key(entry.key), codec::encode(entry.record));
  for (const auto& [ref, record] : import.pins) batch.Put(codec::pin_key(ref), codec::encode(record));
  // An import is rare and expensive to repeat: make it durable before saying it is done.
  rocksdb::WriteOptions options;
  options.sync = true;
  auto status = db_->Write(options, &batch);
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

}  // namespace regmirror::cache
