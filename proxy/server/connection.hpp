#pragma once
// What a request handler can do with the client's connection: read the request head, write a
// buffered response, or write a header and then stream a body (sendfile from a file, or bytes).
// Every write has a deadline; a false return means the client is gone or too slow and the
// connection must be dropped.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "config/result.hpp"
#include "proxy/server/tls_socket_writer.hpp"

namespace regmirror::proxy::server {

namespace http = boost::beast::http;
using Request = http::request<http::empty_body>;

// The client's end of the socket, read once per connection (not a getpeername(2) per request).
struct Peer {
  boost::asio::ip::address address;
  std::string text;  // address.to_string()
};

class Connection {
 public:
  // `tls` is null for plain TCP; with TLS, `stream` is its lowest layer.
  Connection(boost::beast::tcp_stream& stream, TlsStream* tls, const Peer& peer,
             const Request& request, bool keep_alive, std::chrono::seconds write_timeout)
      : stream_(stream),
        tls_(tls),
        peer_(peer),
        request_(request),
        keep_alive_(keep_alive),
        write_timeout_(write_timeout) {}

  const Request& request() const { return request_; }
  const Peer& peer() const { return peer_; }
  bool is_tls() const { return tls_ != nullptr; }
  bool keep_alive() const { return keep_alive_; }
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }

  boost::asio::awaitable<bool> send(http::response<http::string_body> response);
  // Writes the head only; Content-Length must be set by the caller. With `body_follows` on
  // plain TCP the head is corked and leaves in the same segments as the body's first bytes.
  boost::asio::awaitable<bool> send_header(http::response<http::empty_body>& response,
                                           bool body_follows = false);
  // Body bytes [offset, offset + length) of `fd`: sendfile(2) on plain TCP, pread + write
  // through TLS.
  boost::asio::awaitable<bool> send_file(int fd, std::uint64_t offset, std::uint64_t length);
  boost::asio::awaitable<bool> send_bytes(std::span<const std::byte> bytes);

  // Request bodies (admin uploads). The server must hand over the buffer it read the head with
  // (it may already hold the first body bytes): http_server.cpp calls attach_body_source(buffer)
  // right after constructing the Connection. Only Content-Length bodies are supported.
  void attach_body_source(boost::beast::flat_buffer& buffer) { body_buffer_ = &buffer; }
  // The request's Content-Length; nullopt when absent or malformed (chunked bodies included).
  std::optional<std::uint64_t> body_length() const;
  // Reads up to out.size() bytes of the body; 0 once it has all been read. An error when there
  // is no body source or Content-Length, the client closes early, or `timeout` passes.
  // A client that sent `Expect: 100-continue` gets the interim 100 response on the first read:
  // a route that refuses a body answers without reading it, and the client never sends it.
  boost::asio::awaitable<Result<std::size_t>> read_body_chunk(std::span<std::byte> out,
                                                              std::chrono::seconds timeout);
  // True when the request announced a body that was not read to its end: the server then
  // drains what the client still sends before closing, so the answer is not lost to a reset.
  bool body_left_unread() const;

 private:
  boost::beast::tcp_stream& stream_;
  TlsStream* tls_;
  const Peer& peer_;
  const Request& request_;
  bool keep_alive_;
  std::chrono::seconds write_timeout_;
  boost::beast::flat_buffer* body_buffer_ = nullptr;
  std::uint64_t body_read_ = 0;
  bool continue_sent_ = false;
};

// Implemented by the application: serve one request. Returns false to close the connection.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual boost::asio::awaitable<bool> handle(Connection& connection) = 0;
};

}  // namespace regmirror::proxy::server
