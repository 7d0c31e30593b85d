// Request targets (proxy/registry/request_target.hpp): the first thing a client controls.
// Properties: the name and reference are substrings of the path; a route's reference holds no
// '/' for blobs and referrers only if the path holds none after the marker; percent_decode
// inverts a full %XX encoding of any byte string and never grows its input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/registry/request_target.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace regmirror::proxy::registry;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto target = parse_request_target(input);
  auto path = input.substr(0, input.find('?'));
  FUZZ_CHECK(path.find(target.name) != std::string_view::npos);
  FUZZ_CHECK(path.find(target.reference) != std::string_view::npos);
  switch (target.kind) {
    case RouteKind::kManifest:
    case RouteKind::kBlob:
    case RouteKind::kReferrers:
    case RouteKind::kTagsList:
      FUZZ_CHECK(path.substr(0, 4) == "/v2/");
      break;
    default:
      break;
  }
  FUZZ_CHECK(target.ns.size() <= size);
  (void)route_name(target.kind);

  auto decoded = percent_decode(input);
  if (decoded) FUZZ_CHECK(decoded->size() <= size);

  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(size * 3);
  for (std::size_t i = 0; i < size; ++i) {
    encoded.push_back('%');
    encoded.push_back(kHex[data[i] >> 4]);
    encoded.push_back(kHex[data[i] & 0xF]);
  }
  auto round = percent_decode(encoded);
  FUZZ_CHECK(round && *round == input);
  return 0;
}
