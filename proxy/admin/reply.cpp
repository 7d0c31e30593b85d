#include "proxy/admin/reply.hpp"

#include "proxy/registry/request_target.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Reply fail(http::status status, std::string message) {
  return Reply{status, json{{"error", std::move(message)}}};
}

Reply too_large(const char* what, std::uint64_t length, const char* limit_name,
                std::uint64_t limit) {
  return fail(http::status::payload_too_large,
              std::string(what) + " of " + std::to_string(length) + " bytes is over the " +
                  limit_name + " limit of " + std::to_string(limit) + " bytes");
}

bool disk_full(const boost::system::error_code& ec) {
  return ec == boost::system::errc::no_space_on_device;
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return registry::percent_decode(eq == std::string_view::npos ? std::string_view()
                                                         : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::size_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<std::size_t>(std::stoul(text));
}

}  // namespace regmirror::proxy::admin
