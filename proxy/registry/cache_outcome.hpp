#pragma once
// What the cache did for a response: the X-Cache header and the metrics label.
#include <string_view>

namespace regmirror::proxy::registry {

enum class CacheOutcome { kNone, kHit, kMiss, kStale };

inline std::string_view x_cache_value(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kHit:
      return "HIT";
    case CacheOutcome::kMiss:
      return "MISS";
    case CacheOutcome::kStale:
      return "STALE";
    case CacheOutcome::kNone:
      break;
  }
  return "";
}

inline std::string_view outcome_label(CacheOutcome outcome) {
  switch (outcome) {
    case CacheOutcome::kHit:
      return "hit";
    case CacheOutcome::kMiss:
      return "miss";
    case CacheOutcome::kStale:
      return "stale";
    case CacheOutcome::kNone:
      break;
  }
  return "none";
}

}  // namespace regmirror::proxy::registry
