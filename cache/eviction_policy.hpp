#pragma once
// Which blobs to evict: a pure function of the blobs' sizes, last uses and protection, so it can
// be tested without a disk or a clock. Least recently used first; ties go to the larger blob
// (fewer removals for the same room), then the digest (a stable, reproducible order).
#include <cstdint>
#include <vector>

#include "cache/digest.hpp"

namespace regmirror::cache {

struct EvictionCandidate {
  Digest digest;
  std::uint64_t size = 0;
  std::int64_t last_use = 0;  // unix seconds; 0 = never recorded
  bool protected_ = false;    // pinned, or referenced by a cached pinned manifest
};

struct EvictionPolicyOptions {
  std::uint64_t max_bytes = 0;        // the budget; 0 = unlimited (nothing is ever evicted)
  double low_watermark = 0.9;         // once over budget, evict down to max_bytes * low_watermark
  std::int64_t min_idle_seconds = 0;  // blobs used more recently than this are left alone
};

struct EvictionPlan {
  std::vector<Digest> victims;  // in eviction order
  std::uint64_t bytes_before = 0;
  std::uint64_t bytes_after = 0;  // may still exceed the budget when the rest is protected
};

class EvictionPolicy {
 public:
  explicit EvictionPolicy(EvictionPolicyOptions options) : options_(options) {}

  // `now`: unix seconds (injected; only min_idle_seconds uses it). Never picks a protected blob.
  EvictionPlan plan(std::vector<EvictionCandidate> blobs, std::int64_t now) const;

 private:
  EvictionPolicyOptions options_;
};

}  // namespace regmirror::cache
