// The HTTP server and the Connection it hands to handlers, through their public interfaces
// only: a real HttpServer on 127.0.0.1:0 and a client on a loopback socket. (Connection is
// built on beast::tcp_stream, so it cannot sit on a beast::test::stream.)
#include "proxy/server/http_server.hpp"

#include <gtest/gtest.h>

#include "tests/unit/proxy/request_path_fixture.hpp"

namespace regmirror::proxy::server {
namespace {

using regmirror::testing::eventually;
using regmirror::testing::LoopbackClient;
using regmirror::testing::RunningServer;

constexpr std::size_t kBigBody = 64 << 20;  // far more than socket buffers hold

// Answers "/big" with a long body in chunks (and notes whether that write failed), anything
// else with its own target as the body.
class TestHandler final : public Handler {
 public:
  boost::asio::awaitable<bool> handle(Connection& connection) override {
    ++handled;
    std::string target(connection.request().target());
    if (target == "/upload") co_return co_await upload(connection);
    if (target != "/big") {
      http::response<http::string_body> response{http::status::ok, connection.request().version()};
      response.set(http::field::content_type, "text/plain");
      response.body() = target;
      co_return co_await connection.send(std::move(response));
    }
    http::response<http::empty_body> head{http::status::ok, connection.request().version()};
    head.content_length(kBigBody);
    if (!co_await connection.send_header(head, true)) co_return false;
    std::vector<std::byte> chunk(256 * 1024, std::byte{'x'});
    for (std::size_t sent = 0; sent < kBigBody; sent += chunk.size()) {
      if (!co_await connection.send_bytes(chunk)) {
        big_send_failed = true;
        co_return false;
      }
    }
    co_return true;
  }

  std::atomic<int> handled{0};
  std::atomic<bool> big_send_failed{false};

 private:
  // Reads the whole request body and answers "<bytes> <sha256 digest>".
  static boost::asio::awaitable<bool> upload(Connection& connection) {
    cache::DigestHasher hasher;
    std::uint64_t total = 0;
    std::vector<std::byte> chunk(64 * 1024);
    for (;;) {
      auto n = co_await connection.read_body_chunk(chunk, std::chrono::seconds(10));
      if (!n) co_return false;
      if (*n == 0) break;
      hasher.update(std::span<const std::byte>(chunk.data(), *n));
      total += *n;
    }
    http::response<http::string_body> response{http::status::ok, connection.request().version()};
    response.body() = std::to_string(total) + " " + hasher.finish().str();
    co_return co_await connection.send(std::move(response));
  }
};

class HttpServerTest : public ::testing::Test {
 protected:
  // A fresh connection still gets a normal answer: the server is alive and serving.
  void expect_serving() {
    LoopbackClient client(server_.address());
    auto reply = client.request("GET", "/alive");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->body, "/alive");
  }

  TestHandler handler_;
  RunningServer server_{handler_, ServerOptions{}};
};

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  LoopbackClient client(server_.address());
  auto first = client.request("GET", "/one");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200u);
  EXPECT_EQ(first->body, "/one");
  EXPECT_TRUE(first->keep_alive);
  auto second = client.request("GET", "/two");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "/two");
  EXPECT_EQ(handler_.handled, 2);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  LoopbackClient client(server_.address());
  ASSERT_TRUE(
      client.send_raw("GET /a HTTP/1.1\r\nHost: m\r\n\r\nGET /b HTTP/1.1\r\nHost: m\r\n\r\n"));
  auto a = client.read_reply();
  auto b = client.read_reply();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->body, "/a");
  EXPECT_EQ(b->body, "/b");
}

