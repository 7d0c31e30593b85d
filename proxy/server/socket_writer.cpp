#include "proxy/server/socket_writer.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <optional>

namespace regmirror::proxy::server {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

asio::awaitable<bool> wait_writable(asio::ip::tcp::socket& socket, asio::steady_timer& timer,
                                    std::chrono::seconds timeout) {
  timer.expires_after(timeout);
  auto result = co_await (
      socket.async_wait(asio::ip::tcp::socket::wait_write, asio::as_tuple(asio::use_awaitable)) ||
      timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() != 0) co_return false;
  auto [ec] = std::get<0>(result);
  co_return !ec;
}

asio::awaitable<bool> socket_write_all(asio::ip::tcp::socket& socket,
                                       std::span<const std::byte> bytes,
                                       std::chrono::seconds timeout) {
  std::optional<asio::steady_timer> timer;  // only made when the socket is full
  while (!bytes.empty()) {
    // MSG_DONTWAIT: the descriptor may still be in blocking mode (Asio sets its own flag lazily).
    ssize_t sent =
        ::send(socket.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return false;
    if (!timer) timer.emplace(socket.get_executor());
    if (!co_await wait_writable(socket, *timer, timeout)) co_return false;
  }
  co_return true;
}

}  // namespace regmirror::proxy::server
