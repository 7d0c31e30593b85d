#include "proxy/upstream/header_text.hpp"

#include <cctype>
#include <cstdlib>

namespace regmirror::proxy::upstream {

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim_header_value(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

HeaderLine apply_header_line(std::string_view line, long& status, HeaderFields& fields) {
  if (line.rfind("HTTP/", 0) == 0) {
    fields.clear();
    auto space = line.find(' ');
    status =
        space == std::string_view::npos ? 0 : std::strtol(line.data() + space + 1, nullptr, 10);
    return HeaderLine::kStatus;
  }
  auto trimmed = trim_header_value(line);
  if (trimmed.empty()) return HeaderLine::kEndOfHead;
  if (auto colon = trimmed.find(':'); colon != std::string_view::npos) {
    fields.emplace_back(to_lower(trim_header_value(trimmed.substr(0, colon))),
                        std::string(trim_header_value(trimmed.substr(colon + 1))));
  }
  return HeaderLine::kField;
}

}  // namespace regmirror::proxy::upstream
