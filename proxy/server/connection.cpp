#include "proxy/server/connection.hpp"

#include <sys/sendfile.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>

namespace regmirror::proxy::server {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::size_t kSendfileChunk = 4 << 20;

// Waits until the socket can take more bytes, or the deadline passes (false).
asio::awaitable<bool> wait_writable(asio::ip::tcp::socket& socket, std::chrono::seconds timeout) {
  asio::steady_timer timer(socket.get_executor(), timeout);
  auto result =
      co_await (socket.async_wait(asio::ip::tcp::socket::wait_write, asio::as_tuple(asio::use_awaitable)) ||
                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() != 0) co_return false;
  auto [ec] = std::get<0>(result);
  co_return !ec;
}

}  // namespace

asio::awaitable<bool> Connection::send(http::response<http::string_body> response) {
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  stream_.expires_after(write_timeout_);
  auto [ec, n] = co_await http::async_write(stream_, response, asio::as_tuple(asio::use_awaitable));
  stream_.expires_never();
  co_return !ec;
}

asio::awaitable<bool> Connection::send_header(http::response<http::empty_body>& response) {
  response.keep_alive(keep_alive_);
  http::response_serializer<http::empty_body> serializer(response);
  stream_.expires_after(write_timeout_);
  auto [ec, n] =
      co_await http::async_write_header(stream_, serializer, asio::as_tuple(asio::use_awaitable));
  stream_.expires_never();
  co_return !ec;
}

asio::awaitable<bool> Connection::send_file(int fd, std::uint64_t offset, std::uint64_t length) {
  auto& socket = stream_.socket();
  if (!socket.native_non_blocking()) {
    boost::system::error_code ec;
    socket.native_non_blocking(true, ec);
    if (ec) co_return false;
  }
  auto position = static_cast<off_t>(offset);
  std::uint64_t remaining = length;
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
    if (!co_await wait_writable(socket, write_timeout_)) co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Connection::send_bytes(std::span<const std::byte> bytes) {
  stream_.expires_after(write_timeout_);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()),
                                            asio::as_tuple(asio::use_awaitable));
  stream_.expires_never();
  co_return !ec;
}

}  // namespace regmirror::proxy::server
