// Per-request parsing: every GET pays parse_request_target + RoutingTable::route, every blob
// GET with a Range header pays parse_byte_range.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "config/load.hpp"
#include "config/routing_table.hpp"
#include "proxy/registry/byte_range.hpp"
#include "proxy/registry/request_target.hpp"

namespace {

using regmirror::proxy::registry::parse_byte_range;
using regmirror::proxy::registry::parse_request_target;

void BM_ParseByteRange(benchmark::State& state) {
  const std::vector<std::string> headers = {"", "bytes=0-1048575", "bytes=1048576-", "bytes=-500",
                                            "bytes=10-5"};
  const std::string& header = headers[static_cast<std::size_t>(state.range(0))];
  for (auto _ : state) benchmark::DoNotOptimize(parse_byte_range(header, 256ULL << 20));
  state.SetLabel(header.empty() ? "<none>" : header);
}
BENCHMARK(BM_ParseByteRange)->DenseRange(0, 4);

void BM_ParseRequestTarget(benchmark::State& state) {
  const std::vector<std::string> targets = {
      "/v2/library/alpine/manifests/3.19",
      "/v2/library/alpine/blobs/"
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "/v2/coreos/flannel/manifests/v0.14.0?ns=quay.io",
      "/v2/quay.io/coreos/flannel/manifests/v0.14.0",
  };
  const std::string& target = targets[static_cast<std::size_t>(state.range(0))];
  for (auto _ : state) benchmark::DoNotOptimize(parse_request_target(target));
  state.SetLabel(target.size() > 48 ? target.substr(0, 45) + "..." : target);
}
BENCHMARK(BM_ParseRequestTarget)->DenseRange(0, 3);

// route() with the embedded default config (6 registries + aliases), by each routing rule.
void BM_Route(benchmark::State& state) {
  static const auto config = regmirror::config::default_config();
  static const regmirror::config::RoutingTable table(config);
  struct Case {
    std::string ns, name, label;
  };
  const std::vector<Case> cases = {
      {"", "alpine", "default registry, library/ prefix"},
      {"docker.io", "library/alpine", "?ns=docker.io"},
      {"", "k8s.gcr.io/pause", "path prefix alias"},
      {"", "quay.io/coreos/flannel", "path prefix"},
  };
  const auto& c = cases[static_cast<std::size_t>(state.range(0))];
  for (auto _ : state) {
    auto route = table.route(c.ns, c.name);
    if (!route) {
      state.SkipWithError("route failed");
      break;
    }
    benchmark::DoNotOptimize(route);
  }
  state.SetLabel(c.label);
}
BENCHMARK(BM_Route)->DenseRange(0, 3);

}  // namespace
