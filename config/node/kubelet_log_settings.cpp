#include "config/node/kubelet_log_settings.hpp"

#include <charconv>

namespace regmirror::config::node {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == ',')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view unquote(std::string_view s) {
  if (auto hash = s.find(" #"); hash != std::string_view::npos) s = trim(s.substr(0, hash));
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  return s;
}

// `key: value` (YAML, top level) or `"key": value` (JSON, any indentation).
bool match_key(std::string_view line, std::string_view key, std::string_view& value) {
  std::string_view l = line;
  const bool indented = !l.empty() && (l.front() == ' ' || l.front() == '\t');
  l = trim(l);
  bool quoted = false;
  if (l.starts_with('"')) {
    l.remove_prefix(1);
    quoted = true;
  }
  if (!l.starts_with(key)) return false;
  l.remove_prefix(key.size());
  if (quoted) {
    if (!l.starts_with('"')) return false;
    l.remove_prefix(1);
  } else if (indented) {
    return false;  // a nested YAML key of the same name is not the kubelet's
  }
  l = trim(l);
  if (!l.starts_with(':')) return false;
  value = unquote(trim(l.substr(1)));
  return true;
}

}  // namespace

KubeletLogSettings read_kubelet_log_settings(std::string_view text) {
  KubeletLogSettings settings;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    std::string_view value;
    if (match_key(line, "containerLogMaxSize", value) && !value.empty()) {
      settings.container_log_max_size = std::string(value);
      settings.max_size_from_file = true;
    } else if (match_key(line, "containerLogMaxFiles", value)) {
      int n = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && ptr == value.data() + value.size()) {
        settings.container_log_max_files = n;
        settings.max_files_from_file = true;
      }
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return settings;
}

}  // namespace regmirror::config::node
