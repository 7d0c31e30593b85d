#pragma once
// Wall-clock time in unix seconds: what the index records (fetched, validated, last use, pinned).
#include <chrono>
#include <cstdint>

namespace regmirror::proxy {

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace regmirror::proxy
