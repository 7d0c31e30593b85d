#pragma once
// Keeps the blob store under its byte budget: persists the last-use times collected by the
// AccessTracker, then removes least-recently-used blobs that are neither pinned nor referenced
// by a cached pinned manifest (EvictionPolicy decides, this applies).
//
// Thread-safe: run_once() calls are serialised; note_committed() may be called from any
// thread. Blocking (disk, RocksDB): never call run_once() on a network thread.
// A blob being read while it is removed keeps serving its reader (BlobStore contract).
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cache/blob_store.hpp"
#include "cache/digest.hpp"

namespace regmirror::cache {

class AccessTracker;
class MetadataStore;

struct EvictorOptions {
  std::uint64_t max_bytes = 0;        // max_cache_bytes; 0 disables eviction
  double low_watermark = 0.9;         // evict down to max_bytes * low_watermark
  std::int64_t min_idle_seconds = 0;  // blobs used more recently are left alone (EvictionPolicy)
};

struct EvictionReport {
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  std::uint64_t blob_count = 0;                           // blobs left
  std::vector<std::pair<Digest, std::uint64_t>> removed;  // digest, size
  std::string error;  // non-empty: the run stopped early (index or store failure)
};

class Evictor {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  Evictor(BlobStore& blobs, MetadataStore& metadata, AccessTracker& access, EvictorOptions options,
          Clock clock);

  // Drains the tracker into the index, then evicts when usage exceeds max_bytes.
  // `operator_request` (cache gc): also evicts blobs used within min_idle_seconds, because the
  // operator asked for the budget now; readers of a removed blob keep their bytes.
  EvictionReport run_once(bool operator_request = false);
  // Drains the tracker into the index only (cheap; e.g. before listing the cache).
  void flush_access();
  // Tells the evictor a blob of `bytes` was committed. Returns true exactly when this commit
  // made the estimated usage cross max_bytes: the caller should then schedule run_once().
  bool note_committed(std::uint64_t bytes);
  // Usage as of the last run plus what was committed since.
  std::uint64_t estimated_bytes() const { return estimate_.load(); }

 private:
  BlobStore& blobs_;
  MetadataStore& metadata_;
  AccessTracker& access_;
  EvictorOptions options_;
  Clock clock_;
  std::mutex run_mutex_;
  std::atomic<std::uint64_t> estimate_{0};
};

}  // namespace regmirror::cache
