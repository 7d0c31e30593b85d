// Digest::parse (cache/digest.hpp): the string that names files under blobs/ and is echoed in
// Docker-Content-Digest. Properties: accepted exactly when "sha256:" + 64 or "sha512:" + 128
// lowercase hex; the parsed digest prints back to the input; hashing the input gives a digest
// that parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cache/digest.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

bool oracle(std::string_view s) {
  std::size_t hex_len = 0;
  if (s.substr(0, 7) == "sha256:") {
    hex_len = 64;
  } else if (s.substr(0, 7) == "sha512:") {
    hex_len = 128;
  } else {
    return false;
  }
  if (s.size() != 7 + hex_len) return false;
  for (char c : s.substr(7)) {
    if (std::string_view("0123456789abcdef").find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using regmirror::cache::Digest;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto digest = Digest::parse(input);
  FUZZ_CHECK(digest.has_value() == oracle(input));
  if (digest) {
    FUZZ_CHECK(digest->str() == input);
    FUZZ_CHECK(std::string(digest->algorithm_name()) + ":" + std::string(digest->hex()) == input);
    FUZZ_CHECK(digest->hex().find('/') == std::string_view::npos);
  }
  auto hashed = regmirror::cache::digest_of(input);
  auto reparsed = Digest::parse(hashed.str());
  FUZZ_CHECK(reparsed && *reparsed == hashed);
  return 0;
}
