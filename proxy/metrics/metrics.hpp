#pragma once
// The Prometheus metrics of the mirror (names prefixed regmirror_). Thread-safe; render() gives
// the text exposition format for /metrics. prometheus-cpp stays inside this file's .cpp.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace regmirror::proxy::metrics {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void http_request(std::string_view route, std::string_view method, unsigned status,
                    double seconds);
  // kind: manifest|blob|tag; outcome: hit|miss|stale
  void cache_outcome(std::string_view kind, std::string_view outcome);
  // source: cache|upstream
  void served_bytes(std::string_view source, std::uint64_t bytes);
  // kind: manifest|blob|tags|referrers|token; status: HTTP status or "error"
  void upstream_request(std::string_view registry, std::string_view method, std::string_view kind,
                        std::string_view status, double seconds);
  void upstream_ratelimit(std::string_view registry, std::string_view upstream, double limit,
                          double remaining);
  // docker-ratelimit-source: which address the upstream counts pulls against.
  void upstream_ratelimit_source(std::string_view registry, std::string_view upstream,
                                 std::string_view source);
  // Circuit of one upstream: 0 closed, 1 open, 2 half-open.
  void upstream_circuit(std::string_view registry, std::string_view upstream, int state);
  // A request that skipped an upstream because its circuit was open.
  void upstream_skipped(std::string_view registry, std::string_view upstream);
  // A broken blob transfer continued with a Range request (same or next upstream).
  void upstream_resume(std::string_view registry);
  // Upstream transfers running and waiting on the transfer thread.
  void upstream_transfers(std::size_t running, std::size_t queued);
  void inflight_downloads(int delta);
  void coalesced_waiter();
  void cache_size(std::uint64_t bytes, std::uint64_t blobs);

  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace regmirror::proxy::metrics
