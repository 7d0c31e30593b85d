#include "proxy/metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <functional>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace regmirror::proxy::metrics {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
const prometheus::Histogram::BucketBoundaries kLatencyBuckets{
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

// A labelled family whose children are found by their label values. prometheus-cpp's
// Family::Add builds a label map, hashes it and takes the family's lock on every call (5% of
// the CPU of a cached manifest, bench/README.md); here each child is added once, then found
// under a shared lock by its values joined in a per-thread buffer.
template <typename Metric>
class Labelled {
 public:
  Labelled(prometheus::Family<Metric>& family, std::vector<std::string> names)
      : family_(family), names_(std::move(names)) {}

  // `values` in the order of the names given at construction.
  Metric& at(std::initializer_list<std::string_view> values) {
    thread_local std::string key;
    key.clear();
    for (auto value : values) key.append(value).push_back('\0');
    {
      std::shared_lock lock(mutex_);
      if (auto found = children_.find(std::string_view(key)); found != children_.end())
        return *found->second;
    }
    prometheus::Labels labels;
    auto name = names_.begin();
    for (auto value : values) labels.emplace(*name++, std::string(value));
    Metric* metric = nullptr;
    if constexpr (std::is_same_v<Metric, prometheus::Histogram>) {
      metric = &family_.Add(labels, kLatencyBuckets);
    } else {
      metric = &family_.Add(labels);
    }
    std::unique_lock lock(mutex_);
    children_.emplace(key, metric);
    return *metric;
  }

 private:
  prometheus::Family<Metric>& family_;
  std::vector<std::string> names_;
  std::shared_mutex mutex_;
  std::unordered_map<std::string, Metric*, StringHash, std::equal_to<>> children_;
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  Labelled<prometheus::Counter> http_requests{
      BuildCounter()
          .Name("regmirror_http_requests_total")
          .Help("HTTP requests served, by route, method and status")
          .Register(*registry),
      {"route", "method", "status"}};
  Labelled<prometheus::Histogram> http_duration{
      BuildHistogram()
          .Name("regmirror_http_request_duration_seconds")
          .Help("Time to serve a request (until the response is written), by route")
          .Register(*registry),
      {"route"}};
  Labelled<prometheus::Counter> cache_requests{
      BuildCounter()
          .Name("regmirror_cache_requests_total")
          .Help("Cache lookups by kind (manifest, blob, tag) and outcome (hit, miss, stale)")
          .Register(*registry),
      {"kind", "outcome"}};
  Labelled<prometheus::Counter> served{
      BuildCounter()
          .Name("regmirror_served_bytes_total")
          .Help("Body bytes sent to clients, by source (cache, upstream)")
          .Register(*registry),
      {"source"}};
  Labelled<prometheus::Counter> upstream_requests{
      BuildCounter()
          .Name("regmirror_upstream_requests_total")
          .Help("Requests sent upstream, by registry, method, kind and status")
          .Register(*registry),
      {"registry", "method", "kind", "status"}};
  Labelled<prometheus::Histogram> upstream_duration{
      BuildHistogram()
          .Name("regmirror_upstream_request_duration_seconds")
          .Help("Upstream request latency (headers for streamed blobs), by registry")
          .Register(*registry),
      {"registry"}};
  Labelled<prometheus::Gauge> ratelimit_limit{
      BuildGauge()
          .Name("regmirror_upstream_ratelimit_limit")
          .Help("Pull limit an upstream announced (ratelimit-limit)")
          .Register(*registry),
      {"registry", "upstream"}};
  Labelled<prometheus::Gauge> ratelimit_remaining{
      BuildGauge()
          .Name("regmirror_upstream_ratelimit_remaining")
          .Help("Pulls left in the upstream's window (ratelimit-remaining)")
          .Register(*registry),
      {"registry", "upstream"}};
  Labelled<prometheus::Gauge> ratelimit_source{
      BuildGauge()
          .Name("regmirror_upstream_ratelimit_source_info")
          .Help("Address an upstream counts pulls against (docker-ratelimit-source), value 1")
          .Register(*registry),
      {"registry", "upstream", "source"}};
  Labelled<prometheus::Gauge> circuit{
      BuildGauge()
          .Name("regmirror_upstream_circuit_state")
          .Help("Circuit of an upstream: 0 closed, 1 open (skipped), 2 half-open (one probe)")
          .Register(*registry),
      {"registry", "upstream"}};
  Labelled<prometheus::Counter> skipped{
      BuildCounter()
          .Name("regmirror_upstream_skipped_total")
          .Help("Requests that skipped an upstream because its circuit was open")
          .Register(*registry),
      {"registry", "upstream"}};
  Labelled<prometheus::Counter> resumes{
      BuildCounter()
          .Name("regmirror_upstream_resumes_total")
          .Help("Broken blob transfers continued from the byte reached (Range request)")
          .Register(*registry),
      {"registry"}};
  prometheus::Family<prometheus::Gauge>& transfers =
      BuildGauge()
          .Name("regmirror_upstream_transfers")
          .Help("Upstream transfers on the transfer thread, by state (running, queued)")
          .Register(*registry);
  prometheus::Gauge& transfers_running = transfers.Add({{"state", "running"}});
  prometheus::Gauge& transfers_queued = transfers.Add({{"state", "queued"}});
  prometheus::Gauge& inflight = BuildGauge()
                                    .Name("regmirror_inflight_downloads")
                                    .Help("Upstream blob downloads in progress")
                                    .Register(*registry)
                                    .Add({});
  prometheus::Counter& coalesced =
      BuildCounter()
          .Name("regmirror_coalesced_waiters_total")
          .Help("Blob requests that joined a download already in progress")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Gauge>& cache_family = BuildGauge()
                                                            .Name("regmirror_cache_size_bytes")
                                                            .Help("Bytes of blobs on disk")
                                                            .Register(*registry);
  prometheus::Gauge& cache_bytes = cache_family.Add({});
  prometheus::Gauge& cache_blobs = BuildGauge()
                                       .Name("regmirror_cache_blobs")
                                       .Help("Blobs (layers, configs, manifests) on disk")
                                       .Register(*registry)
                                       .Add({});
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::http_request(std::string_view route, std::string_view method, unsigned status,
                           double seconds) {
  impl_->http_requests.at({route, method, std::to_string(status)}).Increment();
  impl_->http_duration.at({route}).Observe(seconds);
}

void Metrics::cache_outcome(std::string_view kind, std::string_view outcome) {
  impl_->cache_requests.at({kind, outcome}).Increment();
}

void Metrics::served_bytes(std::string_view source, std::uint64_t bytes) {
  impl_->served.at({source}).Increment(static_cast<double>(bytes));
}

void Metrics::upstream_request(std::string_view registry, std::string_view method,
                               std::string_view kind, std::string_view status, double seconds) {
  impl_->upstream_requests.at({registry, method, kind, status}).Increment();
  impl_->upstream_duration.at({registry}).Observe(seconds);
}

void Metrics::upstream_ratelimit(std::string_view registry, std::string_view upstream, double limit,
                                 double remaining) {
  impl_->ratelimit_limit.at({registry, upstream}).Set(limit);
  impl_->ratelimit_remaining.at({registry, upstream}).Set(remaining);
}

void Metrics::upstream_ratelimit_source(std::string_view registry, std::string_view upstream,
                                        std::string_view source) {
  impl_->ratelimit_source.at({registry, upstream, source}).Set(1);
}

void Metrics::upstream_circuit(std::string_view registry, std::string_view upstream, int state) {
  impl_->circuit.at({registry, upstream}).Set(state);
}

void Metrics::upstream_skipped(std::string_view registry, std::string_view upstream) {
  impl_->skipped.at({registry, upstream}).Increment();
}

void Metrics::upstream_resume(std::string_view registry) {
  impl_->resumes.at({registry}).Increment();
}

void Metrics::upstream_transfers(std::size_t running, std::size_t queued) {
  impl_->transfers_running.Set(static_cast<double>(running));
  impl_->transfers_queued.Set(static_cast<double>(queued));
}

void Metrics::inflight_downloads(int delta) { impl_->inflight.Increment(delta); }

void Metrics::coalesced_waiter() { impl_->coalesced.Increment(); }

void Metrics::cache_size(std::uint64_t bytes, std::uint64_t blobs) {
  impl_->cache_bytes.Set(static_cast<double>(bytes));
  impl_->cache_blobs.Set(static_cast<double>(blobs));
}

std::string Metrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace regmirror::proxy::metrics
