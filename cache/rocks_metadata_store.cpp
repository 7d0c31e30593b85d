#include "cache/rocks_metadata_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
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
  // Memory stays flat whatever the index holds: small memtables, a small block cache.
  options.write_buffer_size = 8 << 20;
  options.max_write_buffer_number = 2;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(8 << 20);
  // Point lookups (every blob and tag read) skip the files that cannot hold the key.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(options, dir.string(), &raw);
  if (!status.ok()) {
    if (error_detail != nullptr) *error_detail = status.ToString();
    return CacheErrc::kIndexUnavailable;
  }
  std::unique_ptr<RocksMetadataStore> store(
      new RocksMetadataStore(std::unique_ptr<rocksdb::DB>(raw)));
  if (auto loaded = store->load_blob_usage(); !loaded) {
    if (error_detail != nullptr) *error_detail = "reading blob usage totals: " + loaded.error().message();
    return loaded.error();
  }
  return store;
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

void RocksMetadataStore::stage_blob(rocksdb::WriteBatch& batch, BlobUsage& usage,
                                    const std::string& digest,
                                    const std::optional<BlobRecord>& before,
                                    const std::optional<BlobRecord>& after) {
  if (before) {
    batch.Delete(codec::age_key(before->last_access, digest));
    usage.bytes -= std::min(usage.bytes, before->size);
    usage.count -= std::min<std::uint64_t>(usage.count, 1);
  }
  if (after) {
    auto encoded = codec::encode(*after);
    batch.Put(codec::blob_prefix() + digest, encoded);
    batch.Put(codec::age_key(after->last_access, digest), encoded);
    usage.bytes += after->size;
    usage.count += 1;
  } else {
    batch.Delete(codec::blob_prefix() + digest);
  }
}

Result<void> RocksMetadataStore::commit_blobs(rocksdb::WriteBatch& batch, const BlobUsage& usage) {
  batch.Put(codec::blob_usage_key(), codec::encode(usage));
  auto status = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  usage_ = usage;
  return {};
}

Result<void> RocksMetadataStore::put_blob_record(const Digest& digest, const BlobRecord& record) {
  std::lock_guard lock(blob_mutex_);
  auto existing = get_blob_record(digest);
  std::optional<BlobRecord> before;
  if (existing) before = *existing;  // a corrupt record is overwritten; its age key is unknown
  rocksdb::WriteBatch batch;
  auto usage = usage_;
  stage_blob(batch, usage, digest.str(), before, record);
  return commit_blobs(batch, usage);
}

Result<void> RocksMetadataStore::record_committed(const Digest& digest, std::uint64_t size,
                                                  std::int64_t when) {
  std::lock_guard lock(blob_mutex_);
  auto existing = get_blob_record(digest);
  std::optional<BlobRecord> before;
  if (existing) before = *existing;
  BlobRecord after{size, std::max(when, before ? before->last_access : when)};
  if (before && before->size == after.size && before->last_access == after.last_access) return {};
  rocksdb::WriteBatch batch;
  auto usage = usage_;
  stage_blob(batch, usage, digest.str(), before, after);
  return commit_blobs(batch, usage);
}

Result<void> RocksMetadataStore::record_access(
    const std::vector<std::pair<Digest, std::int64_t>>& accesses) {
  std::lock_guard lock(blob_mutex_);
  rocksdb::WriteBatch batch;
  auto usage = usage_;
  for (const auto& [digest, when] : accesses) {
    auto existing = get_blob_record(digest);
    std::optional<BlobRecord> before;
    if (existing) before = *existing;  // a corrupt record is rewritten
    if (before && before->last_access >= when) continue;
    BlobRecord after = before.value_or(BlobRecord{});
    after.last_access = when;
    stage_blob(batch, usage, digest.str(), before, after);
  }
  if (batch.Count() == 0) return {};
  return commit_blobs(batch, usage);
}

Result<void> RocksMetadataStore::delete_blob_record(const Digest& digest) {
  std::lock_guard lock(blob_mutex_);
  auto existing = get_blob_record(digest);
  if (existing && !*existing) return {};
  std::optional<BlobRecord> before;
  if (existing) before = *existing;
  rocksdb::WriteBatch batch;
  auto usage = usage_;
  stage_blob(batch, usage, digest.str(), before, std::nullopt);
  return commit_blobs(batch, usage);
}

Result<BlobUsage> RocksMetadataStore::blob_usage() {
  std::lock_guard lock(blob_mutex_);
  return usage_;
}

Result<std::vector<std::pair<Digest, BlobRecord>>> RocksMetadataStore::oldest_blob_records(
    const std::optional<BlobAge>& after, std::size_t limit) {
  std::vector<std::pair<Digest, BlobRecord>> out;
  auto prefix = codec::age_prefix();
  auto from = after ? codec::age_key(after->last_access, after->digest) : prefix;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(from); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Next()) {
    if (after && it->key() == rocksdb::Slice(from)) continue;
    auto age = codec::parse_age_key(it->key().ToString());
    auto record = codec::decode_blob(it->value().ToString());
    if (!age || !record) return CacheErrc::kCorruptRecord;
    auto digest = Digest::parse(age->digest);
    if (!digest) return CacheErrc::kCorruptRecord;
    out.emplace_back(std::move(*digest), *record);
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  return out;
}

