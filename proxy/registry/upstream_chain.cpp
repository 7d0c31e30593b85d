#include "proxy/registry/upstream_chain.hpp"

#include <chrono>

#include "config/path_template.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"

namespace regmirror::proxy::registry {
namespace {

// "100;w=21600" -> 100
std::optional<double> leading_number(const std::string& value) {
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  double number = std::strtod(value.c_str(), &end);
  if (end == value.c_str()) return std::nullopt;
  return number;
}

}  // namespace

UpstreamChain::UpstreamChain(const config::RegistryConfig& registry,
                             std::vector<upstream::Endpoint> endpoints,
                             upstream::UpstreamClient& client, metrics::Metrics& metrics)
    : registry_(registry), endpoints_(std::move(endpoints)), client_(client), metrics_(metrics) {}

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
  if (result) {
    auto limit = leading_number(result->header("ratelimit-limit"));
    auto remaining = leading_number(result->header("ratelimit-remaining"));
    if (limit && remaining) {
      metrics_.upstream_ratelimit(registry_.name, target.endpoint->base_url, *limit, *remaining);
    }
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
