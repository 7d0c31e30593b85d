#pragma once
// What an admin job hands back (a status and a JSON document), the error shape every admin
// answer shares ({"error": "..."}), and the small parsers of request targets the jobs use.
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace regmirror::proxy::admin {

struct Reply {
  boost::beast::http::status status = boost::beast::http::status::ok;
  nlohmann::json body;
};

Reply fail(boost::beast::http::status status, std::string message);
// 413 naming the limit that was exceeded.
Reply too_large(const char* what, std::uint64_t length, const char* limit_name,
                std::uint64_t limit);
bool disk_full(const boost::system::error_code& ec);

// The percent-decoded value of `name` in the target's query; nullopt when absent.
std::optional<std::string> query_param(std::string_view target, std::string_view name);
// A decimal count of at most 9 digits; nullopt otherwise.
std::optional<std::size_t> parse_count(const std::string& text);

}  // namespace regmirror::proxy::admin
