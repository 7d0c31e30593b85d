// WWW-Authenticate challenges from upstreams (proxy/upstream/www_authenticate.hpp): bytes from
// any registry on the internet. Properties: never throws, terminates, schemes are non-empty
// lower-case tokens, parameter names are lower-case.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/upstream/www_authenticate.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto challenges = regmirror::proxy::upstream::parse_www_authenticate(input);
  FUZZ_CHECK(challenges.size() <= size);
  std::size_t param_bytes = 0;
  for (const auto& challenge : challenges) {
    FUZZ_CHECK(!challenge.scheme.empty());
    for (char c : challenge.scheme) {
      FUZZ_CHECK(std::tolower(static_cast<unsigned char>(c)) == static_cast<unsigned char>(c));
    }
    for (const auto& [key, value] : challenge.params) {
      FUZZ_CHECK(!key.empty());
      for (char c : key) {
        FUZZ_CHECK(std::tolower(static_cast<unsigned char>(c)) == static_cast<unsigned char>(c));
      }
      param_bytes += key.size() + value.size();
    }
    (void)challenge.param("realm");
  }
  FUZZ_CHECK(param_bytes <= size);  // unquoting never invents bytes
  return 0;
}
