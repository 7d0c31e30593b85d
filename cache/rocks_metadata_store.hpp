#pragma once
// MetadataStore on RocksDB (<data_dir>/index). Keys: "m\0<digest>" and
// "t\0<registry>\0<repository>\0<tag>"; values are small JSON documents.
#include <filesystem>
#include <memory>

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

 private:
  explicit RocksMetadataStore(std::unique_ptr<rocksdb::DB> db);
  Result<std::optional<std::string>> get(const std::string& key);
  Result<void> put(const std::string& key, const std::string& value);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace regmirror::cache
