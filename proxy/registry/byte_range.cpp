#include "proxy/registry/byte_range.hpp"

#include <charconv>
#include <optional>

namespace regmirror::proxy::registry {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Digits only (no sign, no spaces inside), no overflow.
std::optional<std::uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

ByteRange parse_byte_range(std::string_view header, std::uint64_t size) {
  using Kind = ByteRange::Kind;
  header = trim(header);
  if (header.empty()) return {};
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || header.substr(0, kUnit.size()) != kUnit) {
    return {Kind::kMalformed};
  }
  auto spec = trim(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return {Kind::kWhole};
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return {Kind::kMalformed};
  auto first_text = trim(spec.substr(0, dash));
  auto last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {
    auto suffix = parse_number(last_text);
    if (!suffix) return {Kind::kMalformed};
    if (*suffix == 0 || size == 0) return {Kind::kUnsatisfiable};
    auto length = std::min(*suffix, size);
    return {Kind::kPartial, size - length, size - 1};
  }
  auto first = parse_number(first_text);
  if (!first) return {Kind::kMalformed};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    auto parsed = parse_number(last_text);
    if (!parsed || *parsed < *first) return {Kind::kMalformed};
    last = std::min(*parsed, last);
  }
  if (*first >= size) return {Kind::kUnsatisfiable};
  return {Kind::kPartial, *first, last};
}

}  // namespace regmirror::proxy::registry
