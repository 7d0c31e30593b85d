#pragma once
// The index next to the blobs: which media type a manifest digest has, what each tag pointed
// to when it was last fetched or validated, which references are pinned, which cached
// manifests name another as their `subject` (the referrers API), and each blob's size and last
// use (eviction bookkeeping).
//
// Contract: thread-safe; calls block on disk (call them off the network threads); a record
// that cannot be decoded is reported as CacheErrc::kCorruptRecord, never silently dropped.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cache/digest.hpp"
#include "config/result.hpp"

namespace regmirror::cache {

using regmirror::Result;  // cache::Result<T>: errors are CacheErrc (cache_error.hpp) or errno

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

// Last use of a blob (or manifest) for LRU eviction. `size` is 0 when only the access is known.
struct BlobRecord {
  std::uint64_t size = 0;
  std::int64_t last_access = 0;  // unix seconds
};

// A pinned reference ("docker.io/library/alpine:3.19"): the digests it resolved to when it was
// pinned, manifests and blobs alike. Eviction never removes any of them.
struct BlobUsage {
  std::uint64_t bytes = 0;  // sum of the records' sizes
  std::uint64_t count = 0;  // number of records
};

// A position in the least-recently-used order of blob records.
struct BlobAge {
  std::int64_t last_access = 0;
  std::string digest;  // digest text
};

struct PinRecord {
  std::vector<std::string> digests;
  std::int64_t pinned_at = 0;  // unix seconds
};

struct TagEntry {
  TagKey key;
  TagRecord record;
};

// A cached manifest whose `subject` names another manifest (a signature, an SBOM, an
// attestation), as the referrers API lists it: the descriptor of the referrer.
struct ReferrerRecord {
  std::string media_type;  // the referrer's own media type
  std::uint64_t size = 0;
  // Its artifactType; for an image manifest without one, its config's mediaType; "" for an
  // index without one (the descriptor then omits it).
  std::string artifact_type;
  std::map<std::string, std::string> annotations;
};

struct Referrer {
  Digest subject;  // the manifest referred to
  Digest digest;   // the referrer manifest
  ReferrerRecord record;
};

// Everything an offline bundle adds to the index, written in one atomic batch.
struct ImportBatch {
  std::vector<std::pair<Digest, ManifestRecord>> manifests;
  std::vector<TagEntry> tags;
  std::vector<std::pair<std::string, PinRecord>> pins;
  std::vector<Referrer> referrers;
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
  // Every tag of every repository, sorted by registry, repository, tag.
  virtual Result<std::vector<TagEntry>> list_all_tags() = 0;
  // Up to `limit` tags in that order, strictly after `after` (nullopt: from the first).
  virtual Result<std::vector<TagEntry>> list_tag_entries(const std::optional<TagKey>& after,
                                                         std::size_t limit) = 0;

  virtual Result<std::optional<PinRecord>> get_pin(const std::string& ref) = 0;
  virtual Result<void> put_pin(const std::string& ref, const PinRecord& record) = 0;
  virtual Result<void> delete_pin(const std::string& ref) = 0;  // absent: not an error
  // Every pin, sorted by reference.
  virtual Result<std::vector<std::pair<std::string, PinRecord>>> list_pins() = 0;

  // Blob records (eviction bookkeeping). Every store keeps them in two orders, by digest and by
  // last use, plus running totals, so eviction and listing read only what they need: memory and
  // time per call do not depend on how many blobs are cached.
  virtual Result<std::optional<BlobRecord>> get_blob_record(const Digest& digest) = 0;
  // Writes the record exactly as given (size and last use).
  virtual Result<void> put_blob_record(const Digest& digest, const BlobRecord& record) = 0;
  // A blob of `size` bytes was committed at `when`: sets the size, raises last_access.
  virtual Result<void> record_committed(const Digest& digest, std::uint64_t size,
                                        std::int64_t when) = 0;
  // Raises each digest's last_access to the given time (never lowers it); creates records with
  // size 0 for digests not seen before. One batch, atomic.
  virtual Result<void> record_access(const std::vector<std::pair<Digest, std::int64_t>>& accesses) = 0;
  virtual Result<void> delete_blob_record(const Digest& digest) = 0;  // absent: not an error
  // Sum of the sizes and number of the blob records: O(1).
  virtual Result<BlobUsage> blob_usage() = 0;
  // Up to `limit` records in least-recently-used order (last_access, then digest), strictly
  // after `after` (nullopt: from the oldest).
  virtual Result<std::vector<std::pair<Digest, BlobRecord>>> oldest_blob_records(
      const std::optional<BlobAge>& after, std::size_t limit) = 0;
  // Up to `limit` records sorted by digest, strictly after the digest text `after` ("": first).
  virtual Result<std::vector<std::pair<Digest, BlobRecord>>> list_blob_records(
      const std::string& after, std::size_t limit) = 0;

  // Referrers, keyed by subject digest then referrer digest. Putting the same pair again
  // replaces the record (the manifest behind a digest never changes, so neither does it).
  virtual Result<void> put_referrer(const Referrer& referrer) = 0;
  // Every referrer of `subject`, sorted by referrer digest; empty when none is known.
  virtual Result<std::vector<Referrer>> list_referrers(const Digest& subject) = 0;

  // Which repositories are known to hold a digest (blob or manifest): recorded when a manifest
  // of the repository is served, a blob is fetched for it, or an upstream confirms it. Consulted
  // only when clients are scoped (access.scopes): a cached digest is then served only through
  // the names of repositories that hold it.
  virtual Result<void> record_repository_digests(const std::string& registry,
                                                 const std::string& repository,
                                                 const std::vector<Digest>& digests) = 0;
  virtual Result<bool> repository_has_digest(const std::string& registry,
                                             const std::string& repository,
                                             const Digest& digest) = 0;

  // Writes every manifest record, tag, pin and referrer of the batch at once: readers see all
  // or none.
  virtual Result<void> apply_import(const ImportBatch& batch) = 0;
};

}  // namespace regmirror::cache
