#include "proxy/server/tls_socket_writer.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <climits>
#include <optional>

#include "proxy/server/socket_writer.hpp"

namespace regmirror::proxy::server {

namespace asio = boost::asio;

bool write_tls_records_to_socket(TlsStream& tls) {
  auto& socket = boost::beast::get_lowest_layer(tls).socket();
  boost::system::error_code ec;
  socket.native_non_blocking(true, ec);  // SSL_write must see EAGAIN, never block the thread
  if (ec) return false;
  BIO* socket_bio = BIO_new_socket(socket.native_handle(), BIO_NOCLOSE);
  if (socket_bio == nullptr) return false;
  SSL* ssl = tls.native_handle();
  // Same rbio: OpenSSL adopts one reference for the new wbio and drops the old wbio's.
  SSL_set_bio(ssl, SSL_get_rbio(ssl), socket_bio);
  return true;
}

asio::awaitable<bool> tls_write_all(TlsStream& tls, std::span<const std::byte> bytes,
                                    std::chrono::seconds timeout) {
  SSL* ssl = tls.native_handle();
  auto& socket = boost::beast::get_lowest_layer(tls).socket();
  std::optional<asio::steady_timer> timer;  // only made when the socket is full
  while (!bytes.empty()) {
    auto want = static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX));
    ERR_clear_error();
    int written = SSL_write(ssl, bytes.data(), want);
    if (written > 0) {
      bytes = bytes.subspan(static_cast<std::size_t>(written));
      continue;
    }
    if (SSL_get_error(ssl, written) != SSL_ERROR_WANT_WRITE) co_return false;
    // Full socket: retry the same bytes once it drains (OpenSSL requires the same data).
    if (!timer) timer.emplace(socket.get_executor());
    if (!co_await wait_writable(socket, *timer, timeout)) co_return false;
  }
  co_return true;
}

}  // namespace regmirror::proxy::server
