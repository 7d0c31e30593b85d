#include "proxy/upstream/curl_multi.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "proxy/upstream/curl_handle_pool.hpp"
#include "proxy/upstream/upstream_error.hpp"
#include "tests/unit/proxy/loopback_http_server.hpp"

namespace regmirror::proxy::upstream {
namespace {

using regmirror::testing::LoopbackHttpServer;
using regmirror::testing::SeenRequest;
using regmirror::testing::TestAnswer;

std::string pattern(std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7) % 26);
  return out;
}

Result<Response> run(CurlMulti& multi, HttpRequest request) {
  std::promise<Result<Response>> done;
  auto future = done.get_future();
  multi.start(std::move(request), [&done](Result<Response> r) { done.set_value(std::move(r)); });
  return future.get();
}

TEST(CurlMulti, BufferedGetGivesStatusHeadersAndBody) {
  LoopbackHttpServer server([](const SeenRequest& r) {
    TestAnswer a;
    a.headers = {{"X-Seen", r.target}};
    a.body = "hello";
    return a;
  });
  CurlMulti multi;
  HttpRequest request;
  request.url = server.url() + "/v2/x";
  auto result = run(multi, request);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "hello");
  EXPECT_EQ(result->header("x-seen"), "/v2/x");
}

TEST(CurlMulti, ManyTransfersProgressAtOnceWithinTheCap) {
  LoopbackHttpServer server([](const SeenRequest&) {
    TestAnswer a;
    a.delay = std::chrono::milliseconds(100);
    a.body = "ok";
    return a;
  });
  CurlMultiOptions options;
  options.max_transfers = 8;
  CurlMulti multi(options);
  constexpr int kTransfers = 40;
  std::atomic<int> ok{0};
  std::promise<void> all;
  std::atomic<int> left{kTransfers};
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kTransfers; ++i) {
    HttpRequest request;
    request.url = server.url() + "/t" + std::to_string(i);
    multi.start(request, [&](Result<Response> r) {
      if (r && r->body == "ok") ++ok;
      if (--left == 0) all.set_value();
    });
  }
  all.get_future().wait();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(ok, kTransfers);
  EXPECT_LE(server.max_concurrent(), 8);
  EXPECT_GE(server.max_concurrent(), 4);  // not one after the other
  // 40 transfers of 100 ms each, 8 at a time: about 0.5 s, far from 4 s serially.
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST(CurlMulti, APausedStreamGetsItsChunkAgainAfterResume) {
  const auto body = pattern(3 << 20);
  LoopbackHttpServer server([&](const SeenRequest&) {
    TestAnswer a;
    a.body = body;
    return a;
  });
  CurlMulti multi;
  const auto id = multi.reserve_id();
  std::string received;
  std::atomic<int> pauses{0};
  HttpRequest request;
  request.url = server.url() + "/blob";
  request.on_head = [](const Response&) { return BodyUse::kStream; };
  request.on_data = [&](std::span<const std::byte> data) {
    if (pauses == 0 && received.size() > (1 << 20)) {
      ++pauses;
      std::thread([&multi, id] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        multi.resume(id);
      }).detach();
      return SinkAction::kPause;
    }
    received.append(reinterpret_cast<const char*>(data.data()), data.size());
    return SinkAction::kContinue;
  };
  std::promise<Result<Response>> done;
  multi.start(request, [&](Result<Response> r) { done.set_value(std::move(r)); }, id);
  auto result = done.get_future().get();
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(pauses, 1);
  EXPECT_EQ(received.size(), body.size());
  EXPECT_TRUE(received == body);
}

TEST(CurlMulti, AConnectionCutMidBodyIsABrokenTransfer) {
  LoopbackHttpServer server([](const SeenRequest&) {
    TestAnswer a;
    a.body = pattern(100000);
    a.cut_after = 1000;
    return a;
  });
  CurlMulti multi;
  HttpRequest request;
  request.url = server.url() + "/cut";
  std::size_t streamed = 0;
  request.on_head = [](const Response&) { return BodyUse::kStream; };
  request.on_data = [&](std::span<const std::byte> data) {
    streamed += data.size();
    return SinkAction::kContinue;
  };
  auto result = run(multi, request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), UpstreamErrc::kBroken);
  EXPECT_EQ(streamed, 1000u);
}

TEST(CurlMulti, ARefusedConnectionIsAConnectError) {
  unsigned short dead_port = 0;
  {
    LoopbackHttpServer server([](const SeenRequest&) { return TestAnswer{}; });
    dead_port = static_cast<unsigned short>(std::stoi(server.url().substr(server.url().rfind(':') + 1)));
  }
  CurlMulti multi;
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(dead_port) + "/x";
  auto result = run(multi, request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), UpstreamErrc::kConnect);
}

TEST(CurlMulti, CancelAndStopEndTransfersAsAborted) {
  LoopbackHttpServer server([](const SeenRequest&) {
    TestAnswer a;
    a.delay = std::chrono::milliseconds(1500);
    return a;
  });
  CurlMulti multi;
  HttpRequest request;
  request.url = server.url() + "/slow";
  std::promise<Result<Response>> cancelled;
  auto id = multi.start(request, [&](Result<Response> r) { cancelled.set_value(std::move(r)); });
  multi.cancel(id);
  auto first = cancelled.get_future();
  ASSERT_EQ(first.wait_for(std::chrono::milliseconds(1000)), std::future_status::ready);
  auto result = first.get();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), UpstreamErrc::kAborted);

  std::promise<Result<Response>> stopped;
  multi.start(request, [&](Result<Response> r) { stopped.set_value(std::move(r)); });
  multi.stop();
  auto second = stopped.get_future();
  ASSERT_EQ(second.wait_for(std::chrono::milliseconds(1000)), std::future_status::ready);
  EXPECT_EQ(second.get().error(), UpstreamErrc::kAborted);
  // After stop, a new transfer ends at once.
  auto late = run(multi, request);
  EXPECT_EQ(late.error(), UpstreamErrc::kAborted);
}

TEST(HttpExchange, BlockingUploadSendsTheBodyAndReadsTheAnswer) {
  LoopbackHttpServer server([](const SeenRequest& r) {
    TestAnswer a;
    a.status = 201;
    a.body = r.method + " " + r.headers.at("content-length");
    return a;
  });
  CurlHandlePool handles(2);
  const std::string body = pattern(70000);
  HttpRequest request;
  request.method = "PUT";
  request.url = server.url() + "/up";
  request.headers = {"Expect:"};  // this test server sends no 100 Continue
  request.body = std::as_bytes(std::span(body.data(), body.size()));
  auto result = perform_blocking(handles, request);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->body, "PUT 70000");
}

TEST(HttpExchange, ABufferedAnswerOverTheLimitIsTooLarge) {
  LoopbackHttpServer server([](const SeenRequest&) {
    TestAnswer a;
    a.body = pattern(5000);
    return a;
  });
  CurlHandlePool handles(1);
  HttpRequest request;
  request.url = server.url() + "/big";
  request.max_body = 4096;
  auto result = perform_blocking(handles, request);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error(), UpstreamErrc::kTooLarge);
}

}  // namespace
}  // namespace regmirror::proxy::upstream
