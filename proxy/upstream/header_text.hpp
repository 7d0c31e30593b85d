#pragma once
// Text helpers for HTTP header lines as libcurl hands them over (registry and S3 clients).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace regmirror::proxy::upstream {

// ASCII lower case (header names compare case-insensitively).
std::string to_lower(std::string_view text);
// Without leading spaces/tabs and trailing spaces/tabs/CR/LF.
std::string_view trim_header_value(std::string_view text);

using HeaderFields = std::vector<std::pair<std::string, std::string>>;

enum class HeaderLine { kStatus, kField, kEndOfHead };

// Applies one raw line from libcurl's header callback: a status line ("HTTP/1.1 200 OK", also
// each 1xx and each redirect hop) sets `status` and clears `fields`; a field is appended with
// its name lower-cased; an empty line ends the head. Never throws on garbage (it is ignored).
HeaderLine apply_header_line(std::string_view line, long& status, HeaderFields& fields);

}  // namespace regmirror::proxy::upstream
