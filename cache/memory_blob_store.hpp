#pragma once
// Blobs in memory, with the same contract as FsBlobStore (tests, and the conformance suite).
#include <map>
#include <mutex>
#include <string>

#include "cache/blob_store.hpp"

namespace regmirror::cache {

class MemoryBlobStore final : public BlobStore {
 public:
  Result<std::unique_ptr<BlobReader>> open(const Digest& digest) override;
  Result<BlobInfo> stat(const Digest& digest) override;
  Result<std::unique_ptr<BlobWriter>> begin_write(
      const Digest& expected, std::optional<std::uint64_t> expected_size) override;
  Result<void> remove(const Digest& digest) override;
  Result<void> for_each(const std::function<void(const Digest&, const BlobInfo&)>& fn) override;

  // Test hook: replaces stored bytes without verification, to simulate on-disk corruption.
  void corrupt(const Digest& digest, std::string bytes);

 private:
  friend class MemoryBlobWriter;
  void put(const Digest& digest, std::shared_ptr<const std::string> bytes);

  std::mutex mutex_;
  std::map<Digest, std::shared_ptr<const std::string>> blobs_;
};

}  // namespace regmirror::cache
