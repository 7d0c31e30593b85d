#pragma once
// A non-negative decimal in an HTTP field or query value (Content-Length, Retry-After, ?n=):
// digits only, no sign, no spaces, at most `max_digits` of them (19 always fits in 64 bits).
// nullopt for anything else, so callers decide what a malformed value means for them.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace regmirror::proxy::server {

inline std::optional<std::uint64_t> parse_decimal_field(std::string_view text,
                                                        std::size_t max_digits = 19) {
  if (text.empty() || text.size() > max_digits || max_digits > 19) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace regmirror::proxy::server
