#pragma once
// The distribution-spec grammar for repository names, tags and registry hosts. Anything that
// fails these checks is answered by the mirror itself and never reaches a path or an upstream.
#include <string_view>

namespace regmirror::config {

inline constexpr std::size_t kMaxRepositoryLength = 255;
inline constexpr std::size_t kMaxTagLength = 128;

// path-component ("/" path-component)*, path-component = [a-z0-9]+ (separator [a-z0-9]+)*,
// separator = "." | "_" | "__" | "-"+ ; at most 255 characters in all.
bool is_valid_repository(std::string_view name);

// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
bool is_valid_tag(std::string_view tag);

// host[:port] where host is a DNS name or IPv4 address (as used in image references and ?ns=).
bool is_valid_registry_host(std::string_view host);

// The value of one hex digit (either case), -1 for anything else: percent-decoding of request
// targets and of XML character references.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace regmirror::config
