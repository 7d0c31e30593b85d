#include "proxy/server/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/string.hpp>
#include <tuple>
#include <vector>

#include "proxy/server/decimal_field.hpp"
#include "proxy/server/response_bytes.hpp"
#include "proxy/server/socket_writer.hpp"
#include "proxy/server/tls_socket_writer.hpp"

namespace regmirror::proxy::server {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kSendfileChunk = 4 << 20;

void set_cork(asio::ip::tcp::socket& socket, bool on) {
  int value = on ? 1 : 0;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}

std::span<const std::byte> text_bytes(const std::string& text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace

asio::awaitable<bool> Connection::send(http::response<http::string_body> response) {
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  co_return co_await send_bytes(text_bytes(serialized_response(response.base(), response.body())));
}

asio::awaitable<bool> Connection::send_header(http::response<http::empty_body>& response,
                                              bool body_follows) {
  response.keep_alive(keep_alive_);
  if (body_follows && tls_ == nullptr) set_cork(stream_.socket(), true);
  co_return co_await send_bytes(text_bytes(serialized_response(response.base())));
}

asio::awaitable<bool> Connection::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  if (tls_ != nullptr) {
    // TLS encrypts in user space: no zero-copy path, one reused buffer.
    std::vector<std::byte> buffer(std::size_t{256} * 1024);
    while (length > 0) {
      auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length));
      ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) co_return false;
      if (!co_await send_bytes(std::span(buffer.data(), static_cast<std::size_t>(n))))
        co_return false;
      offset += static_cast<std::uint64_t>(n);
      length -= static_cast<std::uint64_t>(n);
    }
    co_return true;
  }
  auto& socket = stream_.socket();
  if (!socket.native_non_blocking()) {
    boost::system::error_code ec;
    socket.native_non_blocking(true, ec);
    if (ec) co_return false;
  }
  auto position = static_cast<off_t>(offset);
  std::uint64_t remaining = length;
  asio::steady_timer timer(socket.get_executor());
  struct Uncork {
    asio::ip::tcp::socket& socket;
    ~Uncork() { set_cork(socket, false); }  // flushes the last partial segment
  } uncork{socket};
  while (remaining > 0) {
    auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kSendfileChunk));
    ssize_t sent = ::sendfile(socket.native_handle(), fd, &position, chunk);
    if (sent > 0) {
      remaining -= static_cast<std::uint64_t>(sent);
      continue;
    }
    if (sent == 0) co_return false;  // the file is shorter than promised
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return false;
    if (!co_await wait_writable(socket, timer, write_timeout_)) co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Connection::send_bytes(std::span<const std::byte> bytes) {
  if (tls_ != nullptr) co_return co_await tls_write_all(*tls_, bytes, write_timeout_);
  co_return co_await socket_write_all(stream_.socket(), bytes, write_timeout_);
}

bool Connection::body_left_unread() const {
  if (body_buffer_ == nullptr) return false;
  auto length = body_length();
  return !length || body_read_ < *length;
}

std::optional<std::uint64_t> Connection::body_length() const {
  auto field = request_.find(http::field::content_length);
  if (field == request_.end()) return std::nullopt;
  return parse_decimal_field(field->value());
}

asio::awaitable<Result<std::size_t>> Connection::read_body_chunk(std::span<std::byte> out,
                                                                 std::chrono::seconds timeout) {
  using ChunkResult = Result<std::size_t>;
  if (body_buffer_ == nullptr)
    co_return ChunkResult(boost::system::errc::make_error_code(boost::system::errc::not_supported));
  auto length = body_length();
  if (!length)
    co_return ChunkResult(
        boost::system::errc::make_error_code(boost::system::errc::invalid_argument));
  auto remaining = *length - body_read_;
  if (remaining == 0 || out.empty()) co_return ChunkResult(std::size_t{0});
  if (!continue_sent_) {
    continue_sent_ = true;
    auto expect = request_[http::field::expect];
    if (boost::beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await send_bytes(std::as_bytes(std::span(kContinue.data(), kContinue.size())))) {
        co_return ChunkResult(
            boost::system::errc::make_error_code(boost::system::errc::broken_pipe));
      }
    }
  }
  auto want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining));
  if (body_buffer_->size() > 0) {
    auto n = asio::buffer_copy(asio::buffer(out.data(), want), body_buffer_->data());
    body_buffer_->consume(n);
    body_read_ += n;
    co_return ChunkResult(n);
  }
  stream_.expires_after(timeout);
  boost::system::error_code ec;
  std::size_t n = 0;
  if (tls_ != nullptr) {
    std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(out.data(), want),
                                                     asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, n) = co_await stream_.async_read_some(asio::buffer(out.data(), want),
                                                       asio::as_tuple(asio::use_awaitable));
  }
  stream_.expires_never();
  if (ec) co_return ChunkResult(ec);
  body_read_ += n;
  co_return ChunkResult(n);
}

}  // namespace regmirror::proxy::server
