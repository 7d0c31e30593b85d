#include "proxy/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace regmirror::proxy::metrics {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, EachLabelSetCountsOnItsOwn) {
  Metrics metrics;
  for (int i = 0; i < 3; ++i) metrics.http_request("manifest", "GET", 200, 0.002);
  metrics.http_request("manifest", "GET", 404, 0.002);
  metrics.http_request("manifest", "HEAD", 200, 0.002);
  // Joined naively these two would be one key.
  metrics.cache_outcome("ab", "c");
  metrics.cache_outcome("a", "bc");
  metrics.cache_outcome("a", "bc");
  auto text = metrics.render();
  EXPECT_TRUE(has_line(text, R"(regmirror_http_requests_total{method="GET",route="manifest",status="200"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(regmirror_http_requests_total{method="GET",route="manifest",status="404"} 1)"));
  EXPECT_TRUE(has_line(text, R"(regmirror_http_requests_total{method="HEAD",route="manifest",status="200"} 1)"));
  EXPECT_TRUE(has_line(text, R"(regmirror_http_request_duration_seconds_count{route="manifest"} 5)"));
  EXPECT_TRUE(has_line(text, R"(regmirror_cache_requests_total{kind="ab",outcome="c"} 1)"));
  EXPECT_TRUE(has_line(text, R"(regmirror_cache_requests_total{kind="a",outcome="bc"} 2)"));
}

TEST(Metrics, GaugesKeepTheLastValueAndThreadsShareChildren) {
  Metrics metrics;
  metrics.upstream_ratelimit("docker.io", "https://registry-1.docker.io", 100, 40);
  metrics.upstream_ratelimit("docker.io", "https://registry-1.docker.io", 100, 39);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < 10000; ++i) metrics.served_bytes(i % 2 == 0 ? "cache" : "upstream", 1);
    });
  }
  for (auto& thread : threads) thread.join();
  auto text = metrics.render();
  EXPECT_TRUE(has_line(
      text, R"(regmirror_upstream_ratelimit_remaining{registry="docker.io",upstream="https://registry-1.docker.io"} 39)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(regmirror_served_bytes_total{source="cache"} 20000)"));
  EXPECT_TRUE(has_line(text, R"(regmirror_served_bytes_total{source="upstream"} 20000)"));
}

}  // namespace
}  // namespace regmirror::proxy::metrics
