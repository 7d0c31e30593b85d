#include "proxy/server/http_server.hpp"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <charconv>
#include <span>
#include <thread>
#include <type_traits>
#include <vector>

#include "proxy/server/response_bytes.hpp"
#include "proxy/server/socket_writer.hpp"
#include "proxy/server/tls_context_provider.hpp"

namespace regmirror::proxy::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// What the wait for a kept-alive connection's next request reads at most (the head parser
// reads the rest).
constexpr std::size_t kIdleReadBytes = 512;

struct HttpServer::Impl {
  Handler& handler;
  ServerOptions options;
  // Sessions go round-robin to the network contexts. Declared before accept_context: the
  // accept still pending at stop() holds a socket of one of them, destroyed with accept_context.
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  // Accepting has a thread of its own: a network thread busy encrypting or copying never
  // delays the next connection's accept.
  asio::io_context accept_context{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::signal_set> signals;
  std::atomic<std::size_t> active{0};

  Impl(Handler& h, ServerOptions o) : handler(h), options(o) {
    if (options.threads == 0) options.threads = 1;
    for (std::size_t i = 0; i < options.threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  // Answers a protocol-level problem (not an OCI route) and gives up on the connection.
  template <class Stream>
  static asio::awaitable<void> refuse(Stream& stream, beast::tcp_stream& tcp, http::status status,
                                      std::string text) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "text/plain");
    res.body().append(text).append("\n");
    res.keep_alive(false);
    res.prepare_payload();
    auto wire = serialized_response(res.base(), res.body());
    auto bytes = std::as_bytes(std::span(wire.data(), wire.size()));
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      co_await tls_write_all(stream, bytes, std::chrono::seconds(5));
    } else {
      co_await socket_write_all(tcp.socket(), bytes, std::chrono::seconds(5));
    }
  }

  // After an answer to a request whose body was not read (an upload refused with 413): reads
  // and drops what the client still sends, bounded in time and bytes, so that closing the
  // socket with unread data does not reset the connection before the client has read the
  // answer. The send side is already shut down, so the client sees the end of the answer.
  static asio::awaitable<void> drain_unread_body(beast::tcp_stream& tcp) {
    constexpr auto kLinger = std::chrono::seconds(2);
    constexpr std::size_t kMaxDrained = 64 << 20;
    const auto deadline = std::chrono::steady_clock::now() + kLinger;
    std::vector<char> sink(std::size_t{64} * 1024);
    std::size_t drained = 0;
    while (drained < kMaxDrained) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) break;
      tcp.expires_after(left);
      auto [ec, n] =
          co_await tcp.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      drained += n;
    }
  }

  // The request loop, for plain TCP (Stream = tcp_stream) or TLS (Stream = TlsStream). Returns
  // true when the last request left a body unread (see drain_unread_body).
  template <class Stream>
  asio::awaitable<bool> serve_requests(Stream& stream, beast::tcp_stream& tcp, TlsStream* tls) {
    Peer peer;
    boost::system::error_code peer_ec;
    auto endpoint = tcp.socket().remote_endpoint(peer_ec);
    if (!peer_ec) peer.address = endpoint.address();
    peer.text = peer.address.to_string();
    beast::flat_buffer buffer;  // unbounded: the parser's header_limit is the bound
    bool first = true;
    while (true) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      // Bodies are not parsed here: a route that takes one (admin uploads) reads it itself and
      // enforces its own limit with a clear 413. Beast's default request body limit (1 MiB,
      // checked against Content-Length as soon as the head arrives) would refuse every layer.
      parser.body_limit(boost::none);
      // A new connection has header_timeout to send its first request head; a kept-alive one
      // may idle longer between requests, but each head must then arrive within header_timeout.
      auto head_timeout = options.header_timeout;
      if (!first && buffer.size() == 0) {
        if (tls == nullptr) {
          // Wait for the next request's first bytes with a read through the stream, which its
          // timer covers (a socket wait is not); the buffer keeps its capacity from the last
          // request, so an idle connection costs no timer or coroutine frame of its own.
          tcp.expires_after(options.idle_timeout);
          auto [idle_ec, idle_n] = co_await tcp.async_read_some(
              buffer.prepare(kIdleReadBytes), asio::as_tuple(asio::use_awaitable));
          if (idle_ec) break;
          buffer.commit(idle_n);
        } else {
          // TLS may hold decrypted bytes the socket no longer shows: no separate idle wait.
          head_timeout = options.idle_timeout;
        }
      }
      first = false;
      tcp.expires_after(head_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser,
                                                      asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == http::error::header_limit) {
          co_await refuse(stream, tcp, http::status::request_header_fields_too_large,
                          "request header too large");
        } else if (ec == http::error::body_limit) {
          co_await refuse(stream, tcp, http::status::payload_too_large, "request body too large");
        } else if (ec != http::error::end_of_stream && ec != http::error::partial_message &&
                   ec.category() == http::make_error_code(http::error::bad_target).category()) {
          co_await refuse(stream, tcp, http::status::bad_request, "malformed request");
        }
        break;
      }
      tcp.expires_never();
      if (static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end())) >
          options.max_header_fields) {
        co_await refuse(stream, tcp, http::status::request_header_fields_too_large,
                        "too many header fields");
        break;
      }
      // A request with a body (push, admin upload) can be read by the handler; the connection
      // is closed afterwards rather than trusting that the body was consumed exactly.
      bool body_follows = !parser.is_done();
      Connection connection(tcp, tls, peer, parser.get(),
                            parser.get().keep_alive() && !body_follows, options.write_timeout);
      if (body_follows) connection.attach_body_source(buffer);
      bool keep = co_await handler.handle(connection);
      if (connection.body_left_unread()) co_return true;
      if (!keep || !connection.keep_alive()) break;
    }
    co_return false;
  }

  asio::awaitable<void> session(tcp::socket socket) {
    // The count covers the whole session; past the cap the client gets a clear 503.
    struct Slot {
      std::atomic<std::size_t>& active;
      ~Slot() { active.fetch_sub(1); }
    } slot{active};
    bool over_capacity = active.fetch_add(1) >= options.max_connections;
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (options.tls != nullptr) {
      auto context = options.tls->current();
      TlsStream stream(std::move(socket), *context);
      auto& tcp = beast::get_lowest_layer(stream);
      tcp.expires_after(options.header_timeout);
      auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                  asio::as_tuple(asio::use_awaitable));
      if (ec || !write_tls_records_to_socket(stream)) co_return;
      tcp.expires_never();
      if (over_capacity) {
        co_await refuse(stream, tcp, http::status::service_unavailable, "too many connections");
      } else {
        co_await serve_requests(stream, tcp, &stream);
      }
      tcp.expires_after(std::chrono::seconds(5));
      co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    beast::tcp_stream stream(std::move(socket));
    bool body_unread = false;
    if (over_capacity) {
      co_await refuse(stream, stream, http::status::service_unavailable, "too many connections");
    } else {
      body_unread = co_await serve_requests(stream, stream, nullptr);
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (body_unread) co_await drain_unread_body(stream);
  }

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    while (acceptor->is_open()) {
      auto& context = *contexts[next++ % contexts.size()];
      auto [ec, socket] =
          co_await acceptor->async_accept(context, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) break;
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer pause(accept_context, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      asio::co_spawn(context, session(std::move(socket)), asio::detached);
    }
  }

  void stop() {
    asio::post(accept_context, [this] {
      boost::system::error_code ignored;
      if (acceptor) acceptor->close(ignored);
      accept_context.stop();
      for (auto& context : contexts) context->stop();
    });
  }
};

