#pragma once
// Writes to a plain TCP socket without Asio's composed write: send(2) straight away while the
// socket takes the bytes (a small answer never suspends the coroutine or arms a timer), and a
// wait for writability, bounded by a timeout, only when the socket is full.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <span>

namespace regmirror::proxy::server {

// Waits until the socket can take more bytes; false when `timeout` passes first or the wait
// fails. `timer` is the caller's, reused across waits.
boost::asio::awaitable<bool> wait_writable(boost::asio::ip::tcp::socket& socket,
                                           boost::asio::steady_timer& timer,
                                           std::chrono::seconds timeout);

// Writes all of `bytes`; false when the peer is gone or made no room for `timeout`.
boost::asio::awaitable<bool> socket_write_all(boost::asio::ip::tcp::socket& socket,
                                              std::span<const std::byte> bytes,
                                              std::chrono::seconds timeout);

}  // namespace regmirror::proxy::server
