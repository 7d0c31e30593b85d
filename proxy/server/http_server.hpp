#pragma once
// The HTTP/1.1 server: one acceptor, one io_context per thread (connections are spread over
// them round-robin, so a connection's handlers never run concurrently and need no strand),
// keep-alive, header size limit and idle timeout per connection.
// The process must ignore SIGPIPE (proxy/app/main.cpp does): sendfile(2) and OpenSSL's socket
// writes to a client that has reset raise it, and they have no MSG_NOSIGNAL.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "config/result.hpp"
#include "proxy/server/connection.hpp"

namespace regmirror::proxy::server {

class TlsContextProvider;

struct ServerOptions {
  std::size_t threads = 2;
  std::size_t max_connections = 4096;       // past it: 503 and close
  std::size_t header_limit = 16 * 1024;     // request line + fields; past it: 431
  std::size_t max_header_fields = 100;      // past it: 431
  std::chrono::seconds header_timeout{30};  // from the first byte of a request head to its end
  std::chrono::seconds idle_timeout{120};   // waiting for the next request on a kept-alive one
  std::chrono::seconds write_timeout{120};  // a client that takes no bytes for this long
  TlsContextProvider* tls = nullptr;        // HTTPS when set
};

class HttpServer {
 public:
  HttpServer(Handler& handler, ServerOptions options);
  ~HttpServer();

  // Binds and listens ("ADDR:PORT"; port 0 picks one). Returns the bound "ADDR:PORT".
  Result<std::string> listen(const std::string& address);
  // Serves until stop() or SIGINT/SIGTERM; returns when every thread has finished.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace regmirror::proxy::server
