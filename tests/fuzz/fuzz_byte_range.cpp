// The Range header of blob requests (proxy/registry/byte_range.hpp). Input: 8 bytes of blob
// size (little-endian) followed by the header value. Properties: a partial range lies inside
// the blob, first <= last, and its length does not overflow.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "proxy/registry/byte_range.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using regmirror::proxy::registry::ByteRange;
  using regmirror::proxy::registry::parse_byte_range;
  if (size < 8) return 0;
  std::uint64_t blob_size = 0;
  std::memcpy(&blob_size, data, 8);
  // Half the inputs use a small size so the boundaries (0, 1, size-1) get exercised.
  if (blob_size & 1) blob_size = (blob_size >> 1) % 4096;
  std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  auto range = parse_byte_range(header, blob_size);
  switch (range.kind) {
    case ByteRange::Kind::kPartial:
      FUZZ_CHECK(blob_size > 0);
      FUZZ_CHECK(range.first <= range.last);
      FUZZ_CHECK(range.last < blob_size);
      FUZZ_CHECK(range.length() >= 1 && range.length() <= blob_size);
      break;
    case ByteRange::Kind::kWhole:
    case ByteRange::Kind::kUnsatisfiable:
    case ByteRange::Kind::kMalformed:
      break;
  }
  return 0;
}
