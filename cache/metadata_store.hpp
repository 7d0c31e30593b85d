#pragma once
// The index next to the blobs: which media type a manifest digest has, and what each tag
// pointed to when it was last fetched or validated.
//
// Contract: thread-safe; calls block on disk (call them off the network threads); a record
// that cannot be decoded is reported as CacheErrc::kCorruptRecord, never silently dropped.
#include <boost/system/result.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache/digest.hpp"

namespace regmirror::cache {

template <class T>
using Result = boost::system::result<T>;

struct ManifestRecord {
  std::string media_type;
  std::uint64_t size = 0;
};

struct TagKey {
  std::string registry;    // canonical registry name ("docker.io")
  std::string repository;  // client's repository ("library/alpine")
  std::string tag;
};

struct TagRecord {
  std::string digest;  // "sha256:..."
  std::string media_type;
  std::uint64_t size = 0;
  std::int64_t fetched_at = 0;    // unix seconds: when the manifest was last downloaded
  std::int64_t validated_at = 0;  // unix seconds: when an upstream last confirmed the digest
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  virtual Result<std::optional<ManifestRecord>> get_manifest(const Digest& digest) = 0;
  virtual Result<void> put_manifest(const Digest& digest, const ManifestRecord& record) = 0;

  virtual Result<std::optional<TagRecord>> get_tag(const TagKey& key) = 0;
  virtual Result<void> put_tag(const TagKey& key, const TagRecord& record) = 0;
  virtual Result<void> delete_tag(const TagKey& key) = 0;
  // Tags of one repository, sorted (the offline answer to tags/list).
  virtual Result<std::vector<std::string>> list_tags(const std::string& registry,
                                                     const std::string& repository) = 0;
};

}  // namespace regmirror::cache