HttpServer::HttpServer(Handler& handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(handler, options)) {}

HttpServer::~HttpServer() = default;

Result<std::string> HttpServer::listen(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return asio::error::invalid_argument;
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return ec;
  // A port that is not a number is an error value like a bad host (std::stoul threw here).
  auto port_text = std::string_view(address).substr(colon + 1);
  unsigned short port = 0;
  auto [end, parsed] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (parsed != std::errc() || end != port_text.data() + port_text.size()) {
    return asio::error::invalid_argument;
  }
  tcp::endpoint endpoint(ip, port);
  auto acceptor = std::make_unique<tcp::acceptor>(impl_->accept_context);
  acceptor->open(endpoint.protocol(), ec);
  if (ec) return ec;
  acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  acceptor->bind(endpoint, ec);
  if (ec) return ec;
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  auto bound = acceptor->local_endpoint(ec);
  if (ec) return ec;
  impl_->acceptor = std::move(acceptor);
  auto bound_ip = bound.address().to_string();
  if (bound.address().is_v6()) bound_ip = "[" + bound_ip + "]";
  return bound_ip + ":" + std::to_string(bound.port());
}

void HttpServer::run() {
  auto& accepting = impl_->accept_context;
  impl_->signals = std::make_unique<asio::signal_set>(accepting, SIGINT, SIGTERM);
  impl_->signals->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) impl_->stop();
  });
  asio::co_spawn(accepting, impl_->accept_loop(), asio::detached);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < impl_->contexts.size(); ++i) {
    threads.emplace_back([this, i] {
      auto guard = asio::make_work_guard(*impl_->contexts[i]);
      impl_->contexts[i]->run();
    });
  }
  accepting.run();
  for (auto& context : impl_->contexts) context->stop();
  for (auto& thread : threads) thread.join();
}

void HttpServer::stop() { impl_->stop(); }

}  // namespace regmirror::proxy::server
