#pragma once
// The `Range` request header for blobs: one byte range, RFC 9110 syntax.
#include <cstdint>
#include <string_view>

namespace regmirror::proxy::registry {

struct ByteRange {
  enum class Kind {
    kWhole,          // no Range header, or several ranges (RFC 9110 lets us send 200 and all)
    kPartial,        // 206 with Content-Range: bytes first-last/size
    kUnsatisfiable,  // 416 with Content-Range: bytes */size
    kMalformed,      // 416 too: a client that sends garbage gets a clear error, not the blob
  };
  Kind kind = Kind::kWhole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive

  std::uint64_t length() const { return last - first + 1; }
};

// `header`: the Range value ("" when absent). `size`: the blob's full size.
// Accepts "bytes=N-M", "bytes=N-" (open-ended) and "bytes=-S" (suffix); clamps M to size-1.
ByteRange parse_byte_range(std::string_view header, std::uint64_t size);

}  // namespace regmirror::proxy::registry
