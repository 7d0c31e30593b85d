// Manifest documents (cache/manifest_references.hpp): upstream bytes, parsed to pin, evict, seed,
// export and import whole images. Properties: never throws; every descriptor returned names a
// valid digest; an index lists no blobs and an image manifest no child manifests.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cache/manifest_references.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace regmirror::cache;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto refs = parse_manifest_references(body);
  if (!refs) return 0;
  for (const auto& d : refs->manifests) FUZZ_CHECK(Digest::parse(d.digest.str()).has_value());
  for (const auto& d : refs->blobs) FUZZ_CHECK(Digest::parse(d.digest.str()).has_value());
  if (refs->is_index) {
    FUZZ_CHECK(refs->blobs.empty());
  } else {
    FUZZ_CHECK(refs->manifests.empty());
  }
  (void)is_index_media_type(refs->media_type);
  return 0;
}
