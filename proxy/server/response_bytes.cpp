#include "proxy/server/response_bytes.hpp"

#include <array>
#include <boost/beast/http/status.hpp>
#include <charconv>

namespace regmirror::proxy::server {

std::string serialized_response(const boost::beast::http::response_header<>& head,
                                std::string_view body) {
  auto reason = std::string_view(head.reason().data(), head.reason().size());
  if (reason.empty()) {
    auto standard = boost::beast::http::obsolete_reason(head.result());
    reason = std::string_view(standard.data(), standard.size());
  }
  std::size_t size = 32 + reason.size() + body.size();
  for (const auto& field : head) size += field.name_string().size() + field.value().size() + 4;
  std::string out;
  out.reserve(size);
  out.append(head.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  std::array<char, 16> code{};
  auto end = std::to_chars(code.data(), code.data() + code.size(), head.result_int()).ptr;
  out.append(code.data(), end);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\n");
  for (const auto& field : head) {
    out.append(field.name_string().data(), field.name_string().size());
    out.append(": ");
    out.append(field.value().data(), field.value().size());
    out.append("\r\n");
  }
  out.append("\r\n");
  out.append(body);
  return out;
}

}  // namespace regmirror::proxy::server
