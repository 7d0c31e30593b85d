#pragma once
// Text helpers for HTTP header lines as libcurl hands them over (registry and S3 clients).
#include <string>
#include <string_view>

namespace regmirror::proxy::upstream {

// ASCII lower case (header names compare case-insensitively).
std::string to_lower(std::string_view text);
// Without leading spaces/tabs and trailing spaces/tabs/CR/LF.
std::string_view trim_header_value(std::string_view text);

}  // namespace regmirror::proxy::upstream
