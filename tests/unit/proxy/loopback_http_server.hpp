#pragma once
// A small HTTP/1.1 server on 127.0.0.1:0 for the client-side unit tests (CurlMulti, the
// registry client): one thread accepts, one thread per connection answers with what the test's
// function says. It can cut a body after N bytes (a broken transfer) or hold the answer back.
// Test code only; the product's server is proxy/server.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace regmirror::testing {

struct TestAnswer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::size_t> cut_after;  // send the head (full Content-Length) and this many bytes
  std::chrono::milliseconds delay{0};    // before the head
};

struct SeenRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
};

class LoopbackHttpServer {
 public:
  using Answer = std::function<TestAnswer(const SeenRequest&)>;

  explicit LoopbackHttpServer(Answer answer) : answer_(std::move(answer)), acceptor_(io_) {
    namespace asio = boost::asio;
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accepter_ = std::thread([this] { accept_loop(); });
  }

  ~LoopbackHttpServer() {
    stopping_ = true;
    boost::system::error_code ignored;
    // A blocking accept() is woken by shutdown(2), not by close(2). Sockets are only shut down
    // (a read of the descriptor) while other threads use them, and closed once those are joined.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accepter_.joinable()) accepter_.join();
    acceptor_.close(ignored);
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      for (auto& socket : sockets_) ::shutdown(socket->native_handle(), SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (auto& socket : sockets_) socket->close(ignored);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int max_concurrent() const { return max_concurrent_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      auto socket = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      threads_.emplace_back([this, socket] { serve(*socket); });
    }
  }

  void serve(boost::asio::ip::tcp::socket& socket) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec) return;
      SeenRequest seen{std::string(request.method_string()), std::string(request.target()), {}};
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        seen.headers[name] = std::string(field.value());
      }
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(seen);
        max_concurrent_ = std::max(max_concurrent_.load(), ++active_);
      }
      auto answer = answer_(seen);
      if (answer.delay.count() > 0) std::this_thread::sleep_for(answer.delay);
      std::string head = "HTTP/1.1 " + std::to_string(answer.status) + " X\r\n";
      for (const auto& [name, value] : answer.headers) head += name + ": " + value + "\r\n";
      head += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n\r\n";
      std::string out = head;
      const bool is_head = seen.method == "HEAD";
      if (!is_head) out += answer.cut_after ? answer.body.substr(0, *answer.cut_after) : answer.body;
      boost::asio::write(socket, boost::asio::buffer(out), ec);
      --active_;
      if (ec || (answer.cut_after && !is_head)) {
        ::shutdown(socket.native_handle(), SHUT_RDWR);  // a broken transfer (closed at exit)
        return;
      }
    }
  }

  Answer answer_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accepter_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
  std::vector<SeenRequest> seen_;
  std::atomic<int> active_{0};
  std::atomic<int> max_concurrent_{0};
};

}  // namespace regmirror::testing
