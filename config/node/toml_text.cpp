#include "config/node/toml_text.hpp"

#include <cctype>
#include <cstdio>

namespace regmirror::config::node {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool bare_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

// Parses one key segment at s[pos]; advances pos. Handles bare, "basic" and 'literal' keys.
std::optional<std::string> parse_key_segment(std::string_view s, size_t& pos) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  if (pos >= s.size()) return std::nullopt;
  std::string out;
  if (s[pos] == '"' || s[pos] == '\'') {
    const char quote = s[pos++];
    while (pos < s.size() && s[pos] != quote) {
      if (quote == '"' && s[pos] == '\\' && pos + 1 < s.size()) ++pos;
      out += s[pos++];
    }
    if (pos >= s.size()) return std::nullopt;
    ++pos;
  } else {
    while (pos < s.size() && bare_key_char(s[pos])) out += s[pos++];
    if (out.empty()) return std::nullopt;
  }
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  return out;
}

std::optional<std::vector<std::string>> parse_dotted_key(std::string_view s, size_t& pos) {
  std::vector<std::string> parts;
  for (;;) {
    auto seg = parse_key_segment(s, pos);
    if (!seg) return std::nullopt;
    parts.push_back(std::move(*seg));
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      continue;
    }
    return parts;
  }
}

}  // namespace

std::string toml_quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

bool toml_is_any_header(std::string_view line) {
  line = trim(line);
  return line.starts_with('[');
}

std::optional<std::vector<std::string>> toml_table_header(std::string_view line) {
  line = trim(line);
  if (!line.starts_with('[') || line.starts_with("[[")) return std::nullopt;
  size_t pos = 1;
  auto parts = parse_dotted_key(line, pos);
  if (!parts || pos >= line.size() || line[pos] != ']') return std::nullopt;
  std::string_view rest = trim(line.substr(pos + 1));
  if (!rest.empty() && !rest.starts_with('#')) return std::nullopt;
  return parts;
}

std::optional<std::vector<std::string>> toml_key(std::string_view line) {
  line = trim(line);
  if (line.empty() || line.starts_with('#') || line.starts_with('[')) return std::nullopt;
  size_t pos = 0;
  auto parts = parse_dotted_key(line, pos);
  if (!parts || pos >= line.size() || line[pos] != '=') return std::nullopt;
  return parts;
}

std::optional<std::string> toml_string_value(std::string_view line) {
  line = trim(line);
  auto eq = line.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::string_view v = trim(line.substr(eq + 1));
  if (v.empty() || (v.front() != '"' && v.front() != '\'')) return std::nullopt;
  size_t pos = 0;
  auto parsed = parse_key_segment(v, pos);  // same quoting rules as quoted keys
  return parsed;
}

}  // namespace regmirror::config::node
