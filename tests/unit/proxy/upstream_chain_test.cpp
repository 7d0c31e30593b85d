#include "proxy/registry/upstream_chain.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "proxy/metrics/metrics.hpp"
#include "proxy/upstream/curl_multi.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;
using Kind = AttemptVerdict::Kind;
using WalkResult = regmirror::Result<std::size_t, WalkFailure>;

// The walk itself, with scripted attempts: no network.
class UpstreamChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.name = "docker.io";
    registry_.upstreams = {{"http://harbor.test", "container_service/{basename}", "", "", ""},
                           {"http://public.test", "", "", "", ""}};
    chain_ = std::make_unique<UpstreamChain>(
        registry_, std::vector<upstream::Endpoint>{{"http://harbor.test", {}}, {"http://public.test", {}}},
        client_, metrics_, upstream::CircuitOptions{2, std::chrono::seconds(60), std::chrono::seconds(60)});
  }

  WalkResult walk(const std::string& repository, std::vector<AttemptVerdict> script,
                  std::vector<std::string>* asked = nullptr) {
    std::size_t next = 0;
    UpstreamChain::Attempt attempt = [&](const UpstreamTarget& t) -> asio::awaitable<AttemptVerdict> {
      if (asked) asked->push_back(t.endpoint->base_url + "/" + t.repository);
      co_return script.at(next++);
    };
    asio::io_context io;
    std::optional<WalkResult> out;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      out = co_await chain_->walk(repository, false, attempt);
    }, asio::detached);
    io.run();
    return *out;
  }

  config::RegistryConfig registry_;
  upstream::CurlMulti multi_;
  upstream::UpstreamClient client_{multi_};
  metrics::Metrics metrics_;
  std::unique_ptr<UpstreamChain> chain_;
};

AttemptVerdict fault(std::string detail = "answered 503") {
  return {Kind::kFailed, true, false, std::move(detail), {}};
}

TEST_F(UpstreamChainTest, TriesEachUpstreamInOrderWithItsPathTemplate) {
  std::vector<std::string> asked;
  auto won = walk("kube/pause", {fault(), AttemptVerdict::answered()}, &asked);
  ASSERT_TRUE(won);
  EXPECT_EQ(*won, 1u);
  EXPECT_EQ(asked, (std::vector<std::string>{"http://harbor.test/container_service/pause",
                                             "http://public.test/kube/pause"}));
}

TEST_F(UpstreamChainTest, AnOpenCircuitIsSkippedWithoutAnAttempt) {
  // Two faults in a row open the harbor's circuit (threshold 2 here).
  walk("a/b", {fault(), AttemptVerdict::answered()});
  walk("a/b", {fault(), AttemptVerdict::answered()});
  EXPECT_EQ(chain_->circuit(0).state(), upstream::CircuitState::kOpen);
  std::vector<std::string> asked;
  auto won = walk("a/b", {AttemptVerdict::answered()}, &asked);
  ASSERT_TRUE(won);
  EXPECT_EQ(*won, 1u);
  EXPECT_EQ(asked, std::vector<std::string>{"http://public.test/a/b"});
}

TEST_F(UpstreamChainTest, OnlyWhenEveryUpstreamSays404IsItNotFound) {
  AttemptVerdict not_found{Kind::kNotFound, false, false, "answered 404", {}};
  auto both = walk("a/b", {not_found, not_found});
  ASSERT_FALSE(both);
  EXPECT_TRUE(both.error().all_not_found());
  EXPECT_EQ(both.error().to_error(OciError::kManifestUnknown, "manifest a/b:1").code,
            OciError::kManifestUnknown);
  // A failure on one and a 404 on the other: the image may exist where it failed.
  auto mixed = walk("a/b", {fault(), not_found});
  ASSERT_FALSE(mixed);
  auto error = mixed.error().to_error(OciError::kManifestUnknown, "manifest a/b:1");
  EXPECT_EQ(error.code, OciError::kUnavailable);
  EXPECT_NE(error.message.find("http://harbor.test answered 503"), std::string::npos) << error.message;
}

TEST_F(UpstreamChainTest, ARateLimitComesBackAsTooManyRequestsWithRetryAfter) {
  AttemptVerdict limited{Kind::kRateLimited, false, false, "answered 429", "42"};
  AttemptVerdict not_found{Kind::kNotFound, false, false, "answered 404", {}};
  auto walked = walk("a/b", {limited, not_found});
  ASSERT_FALSE(walked);
  auto error = walked.error().to_error(OciError::kBlobUnknown, "blob x");
  EXPECT_EQ(error.code, OciError::kTooManyRequests);
  EXPECT_EQ(error.retry_after, "42");
}

TEST_F(UpstreamChainTest, AnUpstreamWhoseTemplateDoesNotApplyIsNotAsked) {
  std::vector<std::string> asked;
  // {basename} applies to a one-segment name too; an empty chain position is skipped.
  auto won = walk("pause", {AttemptVerdict::answered()}, &asked);
  ASSERT_TRUE(won);
  EXPECT_EQ(asked.front(), "http://harbor.test/container_service/pause");
}

}  // namespace
}  // namespace regmirror::proxy::registry
