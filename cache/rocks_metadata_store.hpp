#pragma once
// MetadataStore on RocksDB (<data_dir>/index). Keys: "m\0<digest>" and
// "t\0<registry>\0<repository>\0<tag>", pins "p\0<reference>", blob records "b\0<digest>",
// the same records in last-use order "a\0<be64 time><digest>" and their totals "u\0blob_usage",
// referrers "r\0<subject>\0<referrer>";
// values are small JSON documents.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "cache/metadata_store.hpp"

namespace rocksdb {
class DB;
class WriteBatch;
}

namespace regmirror::cache {

class RocksMetadataStore final : public MetadataStore {
 public:
  // Opens or creates the index. A database that will not open is reported with RocksDB's own
  // words in `error_detail` and left exactly as it was: never wiped, never "repaired" silently.
  static Result<std::unique_ptr<RocksMetadataStore>> open_at(const std::filesystem::path& dir,
                                                             std::string* error_detail);
  ~RocksMetadataStore() override;

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
  explicit RocksMetadataStore(std::unique_ptr<rocksdb::DB> db);
  Result<std::optional<std::string>> get(const std::string& key);
  Result<void> put(const std::string& key, const std::string& value);
  // Calls fn(key, value) for every key starting with `prefix`, in key order.
  Result<void> scan(const std::string& prefix,
                    const std::function<bool(const std::string&, const std::string&)>& fn);
  // Blob records: the record, its age key and the totals change in one batch.
  void stage_blob(rocksdb::WriteBatch& batch, BlobUsage& usage, const std::string& digest,
                  const std::optional<BlobRecord>& before, const std::optional<BlobRecord>& after);
  Result<void> commit_blobs(rocksdb::WriteBatch& batch, const BlobUsage& usage);
  Result<void> load_blob_usage();
  std::mutex blob_mutex_;  // blob record writes are read-modify-write, totals included
  BlobUsage usage_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace regmirror::cache
