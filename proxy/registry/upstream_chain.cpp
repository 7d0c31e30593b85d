#include "proxy/registry/upstream_chain.hpp"

#include <chrono>

#include "config/path_template.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"

namespace regmirror::proxy::registry {
namespace {

constexpr std::int64_t kDefaultBackoffMs = 60'000;
constexpr std::int64_t kMaxBackoffMs = 6 * 3600 * 1000;

// "100;w=21600" -> 100
std::optional<double> leading_number(const std::string& value) {
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  double number = std::strtod(value.c_str(), &end);
  if (end == value.c_str()) return std::nullopt;
  return number;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Retry-After in delta-seconds (the HTTP-date form is rare from registries: default then).
std::int64_t retry_after_ms(const std::string& value) {
  if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != value.npos) {
    return kDefaultBackoffMs;
  }
  return std::min<std::int64_t>(std::stoll(value) * 1000, kMaxBackoffMs);
}

}  // namespace

UpstreamChain::UpstreamChain(const config::RegistryConfig& registry,
                             std::vector<upstream::Endpoint> endpoints,
                             upstream::UpstreamClient& client, metrics::Metrics& metrics)
    : registry_(registry),
      endpoints_(std::move(endpoints)),
      client_(client),
      metrics_(metrics),
      quotas_(std::make_unique<Quota[]>(endpoints_.size())) {}

std::int64_t UpstreamChain::backoff_left_ms(std::size_t index) const {
  auto left = quotas_[index].blocked_until_ms.load(std::memory_order_relaxed) - steady_ms();
  return left > 0 ? left : 0;
}

bool UpstreamChain::quota_low() const {
  if (registry_.min_remaining == 0) return false;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    auto remaining = quotas_[i].remaining.load(std::memory_order_relaxed);
    if (remaining >= 0 && static_cast<std::uint64_t>(remaining) < registry_.min_remaining) {
      return true;
    }
  }
  return false;
}

std::optional<UpstreamTarget> UpstreamChain::target(std::size_t index,
                                                    const std::string& repository) const {
  const auto& upstream = registry_.upstreams[index];
  std::string mapped = repository;
  if (!upstream.path_template.empty()) {
    auto expanded = config::expand_path_template(upstream.path_template, repository);
    if (!expanded) return std::nullopt;
    mapped = std::move(expanded.repository);
  }
  UpstreamTarget out;
  out.index = index;
  out.endpoint = &endpoints_[index];
  out.scope = "repository:" + mapped + ":pull";
  out.repository = std::move(mapped);
  return out;
}

void UpstreamChain::observe(const UpstreamTarget& target, const std::string& method,
                            const char* kind, const upstream::Result<upstream::Response>& result,
                            double seconds) const {
  std::string status = result ? std::to_string(result->status) : "error";
  metrics_.upstream_request(registry_.name, method, kind, status, seconds);
  if (!result) return;
  auto& quota = quotas_[target.index];
  auto limit = leading_number(result->header("ratelimit-limit"));
  auto remaining = leading_number(result->header("ratelimit-remaining"));
  if (limit && remaining) {
    metrics_.upstream_ratelimit(registry_.name, target.endpoint->base_url, *limit, *remaining);
    quota.remaining.store(static_cast<std::int64_t>(*remaining), std::memory_order_relaxed);
  }
  if (auto source = result->header("docker-ratelimit-source"); !source.empty()) {
    metrics_.upstream_ratelimit_source(registry_.name, target.endpoint->base_url, source);
  }
  if (result->status == 429) {
    auto until = steady_ms() + retry_after_ms(result->header("retry-after"));
    quota.blocked_until_ms.store(until, std::memory_order_relaxed);
    logging::warn("upstream_rate_limited", {{"registry", registry_.name},
                                            {"upstream", target.endpoint->base_url},
                                            {"kind", kind},
                                            {"retry_after", result->header("retry-after")}});
  }
}

upstream::Result<upstream::Response> UpstreamChain::stream(const UpstreamTarget& target,
                                                          const std::string& suffix,
                                                          upstream::StreamSink& sink) const {
  return client_.stream(*target.endpoint, "/v2/" + target.repository + suffix, {}, target.scope,
                        sink);
}

ChainOutcome UpstreamChain::fetch(const std::string& repository, const std::string& method,
                                  const std::string& suffix,
                                  const std::vector<std::string>& headers, std::size_t max_body,
                                  const char* kind) const {
  ChainOutcome outcome;
  std::size_t not_found = 0;
  std::size_t tried = 0;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    auto t = target(i, repository);
    if (!t) continue;
    ++tried;
    // During a 429 back-off, manifest GETs (what Docker Hub counts) are not sent at all.
    if (method == "GET" && std::string_view(kind) == "manifest") {
      if (auto left = backoff_left_ms(i); left > 0) {
        outcome.rate_limited = true;
        outcome.retry_after = std::to_string((left + 999) / 1000);
        outcome.failure = t->endpoint->base_url + " is rate-limited (backing off)";
        continue;
      }
    }
    auto started = std::chrono::steady_clock::now();
    auto result = client_.fetch(*t->endpoint, method, "/v2/" + t->repository + suffix, headers,
                                max_body, t->scope);
    observe(*t, method, kind, result,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!result) {
      outcome.failure = t->endpoint->base_url + ": " + result.error().message();
      logging::warn("upstream_failed", {{"registry", registry_.name},
                                        {"upstream", t->endpoint->base_url},
                                        {"repo", t->repository},
                                        {"kind", kind},
                                        {"error", result.error().message()}});
      continue;
    }
    long status = result->status;
    if (status >= 200 && status < 300) {
      outcome.response = std::move(*result);
      outcome.winner = i;
      return outcome;
    }
    if (status == 404) {
      ++not_found;
    } else if (status == 429) {
      outcome.rate_limited = true;
      outcome.retry_after = result->header("retry-after");
    }
    outcome.failure = t->endpoint->base_url + " answered " + std::to_string(status);
  }
  outcome.all_not_found = tried > 0 && not_found == tried;
  if (tried == 0) outcome.failure = "no upstream applies to repository " + repository;
  return outcome;
}

}  // namespace regmirror::proxy::registry