Result<std::vector<std::pair<Digest, BlobRecord>>> RocksMetadataStore::list_blob_records(
    const std::string& after, std::size_t limit) {
  std::vector<std::pair<Digest, BlobRecord>> out;
  auto prefix = codec::blob_prefix();
  auto from = prefix + after;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(from); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Next()) {
    if (!after.empty() && it->key() == rocksdb::Slice(from)) continue;
    auto digest = Digest::parse(it->key().ToString().substr(prefix.size()));
    auto record = codec::decode_blob(it->value().ToString());
    if (!digest || !record) return CacheErrc::kCorruptRecord;
    out.emplace_back(std::move(*digest), *record);
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  return out;
}

Result<std::vector<TagEntry>> RocksMetadataStore::list_tag_entries(
    const std::optional<TagKey>& after, std::size_t limit) {
  std::vector<TagEntry> out;
  auto prefix = codec::all_tags_prefix();
  auto from = after ? codec::tag_key(*after) : prefix;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(from); it->Valid() && it->key().starts_with(prefix) && out.size() < limit;
       it->Next()) {
    if (after && it->key() == rocksdb::Slice(from)) continue;
    auto key = codec::parse_tag_key(it->key().ToString());
    auto record = codec::decode_tag(it->value().ToString());
    if (!key || !record) return CacheErrc::kCorruptRecord;
    out.push_back(TagEntry{std::move(*key), std::move(*record)});
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  return out;
}

Result<void> RocksMetadataStore::load_blob_usage() {
  auto raw = get(codec::blob_usage_key());
  if (!raw) return raw.error();
  if (*raw) {
    auto usage = codec::decode_usage(**raw);
    if (!usage) return CacheErrc::kCorruptRecord;
    usage_ = *usage;
    return {};
  }
  // An index from before the age order and the totals: build both once, streaming.
  BlobUsage usage;
  rocksdb::WriteBatch batch;
  auto prefix = codec::blob_prefix();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto record = codec::decode_blob(it->value().ToString());
    auto digest = it->key().ToString().substr(prefix.size());
    if (!record) continue;  // left as it is: get_blob_record reports it, a write replaces it
    batch.Put(codec::age_key(record->last_access, digest), it->value());
    usage.bytes += record->size;
    usage.count += 1;
    if (batch.Count() >= 10'000) {
      if (!db_->Write(rocksdb::WriteOptions(), &batch).ok()) return CacheErrc::kIndexUnavailable;
      batch.Clear();
    }
  }
  if (!it->status().ok()) return CacheErrc::kIndexUnavailable;
  std::lock_guard lock(blob_mutex_);
  return commit_blobs(batch, usage);
}

Result<void> RocksMetadataStore::put_referrer(const Referrer& referrer) {
  return put(codec::referrer_key(referrer.subject, referrer.digest), codec::encode(referrer.record));
}

Result<std::vector<Referrer>> RocksMetadataStore::list_referrers(const Digest& subject) {
  std::vector<Referrer> out;
  auto prefix = codec::referrer_prefix(subject);
  auto scanned = scan(prefix, [&](const std::string& key, const std::string& value) {
    auto digest = Digest::parse(std::string_view(key).substr(prefix.size()));
    auto record = codec::decode_referrer(value);
    if (!digest || !record) return false;
    out.push_back(Referrer{subject, std::move(*digest), std::move(*record)});
    return true;
  });
  if (!scanned) return scanned.error();
  return out;
}

Result<void> RocksMetadataStore::record_repository_digests(const std::string& registry,
                                                           const std::string& repository,
                                                           const std::vector<Digest>& digests) {
  rocksdb::WriteBatch batch;
  for (const auto& digest : digests) {
    batch.Put(codec::repository_digest_key(registry, repository, digest), rocksdb::Slice());
  }
  if (!db_->Write(rocksdb::WriteOptions(), &batch).ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

Result<bool> RocksMetadataStore::repository_has_digest(const std::string& registry,
                                                       const std::string& repository,
                                                       const Digest& digest) {
  auto raw = get(codec::repository_digest_key(registry, repository, digest));
  if (!raw) return Result<bool>(boost::system::in_place_error, raw.error());
  return raw->has_value();
}

Result<void> RocksMetadataStore::apply_import(const ImportBatch& import) {
  rocksdb::WriteBatch batch;
  for (const auto& [digest, record] : import.manifests) {
    batch.Put(codec::manifest_key(digest), codec::encode(record));
  }
  for (const auto& entry : import.tags) batch.Put(codec::tag_key(entry.key), codec::encode(entry.record));
  for (const auto& [ref, record] : import.pins) batch.Put(codec::pin_key(ref), codec::encode(record));
  for (const auto& referrer : import.referrers) {
    batch.Put(codec::referrer_key(referrer.subject, referrer.digest), codec::encode(referrer.record));
  }
  // An import is rare and expensive to repeat: make it durable before saying it is done.
  rocksdb::WriteOptions options;
  options.sync = true;
  auto status = db_->Write(options, &batch);
  if (!status.ok()) return CacheErrc::kIndexUnavailable;
  return {};
}

}  // namespace regmirror::cache
