#pragma once
// What a request handler can do with the client's connection: read the request head, write a
// buffered response, or write a header and then stream a body (sendfile from a file, or bytes).
// Every write has a deadline; a false return means the client is gone or too slow and the
// connection must be dropped.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <span>

namespace regmirror::proxy::server {

namespace http = boost::beast::http;
using Request = http::request<http::empty_body>;

class Connection {
 public:
  Connection(boost::beast::tcp_stream& stream, const Request& request, bool keep_alive,
             std::chrono::seconds write_timeout)
      : stream_(stream), request_(request), keep_alive_(keep_alive), write_timeout_(write_timeout) {}

  const Request& request() const { return request_; }
  bool keep_alive() const { return keep_alive_; }
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

  boost::asio::awaitable<bool> send(http::response<http::string_body> response);
  // Writes the head only; Content-Length must be set by the caller.
  boost::asio::awaitable<bool> send_header(http::response<http::empty_body>& response);
  // Zero-copy body from a file (plain TCP): bytes [offset, offset + length) of `fd`.
  boost::asio::awaitable<bool> send_file(int fd, std::uint64_t offset, std::uint64_t length);
  boost::asio::awaitable<bool> send_bytes(std::span<const std::byte> bytes);

 private:
  boost::beast::tcp_stream& stream_;
  const Request& request_;
  bool keep_alive_;
  std::chrono::seconds write_timeout_;
};

// Implemented by the application: serve one request. Returns false to close the connection.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual boost::asio::awaitable<bool> handle(Connection& connection) = 0;
};

}  // namespace regmirror::proxy::server
