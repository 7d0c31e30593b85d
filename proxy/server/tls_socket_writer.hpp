#pragma once
// Writes TLS records straight from OpenSSL to the socket. Asio's TLS stream encrypts into a
// memory BIO, copies each record out into its own 17 KiB buffer and only then writes it (two
// extra copies and one completion per record: 10.7% of the CPU serving a cached blob over
// TLS, bench/README.md). After the handshake the connection's write side is switched to a
// socket BIO once; from then on every write of the connection goes through tls_write_all,
// while reads (request heads, upload bodies) and the shutdown stay on Asio's stream.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstddef>
#include <span>

namespace regmirror::proxy::server {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// Call once, right after a successful handshake (Asio then holds no unsent output). False
// when OpenSSL cannot make the socket BIO: the connection must then be closed, because later
// writes would land in a buffer nobody flushes.
bool write_tls_records_to_socket(TlsStream& tls);

// Encrypts and writes all of `bytes`; waits for the socket whenever it is full, each wait at
// most `timeout` (no progress for that long: false, the client is gone or too slow).
boost::asio::awaitable<bool> tls_write_all(TlsStream& tls, std::span<const std::byte> bytes,
                                           std::chrono::seconds timeout);

}  // namespace regmirror::proxy::server
