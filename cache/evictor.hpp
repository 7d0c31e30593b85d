#pragma once
// Keeps the blob store under its byte budget. The index holds every blob's size and last use in
// least-recently-used order with running totals (MetadataStore), so a pass reads the totals and
// then only the oldest records it needs: its time and memory do not grow with the cache.
// Blobs that are pinned, or referenced by a cached pinned manifest, are never removed.
//
// Thread-safe: run_once() and reconcile() calls are serialised; note_committed() may be called
// from any thread. Every call blocks on the index: never call one on a network thread.
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
  std::int64_t min_idle_seconds = 0;  // blobs used more recently are left alone
};

struct EvictionReport {
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;
  std::uint64_t blob_count = 0;                           // blobs left
  std::vector<std::pair<Digest, std::uint64_t>> removed;  // digest, size, in eviction order
  std::uint64_t records_read = 0;                         // index records the pass looked at
  std::string error;  // non-empty: the run stopped early (index or store failure)
};

struct ReconcileReport {
  std::uint64_t files = 0;            // blob files seen
  std::uint64_t added = 0;            // files the index did not know (start ageing now)
  std::uint64_t resized = 0;          // records whose size was wrong or unknown
  std::uint64_t orphans_removed = 0;  // records of blobs no longer stored
  std::string error;
};

class Evictor {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  Evictor(BlobStore& blobs, MetadataStore& metadata, AccessTracker& access, EvictorOptions options,
          Clock clock);

  // Drains the tracker into the index, then, when usage exceeds max_bytes, removes the least
  // recently used unprotected blobs until usage is at max_bytes * low_watermark.
  // `operator_request` (cache gc): also evicts blobs used within min_idle_seconds, because the
  // operator asked for the budget now; readers of a removed blob keep their bytes.
  EvictionReport run_once(bool operator_request = false);
  // Brings the index in line with the files, streaming both (memory stays flat): files the index
  // does not know get a record that starts ageing now, wrong sizes are corrected, records of
  // blobs gone for over an hour are dropped. Run at start-up in the background, serving meanwhile.
  ReconcileReport reconcile();
  // Drains the tracker into the index only (cheap; e.g. before listing the cache).
  void flush_access();
  // Records that a blob of `bytes` was committed now. Returns true exactly when this commit made
  // usage cross max_bytes: the caller should then schedule run_once().
  bool note_committed(const Digest& digest, std::uint64_t bytes);
  // Usage as of the last index read.
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
