#pragma once
// Blobs as files: <root>/blobs/<algorithm>/<hex[0:2]>/<hex>; writes go to <root>/tmp/ first
// and are fsynced and renamed into place on commit.
#include <filesystem>

#include "cache/blob_store.hpp"

namespace regmirror::cache {

class FsBlobStore final : public BlobStore {
 public:
  // Creates the directory tree. Leftover temp files (a crash mid-write) are removed here.
  static Result<std::unique_ptr<FsBlobStore>> open_at(const std::filesystem::path& root);

  Result<std::unique_ptr<BlobReader>> open(const Digest& digest) override;
  Result<BlobInfo> stat(const Digest& digest) override;
  Result<std::unique_ptr<BlobWriter>> begin_write(
      const Digest& expected, std::optional<std::uint64_t> expected_size) override;
  Result<void> remove(const Digest& digest) override;
  Result<void> for_each(const std::function<void(const Digest&, const BlobInfo&)>& fn) override;

  std::filesystem::path path_of(const Digest& digest) const;
  // How many temp files start-up removed (logged by the caller).
  std::size_t removed_temp_files() const { return removed_temp_files_; }

 private:
  explicit FsBlobStore(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
  std::size_t removed_temp_files_ = 0;
};

}  // namespace regmirror::cache
