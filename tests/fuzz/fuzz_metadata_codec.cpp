// The index record codec (cache/metadata_codec.hpp): bytes read back from RocksDB, which a
// crash, a disk error or an older version may have left in any state. Properties: decoding
// never throws; a decoded record encodes to bytes that decode to the same record; a decoded
// tag's digest parses.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cache/metadata_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace regmirror::cache;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (auto manifest = codec::decode_manifest(bytes)) {
    auto again = codec::decode_manifest(codec::encode(*manifest));
    FUZZ_CHECK(again && again->media_type == manifest->media_type && again->size == manifest->size);
  }
  if (auto tag = codec::decode_tag(bytes)) {
    FUZZ_CHECK(Digest::parse(tag->digest).has_value());
    auto again = codec::decode_tag(codec::encode(*tag));
    FUZZ_CHECK(again && again->digest == tag->digest && again->media_type == tag->media_type &&
               again->size == tag->size && again->fetched_at == tag->fetched_at &&
               again->validated_at == tag->validated_at);
  }
  return 0;
}
