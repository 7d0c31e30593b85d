#include "cache/access_tracker.hpp"

namespace regmirror::cache {

void AccessTracker::touch(const Digest& digest, std::int64_t now_seconds) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = pending_.try_emplace(digest, now_seconds);
  if (!inserted && it->second < now_seconds) it->second = now_seconds;
}

std::vector<std::pair<Digest, std::int64_t>> AccessTracker::drain() {
  std::unordered_map<Digest, std::int64_t> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(pending_);
  }
  return {batch.begin(), batch.end()};
}

}  // namespace regmirror::cache
