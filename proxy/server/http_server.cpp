#include "proxy/server/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <thread>
#include <vector>

namespace regmirror::proxy::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  Handler& handler;
  ServerOptions options;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::signal_set> signals;

  Impl(Handler& h, ServerOptions o) : handler(h), options(o) {
    if (options.threads == 0) options.threads = 1;
    for (std::size_t i = 0; i < options.threads; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    boost::system::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    beast::flat_buffer buffer(8192);
    while (true) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      stream.expires_after(options.idle_timeout);
      auto [ec, n] =
          co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == http::error::header_limit || ec == http::error::bad_target ||
            ec == http::error::bad_method || ec == http::error::bad_version ||
            ec == http::error::bad_field || ec == http::error::bad_value ||
            ec == http::error::bad_line_ending || ec == http::error::bad_content_length) {
          bool too_large = ec == http::error::header_limit;
          http::response<http::string_body> res{
              too_large ? http::status::request_header_fields_too_large : http::status::bad_request,
              11};
          res.set(http::field::content_type, "text/plain");
          res.body() = std::string(too_large ? "request header too large" : "malformed request") +
                       "\n";
          res.keep_alive(false);
          res.prepare_payload();
          stream.expires_after(std::chrono::seconds(5));
          co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        }
        break;
      }
      stream.expires_never();
      // A request with a body (push) is answered, then the connection is closed rather than
      // reading a body we do not want.
      bool body_follows = !parser.is_done();
      Connection connection(stream, parser.get(), parser.get().keep_alive() && !body_follows,
                            options.write_timeout);
      bool keep = co_await handler.handle(connection);
      if (!keep || !connection.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    while (acceptor->is_open()) {
      auto& context = *contexts[next++ % contexts.size()];
      auto [ec, socket] = co_await acceptor->async_accept(context, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) break;
        // EMFILE and friends: back off briefly instead of spinning.
        asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      asio::co_spawn(context, session(std::move(socket)), asio::detached);
    }
  }

  void stop() {
    asio::post(*contexts[0], [this] {
      boost::system::error_code ignored;
      if (acceptor) acceptor->close(ignored);
      for (auto& context : contexts) context->stop();
    });
  }
};

HttpServer::HttpServer(Handler& handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(handler, options)) {}

HttpServer::~HttpServer() = default;

boost::system::result<std::string> HttpServer::listen(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return asio::error::invalid_argument;
  auto host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return ec;
  unsigned long port = std::stoul(address.substr(colon + 1));
  tcp::endpoint endpoint(ip, static_cast<unsigned short>(port));
  auto acceptor = std::make_unique<tcp::acceptor>(*impl_->contexts[0]);
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
  auto& first = *impl_->contexts[0];
  impl_->signals = std::make_unique<asio::signal_set>(first, SIGINT, SIGTERM);
  impl_->signals->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) impl_->stop();
  });
  asio::co_spawn(first, impl_->accept_loop(), asio::detached);
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl_->contexts.size(); ++i) {
    threads.emplace_back([this, i] {
      auto guard = asio::make_work_guard(*impl_->contexts[i]);
      impl_->contexts[i]->run();
    });
  }
  first.run();
  for (auto& context : impl_->contexts) context->stop();
  for (auto& thread : threads) thread.join();
}

void HttpServer::stop() { impl_->stop(); }

}  // namespace regmirror::proxy::server
