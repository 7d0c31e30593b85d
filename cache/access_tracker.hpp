#pragma once
// Last-use times of blobs and manifests, recorded on the serving path without touching the
// disk: touch() is a short critical section on an in-memory map; drain() hands the batch to
// whoever persists it (eviction bookkeeping), off the network threads.
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/digest.hpp"

namespace regmirror::cache {

class AccessTracker {
 public:
  void touch(const Digest& digest, std::int64_t now_seconds);
  // Everything touched since the last drain, latest time per digest.
  std::vector<std::pair<Digest, std::int64_t>> drain();

 private:
  std::mutex mutex_;
  std::unordered_map<Digest, std::int64_t> pending_;
};

}  // namespace regmirror::cache
