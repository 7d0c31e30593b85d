#pragma once
// An HTTP/1.1 client on one loopback socket for the server-side unit tests (HttpServer, the
// registry handler): raw bytes out, parsed responses in, every operation bounded by kDeadline
// so a server that never answers fails the test instead of hanging it. Test code only.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace regmirror::testing {

// Every wait in these tests is bounded by this; a healthy run never comes near it.
inline constexpr auto kDeadline = std::chrono::seconds(20);

// One response as the client read it. Header names are lower-case.
struct HttpReply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  bool keep_alive = false;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// An HTTP/1.1 client on one socket; every operation gives up after kDeadline.
class LoopbackClient {
 public:
  explicit LoopbackClient(const std::string& address) : stream_(io_) {
    namespace asio = boost::asio;
    auto colon = address.rfind(':');
    asio::ip::tcp::endpoint endpoint(
        asio::ip::make_address(address.substr(0, colon)),
        static_cast<unsigned short>(std::stoul(address.substr(colon + 1))));
    boost::system::error_code ec;
    stream_.socket().connect(endpoint, ec);
    connected_ = !ec;
  }

  bool connected() const { return connected_; }

  bool send_raw(const std::string& bytes) {
    boost::system::error_code result = boost::asio::error::timed_out;
    stream_.expires_after(kDeadline);
    boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                             [&](boost::system::error_code ec, std::size_t) { result = ec; });
    drive();
    return !result;
  }

  // Reads one response; nullopt when the server closed, reset or timed out instead.
  std::optional<HttpReply> read_reply(bool to_head_request = false) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ULL << 20);
    parser.skip(to_head_request);
    boost::system::error_code result = boost::asio::error::timed_out;
    stream_.expires_after(kDeadline);
    http::async_read(stream_, buffer_, parser,
                     [&](boost::system::error_code ec, std::size_t) { result = ec; });
    drive();
    if (result) return std::nullopt;
    const auto& message = parser.get();
    HttpReply reply;
    reply.status = message.result_int();
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.body = message.body();
    reply.keep_alive = message.keep_alive();
    return reply;
  }

  std::optional<HttpReply> request(const std::string& method, const std::string& target,
                                   const std::vector<std::string>& headers = {}) {
    std::string text = method + " " + target + " HTTP/1.1\r\nHost: mirror.test\r\n";
    for (const auto& header : headers) text += header + "\r\n";
    text += "\r\n";
    if (!send_raw(text)) return std::nullopt;
    return read_reply(method == "HEAD");
  }

  // Reads whatever arrives first (at least one byte); "" on close, error or timeout.
  std::string read_some() {
    std::string out(64 * 1024, '\0');
    std::size_t got = 0;
    stream_.expires_after(kDeadline);
    stream_.async_read_some(boost::asio::buffer(out),
                            [&](boost::system::error_code ec, std::size_t n) { got = ec ? 0 : n; });
    drive();
    out.resize(got);
    return out;
  }

  // True when the server ends the connection (EOF or reset) before the deadline, with nothing
  // more to read.
  bool closed_by_server() {
    if (buffer_.size() > 0) return false;
    boost::system::error_code result;
    std::size_t got = 0;
    char byte = 0;
    stream_.expires_after(kDeadline);
    stream_.async_read_some(boost::asio::buffer(&byte, 1),
                            [&](boost::system::error_code ec, std::size_t n) {
                              result = ec;
                              got = n;
                            });
    drive();
    return got == 0 && result && result != boost::beast::error::timeout;
  }

  // Hangs up at once with a reset (SO_LINGER 0): what a killed client does.
  void reset() {
    boost::system::error_code ignored;
    stream_.socket().set_option(boost::asio::socket_base::linger(true, 0), ignored);
    stream_.socket().close(ignored);
  }

 private:
  void drive() {
    io_.restart();
    io_.run();
  }

  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace regmirror::testing