TEST_F(HttpServerTest, ConnectionCloseIsHonouredAfterTheAnswer) {
  LoopbackClient client(server_.address());
  auto reply = client.request("GET", "/last", {"Connection: close"});
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "/last");
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(HttpServerTest, AMalformedRequestGets400AndTheServerKeepsServing) {
  for (const char* garbage : {"THIS IS NOT HTTP\r\n\r\n", "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                              "GET / HTTP/9.Z\r\n\r\n"}) {
    LoopbackClient client(server_.address());
    ASSERT_TRUE(client.send_raw(garbage));
    auto reply = client.read_reply();
    ASSERT_TRUE(reply) << garbage;
    EXPECT_EQ(reply->status, 400u) << garbage;
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(client.closed_by_server()) << garbage;
  }
  EXPECT_EQ(handler_.handled, 0);  // the handler never sees what did not parse
  expect_serving();
}

TEST_F(HttpServerTest, AClientThatHangsUpMidResponseDoesNotTakeTheServerDown) {
  {
    LoopbackClient quitter(server_.address());
    ASSERT_TRUE(quitter.send_raw("GET /big HTTP/1.1\r\nHost: m\r\n\r\n"));
    auto start = quitter.read_some();
    EXPECT_NE(start.find("HTTP/1.1 200"), std::string::npos);
    quitter.reset();
  }
  // The handler's write fails (it learns the client is gone) instead of blocking until the
  // write timeout, and the next connection is served.
  EXPECT_TRUE(eventually([&] { return handler_.big_send_failed.load(); }));
  expect_serving();
}

TEST_F(HttpServerTest, ARequestHeadOverTheLimitGets431AndOneUnderItIsServed) {
  const std::size_t limit = ServerOptions{}.header_limit;
  {
    LoopbackClient client(server_.address());
    auto reply = client.request("GET", "/small", {"X-Pad: " + std::string(limit / 2, 'p')});
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200u);
    EXPECT_EQ(reply->body, "/small");
  }
  {
    LoopbackClient client(server_.address());
    auto reply = client.request("GET", "/huge", {"X-Pad: " + std::string(limit + 1, 'p')});
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431u);
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(client.closed_by_server());
  }
  {
    std::vector<std::string> fields;
    for (std::size_t i = 0; i <= ServerOptions{}.max_header_fields; ++i) {
      fields.push_back("X-F" + std::to_string(i) + ": v");
    }
    LoopbackClient client(server_.address());
    auto reply = client.request("GET", "/many", fields);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 431u);
  }
  EXPECT_EQ(handler_.handled, 1);
  expect_serving();
}

TEST_F(HttpServerTest, AHandlerReadsARequestBodyExactlyIncludingBytesThatCameWithTheHead) {
  const auto body = regmirror::testing::pattern_bytes(300 * 1024 + 5, 21);
  LoopbackClient client(server_.address());
  // One write: the server's first read holds the head and the body's first bytes together.
  ASSERT_TRUE(client.send_raw("POST /upload HTTP/1.1\r\nHost: m\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body));
  auto reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->body, std::to_string(body.size()) + " " + cache::digest_of(body).str());
  EXPECT_FALSE(reply->keep_alive);  // a connection that carried a body is not reused
}

TEST_F(HttpServerTest, ExpectContinueGetsTheInterimAnswerBeforeTheBodyIsSent) {
  const auto body = regmirror::testing::pattern_bytes(1000, 22);
  LoopbackClient client(server_.address());
  ASSERT_TRUE(
      client.send_raw("POST /upload HTTP/1.1\r\nHost: m\r\nExpect: 100-continue\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = client.read_reply();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100u);
  ASSERT_TRUE(client.send_raw(body));
  auto reply = client.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->body, "1000 " + cache::digest_of(body).str());
}

// The timeouts below are the server's own (one second here); the test only bounds its wait.
ServerOptions short_timeouts() {
  ServerOptions options;
  options.header_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::seconds(1);
  return options;
}

TEST(HttpServerTimeouts, AClientThatNeverSendsAHeadIsDisconnected) {
  TestHandler handler;
  RunningServer server(handler, short_timeouts());
  LoopbackClient silent(server.address());
  LoopbackClient slow(server.address());
  ASSERT_TRUE(silent.connected());
  ASSERT_TRUE(slow.send_raw("GET /slow HTTP/1.1\r\nHost: m\r\n"));  // never finished
  EXPECT_TRUE(silent.closed_by_server());
  EXPECT_TRUE(slow.closed_by_server());
  EXPECT_EQ(handler.handled, 0);
}

// Disabled: fails on main as of 649ff31. On plain TCP the wait for the next request is
// tcp.socket().async_wait(wait_read) after tcp.expires_after(idle_timeout), but a beast
// tcp_stream's expiry only covers operations started through the stream, so nothing ends
// that wait: an idle kept-alive connection holds its max_connections slot until the client
// closes it. Enable once the idle wait races a timer of its own.
TEST(HttpServerTimeouts, AnIdleKeptAliveConnectionIsClosedAfterTheIdleTimeout) {
  TestHandler handler;
  RunningServer server(handler, short_timeouts());
  LoopbackClient client(server.address());
  auto reply = client.request("GET", "/once");
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->keep_alive);
  EXPECT_TRUE(client.closed_by_server());
}

TEST(HttpServerLimits, PastMaxConnectionsANewClientGets503) {
  TestHandler handler;
  ServerOptions options;
  options.max_connections = 1;
  RunningServer server(handler, options);
  LoopbackClient holder(server.address());
  ASSERT_TRUE(holder.request("GET", "/held"));  // its session is running and kept alive
  LoopbackClient refused(server.address());
  auto reply = refused.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 503u);
  EXPECT_TRUE(refused.closed_by_server());
  // The held connection still works.
  auto again = holder.request("GET", "/still");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "/still");
}

}  // namespace
}  // namespace regmirror::proxy::server
