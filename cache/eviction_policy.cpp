#include "cache/eviction_policy.hpp"

#include <algorithm>

namespace regmirror::cache {

EvictionPlan EvictionPolicy::plan(std::vector<EvictionCandidate> blobs, std::int64_t now) const {
  EvictionPlan plan;
  for (const auto& blob : blobs) plan.bytes_before += blob.size;
  plan.bytes_after = plan.bytes_before;
  if (options_.max_bytes == 0 || plan.bytes_before <= options_.max_bytes) return plan;

  double watermark = std::clamp(options_.low_watermark, 0.0, 1.0);
  auto target = static_cast<std::uint64_t>(static_cast<double>(options_.max_bytes) * watermark);
  std::sort(blobs.begin(), blobs.end(), [](const EvictionCandidate& a, const EvictionCandidate& b) {
    if (a.last_use != b.last_use) return a.last_use < b.last_use;
    if (a.size != b.size) return a.size > b.size;
    return a.digest < b.digest;
  });
  for (const auto& blob : blobs) {
    if (plan.bytes_after <= target) break;
    if (blob.protected_) continue;
    if (options_.min_idle_seconds > 0 && blob.last_use > now - options_.min_idle_seconds) continue;
    plan.victims.push_back(blob.digest);
    plan.bytes_after -= blob.size;
  }
  return plan;
}

}  // namespace regmirror::cache
