#include "proxy/registry/upstream_chain.hpp"

#include <chrono>

#include "config/path_template.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/server/decimal_field.hpp"
#include "proxy/upstream/upstream_error.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;

constexpr std::int64_t kDefaultBackoffMs = 60'000;
constexpr std::int64_t kMaxBackoffMs = std::int64_t{6} * 3600 * 1000;

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
  auto seconds = server::parse_decimal_field(value, 9);
  if (!seconds) return kDefaultBackoffMs;
  return std::min<std::int64_t>(static_cast<std::int64_t>(*seconds) * 1000, kMaxBackoffMs);
}

bool is_server_error(long status) { return status >= 500 && status < 600; }

void log_circuit_change(const std::string& registry, const std::string& upstream,
                        upstream::CircuitState before, upstream::CircuitState after,
                        const std::string& reason) {
  if (before == after) return;
  logging::warn("upstream_circuit", {{"registry", registry},
                                     {"upstream", upstream},
                                     {"from", std::string(upstream::circuit_state_name(before))},
                                     {"to", std::string(upstream::circuit_state_name(after))},
                                     {"reason", reason}});
}

}  // namespace

AttemptVerdict AttemptVerdict::from(const upstream::Result<upstream::Response>& result) {
  if (!result) {
    // Only what says the upstream itself is unwell counts for its circuit: it cannot be
    // reached, does not answer in time, or drops connections. Garbage (a malformed answer, a
    // manifest over the limit, an insecure token realm) is an answer, and fails this request only.
    const auto& ec = result.error();
    const bool slow = ec == upstream::UpstreamErrc::kTimeout;
    const bool fault = slow || ec == upstream::UpstreamErrc::kConnect ||
                       ec == upstream::UpstreamErrc::kBroken;
    return {Kind::kFailed, fault, slow, ec.message(), {}};
  }
  const long status = result->status;
  if (status >= 200 && status < 300) return answered();
  std::string detail = "answered " + std::to_string(status);
  if (status == 404) return {Kind::kNotFound, false, false, detail, {}};
  if (status == 429) return {Kind::kRateLimited, false, false, detail, result->header("retry-after")};
  return {Kind::kFailed, is_server_error(status), false, detail, {}};
}

RegistryError WalkFailure::to_error(OciError not_found_code, const std::string& what) const {
  if (all_not_found()) return registry_error(not_found_code, what + " not found upstream");
  if (rate_limited) {
    return registry_error(OciError::kTooManyRequests, "upstream rate limit reached for " + what,
                          retry_after);
  }
  return registry_error(OciError::kUnavailable,
                        "no upstream could serve " + what + " (" + last + ")");
}

UpstreamChain::UpstreamChain(const config::RegistryConfig& registry,
                             std::vector<upstream::Endpoint> endpoints,
                             upstream::UpstreamClient& client, metrics::Metrics& metrics,
                             upstream::CircuitOptions circuit)
    : registry_(registry),
      endpoints_(std::move(endpoints)),
      client_(client),
      metrics_(metrics),
      quotas_(std::make_unique<Quota[]>(endpoints_.size())) {
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    circuits_.push_back(std::make_unique<upstream::CircuitBreaker>(circuit, nullptr));
  }
}

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
    mapped = std::move(*expanded);
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

asio::awaitable<Result<std::size_t, WalkFailure>> UpstreamChain::walk(
    std::string repository, bool counted_get, Attempt attempt, std::size_t first) const {
  using WalkResult = Result<std::size_t, WalkFailure>;
  WalkFailure failure;
  std::size_t applicable = 0;
  for (std::size_t i = first; i < endpoints_.size(); ++i) {
    auto t = target(i, repository);
    if (!t) continue;
    ++applicable;
    const auto& url = t->endpoint->base_url;
    // During a 429 back-off, what Docker Hub counts (manifest GETs) is not sent at all.
    if (counted_get) {
      if (auto left = backoff_left_ms(i); left > 0) {
        ++failure.tried;
        failure.rate_limited = true;
        failure.retry_after = std::to_string((left + 999) / 1000);
        failure.last = url + " is rate-limited (backing off)";
        continue;
      }
    }
    auto& circuit = *circuits_[i];
    const auto attempt_id = circuit.allow();
    if (attempt_id == 0) {
      ++failure.tried;
      failure.last = url + ": " + boost::system::error_code(upstream::UpstreamErrc::kCircuitOpen).message();
      metrics_.upstream_skipped(registry_.name, url);
      continue;
    }
    ++failure.tried;
    const auto before = circuit.state();
    t->answered = [&circuit, attempt_id] { circuit.answered(attempt_id); };
    auto verdict = co_await attempt(*t);
    if (verdict.upstream_fault) {
      circuit.record_failure(attempt_id, verdict.slow);
    } else {
      circuit.record_success(attempt_id);
    }
    const auto after = circuit.state();
    log_circuit_change(registry_.name, url, before, after, verdict.detail);
    metrics_.upstream_circuit(registry_.name, url, static_cast<int>(after));
    switch (verdict.kind) {
      case AttemptVerdict::Kind::kAnswered:
        co_return WalkResult(boost::system::in_place_value, i);
      case AttemptVerdict::Kind::kNotFound:
        ++failure.not_found;
        // A 404 names the failure only while every upstream so far said 404: otherwise the
        // one that failed is why the image could not be found.
        if (failure.not_found != failure.tried) continue;
        break;
      case AttemptVerdict::Kind::kRateLimited:
        failure.rate_limited = true;
        failure.retry_after = verdict.retry_after;
        break;
      case AttemptVerdict::Kind::kFailed:
        logging::warn("upstream_failed", {{"registry", registry_.name},
                                          {"upstream", url},
                                          {"repo", t->repository},
                                          {"error", verdict.detail}});
        break;
    }
    failure.last = url + " " + verdict.detail;
  }
  if (applicable == 0) failure.last = "no upstream applies to repository " + repository;
  co_return WalkResult(boost::system::in_place_error, std::move(failure));
}

asio::awaitable<Answer<Fetched>> UpstreamChain::fetch(std::string repository, std::string method,
                                                      std::string suffix,
                                                      std::vector<std::string> headers,
                                                      std::size_t max_body, const char* kind,
                                                      OciError not_found, std::string what) const {
  std::optional<upstream::Response> won;
  const bool counted = method == "GET" && std::string_view(kind) == "manifest";
  auto attempt = [&](const UpstreamTarget& t) -> asio::awaitable<AttemptVerdict> {
    const auto started = std::chrono::steady_clock::now();
    auto result = co_await client_.fetch(*t.endpoint, method, "/v2/" + t.repository + suffix,
                                         headers, max_body, t.scope);
    observe(t, method, kind, result,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    auto verdict = AttemptVerdict::from(result);
    if (verdict.kind == AttemptVerdict::Kind::kAnswered) won = std::move(*result);
    co_return verdict;
  };
  Attempt attempt_fn = attempt;  // named: GCC 12 mishandles lambda temporaries in co_await
  auto walked = co_await walk(repository, counted, std::move(attempt_fn));
  if (!walked) co_return Answer<Fetched>(boost::system::in_place_error, walked.error().to_error(not_found, what));
  co_return Answer<Fetched>(Fetched{std::move(*won), endpoints_[*walked].base_url});
}

}  // namespace regmirror::proxy::registry
