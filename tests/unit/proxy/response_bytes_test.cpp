#include "proxy/server/response_bytes.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

namespace regmirror::proxy::server {
namespace {

namespace http = boost::beast::http;

// Beast's own serializer is the oracle: the bytes must be the same, field order included.
std::string beast_bytes(const http::response<http::string_body>& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

http::response<http::string_body> answer(http::status status, unsigned version, std::string body) {
  http::response<http::string_body> response{status, version};
  response.set(http::field::content_type, "application/vnd.oci.image.manifest.v1+json");
  response.set("Docker-Content-Digest", "sha256:" + std::string(64, 'a'));
  response.insert("X-Repeated", "one");
  response.insert("X-Repeated", "two");
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

TEST(ResponseBytes, SameBytesAsBeastsSerializer) {
  for (auto status : {http::status::ok, http::status::partial_content, http::status::not_found,
                      http::status::too_many_requests, http::status::service_unavailable}) {
    for (unsigned version : {10U, 11U}) {
      auto response = answer(status, version, "{\"schemaVersion\":2}");
      EXPECT_EQ(serialized_response(response.base(), response.body()), beast_bytes(response))
          << static_cast<unsigned>(status) << " HTTP/" << version;
    }
  }
}

TEST(ResponseBytes, HeadOnlyAndUnusualStatuses) {
  auto response = answer(http::status::ok, 11, "");
  EXPECT_EQ(serialized_response(response.base()), beast_bytes(response));
  EXPECT_TRUE(serialized_response(response.base()).ends_with("\r\n\r\n"));

  http::response<http::string_body> custom{http::status::ok, 11};
  custom.reason("Fine Thanks");
  custom.prepare_payload();
  EXPECT_EQ(serialized_response(custom.base()), beast_bytes(custom));
  EXPECT_TRUE(serialized_response(custom.base()).starts_with("HTTP/1.1 200 Fine Thanks\r\n"));

  http::response<http::string_body> unknown{static_cast<http::status>(599), 11};
  unknown.prepare_payload();
  EXPECT_EQ(serialized_response(unknown.base()), beast_bytes(unknown));
}

TEST(ResponseBytes, BinaryBodyOfAMebibyteIsCopiedWhole) {
  std::string body(std::size_t{1} << 20, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
  auto response = answer(http::status::ok, 11, body);
  auto bytes = serialized_response(response.base(), response.body());
  EXPECT_EQ(bytes, beast_bytes(response));
  EXPECT_EQ(bytes.substr(bytes.size() - body.size()), body);
}

}  // namespace
}  // namespace regmirror::proxy::server
