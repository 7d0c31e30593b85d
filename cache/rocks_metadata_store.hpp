#pragma once
// MetadataStore on RocksDB (<data_dir>/index). Keys: "m\0<digest>" and
// "t\0<registry>\0<repository>\0<tag>", pins "p\0<reference>", blob records "b\0<digest>";
// values are small JSON documents.
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>

#include "cache/metadata_store.hpp"

namespace rocksdb {
class DB;
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
  explicit RocksMetadataStore(std::unique_ptr<rocksdb::DB> db);
  Result<std::optional<std::string>> get(const std::string& key);
  Result<void> put(const std::string& key, const std::string& value);
  // Calls fn(key, value) for every key starting with `prefix`, in key order.
  Result<void> scan(const std::string& prefix,
                    const std::function<bool(const std::string&, const std::string&)>& fn);
  std::mutex access_mutex_;  // record_access is read-modify-write
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace regmirror::cache
