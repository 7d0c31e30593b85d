#include "proxy/registry/registry_handler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <vector>

#include "cache/access_tracker.hpp"
#include "config/reference.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/blob_download.hpp"
#include "proxy/registry/blob_service.hpp"
#include "proxy/registry/byte_range.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/referrers_service.hpp"
#include "proxy/registry/repository_scope.hpp"
#include "proxy/registry/request_target.hpp"
#include "proxy/registry/tag_list_service.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/access_policy.hpp"
#include "proxy/server/offload.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::registry {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using server::Connection;

namespace {

constexpr std::size_t kCopyChunk = std::size_t{256} * 1024;
// Followers of a download are woken by its progress events; this is only a safety net.
constexpr auto kProgressSafetyNet = std::chrono::seconds(5);

// Everything one request produced, for the access log line and the metrics.
struct Exchange {
  RouteKind kind = RouteKind::kUnknown;
  std::string registry;
  std::string repository;
  std::string reference;
  unsigned status = 0;
  CacheOutcome outcome = CacheOutcome::kNone;
  std::uint64_t bytes = 0;
  std::string error;
  std::string upstream;  // the upstream that answered a miss
  std::string client;    // address, behind trusted proxies the one they forwarded for
  std::string user;      // htpasswd user or token name; "" when anonymous
};

using StringResponse = http::response<http::string_body>;
using HeadResponse = http::response<http::empty_body>;

// Waits for the download to move past what the caller saw (a progress event), or the net.
asio::awaitable<void> wait_progress(Connection& connection, BlobDownload& download,
                                    const BlobDownload::Status& seen) {
  auto timer = std::make_shared<asio::steady_timer>(connection.executor(), kProgressSafetyNet);
  download.on_progress([timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
  auto now = download.status();
  if (now.state != seen.state || now.written != seen.written) co_return;
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

// One request: routes it, asks the right service, writes the answer.
class RequestContext {
 public:
  RequestContext(const RegistryHandlerParts& parts, Connection& connection)
      : parts_(parts), connection_(connection) {}

  Exchange ex;
  std::string ns;
  bool scoped_ = false;  // the client is limited by access.scopes

  asio::awaitable<bool> serve(const RequestTarget& target) {
    const auto method = connection_.request().method();
    ex.kind = target.kind;
    auto client = connection_.peer().address;
    ex.client = connection_.peer().text;
    if (auto* policy = parts_.access_policy) {
      auto forwarded = connection_.request()["X-Forwarded-For"];
      client = policy->client_address(client, std::string_view(forwarded.data(), forwarded.size()));
      if (client != connection_.peer().address) ex.client = client.to_string();
    }
    switch (target.kind) {
      case RouteKind::kHealthz:
        co_return co_await plain(http::status::ok, "ok\n");
      case RouteKind::kReadyz: {
        auto job = [r = parts_.readiness] { return r(); };
        auto why = co_await server::offload(*parts_.index_pool, std::move(job));
        if (why.empty()) co_return co_await plain(http::status::ok, "ready\n");
        co_return co_await plain(http::status::service_unavailable, "not ready: " + why + "\n");
      }
      case RouteKind::kMetrics: {
        if (!parts_.serve_metrics) co_return co_await error(OciError::kNotFound, "metrics are on metrics_listen");
        StringResponse response{http::status::ok, connection_.request().version()};
        response.set(http::field::content_type, "text/plain; version=0.0.4");
        response.body() = parts_.metrics->render();
        co_return co_await send_buffered(std::move(response));
      }
      case RouteKind::kUnknown:
        co_return co_await error(OciError::kNotFound, "no such route");
      default:
        break;
    }
    // Access control covers the whole registry API (/v2/...), not the health probes.
    if (auto* policy = parts_.access_policy) {
      if (!policy->address_allowed(client)) {
        co_return co_await error(OciError::kDenied, "client address not allowed");
      }
      auto authorization = connection_.request()[http::field::authorization];
      auto user = policy->authenticate(std::string_view(authorization.data(), authorization.size()));
      if (!user) {
        auto response = error_response(registry_error(OciError::kUnauthorized, "authentication required"));
        response.set(http::field::www_authenticate, "Basic realm=\"regmirror\"");
        co_return co_await send_buffered(std::move(response));
      }
      ex.user = std::move(*user);
    }
    scoped_ = parts_.scopes != nullptr && !ex.user.empty() && parts_.scopes->limits(ex.user) &&
              parts_.repository_scope != nullptr;
    if (method != http::verb::get && method != http::verb::head) {
      co_return co_await error(OciError::kUnsupported,
                               "this is a read-only mirror: only GET and HEAD are supported");
    }
    if (target.kind == RouteKind::kBase) {
      StringResponse response = ok_response("application/json");
      response.body() = "{}";
      co_return co_await send_buffered(std::move(response));
    }
    if (target.kind == RouteKind::kUploads) {
      co_return co_await error(OciError::kUnsupported, "push is not supported by a mirror");
    }
    if (target.kind == RouteKind::kUnknownV2) co_return co_await error(OciError::kNotFound, "no such route");
    if (target.bad_encoding) co_return co_await error(OciError::kNameInvalid, "malformed query string");
    if (!target.ns.empty() && !config::is_valid_registry_host(target.ns)) {
      co_return co_await error(OciError::kNameInvalid, "invalid ns parameter");
    }
    auto route = parts_.routes->route(target.ns, target.name);
    if (!route) {
      if (route.error() == config::RouteError::kNameInvalid) {
        co_return co_await error(OciError::kNameInvalid, "invalid repository name");
      }
      // Computed outside co_await: GCC 12 destroys temporaries of a conditional inside a
      // co_await expression twice.
      std::string registry = target.ns;
      if (registry.empty()) registry = target.name.substr(0, target.name.find('/'));
      std::string message = "registry not served by this mirror: " + registry;
      co_return co_await error(OciError::kNameUnknown, message);
    }
    ex.registry = route->registry->name;
    ex.repository = route->repository;
    ex.reference = target.reference;
    if (auto refused = policy_refusal(*route, target)) co_return co_await error(OciError::kDenied, *refused);
    if (scoped_) {
      bool by_tag = target.kind == RouteKind::kManifest && target.reference.find(':') == std::string::npos;
      std::string_view tag = by_tag ? std::string_view(target.reference) : std::string_view();
      auto why = parts_.scopes->refusal(ex.user, route->registry->name, route->repository, tag);
      if (why) co_return co_await error(OciError::kDenied, *why);
    }
    if (target.kind != RouteKind::kTagsList && is_blocked(target.reference)) {
      co_return co_await error(OciError::kDenied, blocked_message(target.reference));
    }
    const auto& chain = *parts_.chains->at(route->registry->name);
    switch (target.kind) {
      case RouteKind::kManifest:
        co_return co_await manifest(chain, route->repository, target.reference);
      case RouteKind::kBlob:
        co_return co_await blob(chain, route->repository, target.reference);
      case RouteKind::kTagsList:
        co_return co_await tags(chain, route->repository, target);
      case RouteKind::kReferrers:
        co_return co_await referrers(chain, route->repository, target);
      default:
        co_return co_await error(OciError::kNotFound, "no such route");
    }
  }

 private:
  // The registry's allow/deny rules, judged on the client's name before any upstream is asked.
  static std::optional<std::string> policy_refusal(const config::Route& route, const RequestTarget& target) {
    bool by_tag = target.kind == RouteKind::kManifest && target.reference.find(':') == std::string::npos;
    auto why = route.policy->refusal(route.repository, by_tag ? std::string_view(target.reference) : "");
    if (!why) return std::nullopt;
    return "repository " + route.registry->name + "/" + route.repository + " " + *why;
  }

  bool is_blocked(std::string_view digest) const {
    return parts_.blocklist != nullptr && parts_.blocklist->blocked(digest);
  }
  static std::string blocked_message(std::string_view digest) {
    return "digest " + std::string(digest) + " is blocked by this mirror's blocked_digests_file";
  }

  // ------------------------------------------------------------------ writing
  template <class Response>
  void common_headers(Response& response) {
    response.set("Docker-Distribution-API-Version", "registry/2.0");
    if (!ns.empty()) response.set("OCI-Namespace", ns);
  }

  StringResponse ok_response(std::string_view content_type) {
    StringResponse response{http::status::ok, connection_.request().version()};
    common_headers(response);
    response.set(http::field::content_type, content_type);
    return response;
  }

  // The one place an error becomes a response (status and OCI body: oci_error.cpp).
  StringResponse error_response(const RegistryError& failure) {
    StringResponse response{static_cast<http::status>(http_status(failure.code)),
                            connection_.request().version()};
    common_headers(response);
    response.set(http::field::content_type, "application/json");
    if (!failure.retry_after.empty()) response.set(http::field::retry_after, failure.retry_after);
    if (connection_.request().method() != http::verb::head) {
      response.body() = error_body(failure.code, failure.message);
    }
    ex.error = failure.message;
    return response;
  }

  // HEAD answers carry the Content-Length of the GET body but no body.
  asio::awaitable<bool> send_buffered(StringResponse response) {
    ex.status = response.result_int();
    if (connection_.request().method() == http::verb::head) {
      HeadResponse head{response.result(), response.version()};
      for (const auto& field : response.base()) head.set(field.name_string(), field.value());
      head.content_length(response.body().size());
      co_return co_await connection_.send_header(head);
    }
    ex.bytes = response.body().size();
    co_return co_await connection_.send(std::move(response));
  }

  asio::awaitable<bool> plain(http::status status, std::string body) {
    StringResponse response{status, connection_.request().version()};
    response.set(http::field::content_type, "text/plain");
    response.body() = std::move(body);
    co_return co_await send_buffered(std::move(response));
  }

  asio::awaitable<bool> error(OciError code, const std::string& message) {
    auto response = error_response(registry_error(code, message));
    co_return co_await send_buffered(std::move(response));
  }

  asio::awaitable<bool> failure(RegistryError failure) {
    auto response = error_response(failure);
    co_return co_await send_buffered(std::move(response));
  }

  // ------------------------------------------------------------------ manifests
  asio::awaitable<bool> manifest(const UpstreamChain& chain, const std::string& repository,
                                 const std::string& reference) {
    if (scoped_ && reference.find(':') != std::string::npos) {
      auto digest = cache::Digest::parse(reference);
      if (!digest) co_return co_await error(OciError::kManifestUnknown, "invalid digest " + reference);
      if (!co_await parts_.repository_scope->holds(chain, repository, *digest, true)) {
        co_return co_await error(OciError::kManifestUnknown,
                                 "manifest " + reference + " unknown to repository " + repository);
      }
    }
    if (auto hot = hot_manifest(chain, repository, reference)) {
      // A tag resolving to a blocked digest is refused too (the cache keeps it).
      if (is_blocked(hot->digest)) co_return co_await error(OciError::kDenied, blocked_message(hot->digest));
      ex.outcome = CacheOutcome::kHit;
      parts_.metrics->cache_outcome(reference.find(':') == std::string::npos ? "tag" : "manifest",
                                    "hit");
      co_return co_await send_manifest(hot->digest, hot->media_type, hot->body, CacheOutcome::kHit);
    }
    auto answer = co_await parts_.manifests->get(chain, repository, reference);
    if (!answer) co_return co_await failure(answer.error());
    ex.outcome = answer->outcome;
    ex.upstream = answer->upstream;
    if (is_blocked(answer->digest)) co_return co_await error(OciError::kDenied, blocked_message(answer->digest));
    co_return co_await send_manifest(answer->digest, answer->media_type, answer->body,
                                     answer->outcome);
  }

  // A manifest by digest, or a tag within its TTL, straight from memory.
  std::shared_ptr<const HotManifest> hot_manifest(const UpstreamChain& chain,
                                                  const std::string& repository,
                                                  const std::string& reference) {
    if (parts_.hot == nullptr) return nullptr;
    if (reference.find(':') != std::string::npos) return parts_.hot->by_digest(reference);
    auto hit = parts_.hot->by_tag(HotManifestCache::tag_key(chain.registry().name, repository, reference));
    if (!hit || unix_now() - hit->validated_at >= chain.registry().tag_ttl.count()) return nullptr;
    return hit->manifest;
  }

  asio::awaitable<bool> send_manifest(const std::string& digest, const std::string& media_type,
                                      const std::string& body, CacheOutcome outcome) {
    if (auto served = cache::Digest::parse(digest)) {
      parts_.access->touch(*served, unix_now());
      // With scoped clients, every served manifest tells which repository holds what.
      if (parts_.repository_scope != nullptr && parts_.scopes != nullptr && !parts_.scopes->empty()) {
        parts_.repository_scope->remember_manifest(ex.registry, ex.repository, *served, body);
      }
    }
    ex.outcome = outcome;
    StringResponse response = ok_response(media_type);
    response.set("Docker-Content-Digest", digest);
    response.set(http::field::etag, "\"" + digest + "\"");
    response.set("X-Cache", x_cache_value(outcome));
    response.body() = body;
    co_return co_await send_buffered(std::move(response));
  }

  // ------------------------------------------------------------------ blobs
  asio::awaitable<bool> blob(const UpstreamChain& chain, const std::string& repository,
                             const std::string& reference) {
    auto digest = cache::Digest::parse(reference);
    if (!digest) co_return co_await error(OciError::kBlobUnknown, "invalid digest " + reference);
    const bool head = connection_.request().method() == http::verb::head;
    if (scoped_ && !co_await parts_.repository_scope->holds(chain, repository, *digest, false)) {
      co_return co_await error(OciError::kBlobUnknown,
                               "blob " + digest->str() + " unknown to repository " + repository);
    }
    auto located = co_await parts_.blobs->locate(chain, repository, *digest, head);
    if (!located) co_return co_await failure(located.error());
    auto& source = *located;
    ex.outcome = source.outcome;
    ex.upstream = source.upstream;
    switch (source.kind) {
      case BlobSource::Kind::kRedirect: {
        StringResponse response{http::status::temporary_redirect, connection_.request().version()};
        common_headers(response);
        response.set(http::field::location, source.location);
        response.set("Docker-Content-Digest", digest->str());
        co_return co_await send_buffered(std::move(response));
      }
      case BlobSource::Kind::kHeadOnly: {
        auto written = co_await blob_head(*digest, source.size, source.outcome);
        co_return written.ok;
      }
      case BlobSource::Kind::kReader:
        co_return co_await serve_reader(*digest, *source.reader);
      case BlobSource::Kind::kDownload:
        co_return co_await stream_download(*digest, source.download);
    }
    co_return false;
  }

  // What blob_head() wrote: whether the write worked, and the byte range the body must carry
  // (none after a HEAD, an empty body or a range error, which it answered completely).
  struct BlobHead {
    bool ok = true;
    std::optional<ByteRange> body;
  };

  // The one writer of blob headers (and of range errors): cached, in-flight and HEAD-only
  // blobs alike.
  asio::awaitable<BlobHead> blob_head(const cache::Digest& digest, std::uint64_t size,
                                      CacheOutcome outcome) {
    ex.outcome = outcome;
    auto range = parse_byte_range(std::string(connection_.request()[http::field::range]), size);
    if (range.kind == ByteRange::Kind::kMalformed || range.kind == ByteRange::Kind::kUnsatisfiable) {
      auto response = error_response(registry_error(
          OciError::kRangeInvalid, range.kind == ByteRange::Kind::kMalformed
                                       ? "malformed Range header"
                                       : "range not satisfiable for a blob of " +
                                             std::to_string(size) + " bytes"));
      response.set(http::field::content_range, "bytes */" + std::to_string(size));
      co_return BlobHead{co_await send_buffered(std::move(response)), std::nullopt};
    }
    if (range.kind == ByteRange::Kind::kWhole) {
      range.first = 0;
      range.last = size == 0 ? 0 : size - 1;
    }
    const bool partial = range.kind == ByteRange::Kind::kPartial;
    HeadResponse response{partial ? http::status::partial_content : http::status::ok,
                          connection_.request().version()};
    common_headers(response);
    response.set(http::field::content_type, "application/octet-stream");
    response.set("Docker-Content-Digest", digest.str());
    response.set(http::field::etag, "\"" + digest.str() + "\"");
    response.set(http::field::accept_ranges, "bytes");
    response.set("X-Cache", x_cache_value(outcome));
    const std::uint64_t length = size == 0 ? 0 : range.length();
    if (partial) {
      response.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                                   std::to_string(range.last) + "/" +
                                                   std::to_string(size));
    }
    response.content_length(length);
    ex.status = response.result_int();
    const bool is_head = connection_.request().method() == http::verb::head;
    const bool ok = co_await connection_.send_header(response, !is_head && length > 0);
    if (!ok || is_head || length == 0) co_return BlobHead{ok, std::nullopt};
    co_return BlobHead{true, range};
  }

  // Sends [first, end) from a reader: sendfile when it is a local file.
  asio::awaitable<bool> send_range(int fd, const std::function<cache::Result<std::size_t>(
                                               std::uint64_t, std::span<std::byte>)>& read_at,
                                   std::uint64_t first, std::uint64_t end) {
    if (fd >= 0) co_return co_await connection_.send_file(fd, first, end - first);
    std::vector<std::byte> buffer(kCopyChunk);
    while (first < end) {
      auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kCopyChunk, end - first));
      auto n = read_at(first, std::span(buffer.data(), want));
      if (!n || *n == 0) co_return false;
      if (!co_await connection_.send_bytes(std::span(buffer.data(), *n))) co_return false;
      first += *n;
    }
    co_return true;
  }

  asio::awaitable<bool> serve_reader(const cache::Digest& digest, cache::BlobReader& reader) {
    auto head = co_await blob_head(digest, reader.size(), CacheOutcome::kHit);
    if (!head.body) co_return head.ok;
    const auto& range = head.body;
    const auto end = range->last + 1;
    bool sent = co_await send_range(
        reader.native_fd(),
        [&reader](std::uint64_t offset, std::span<std::byte> out) { return reader.read_at(offset, out); },
        range->first, end);
    if (sent) {
      ex.bytes = end - range->first;
      parts_.metrics->served_bytes("cache", ex.bytes);
    }
    co_return sent;
  }

  asio::awaitable<bool> stream_download(const cache::Digest& digest,
                                        std::shared_ptr<BlobDownload> download) {
    // Wait for the upstream's answer (and its size).
    auto status = download->status();
    while (status.state == BlobDownload::State::kStarting ||
           (status.state == BlobDownload::State::kStreaming && !status.total)) {
      co_await wait_progress(connection_, *download, status);
      status = download->status();
    }
    if (status.state == BlobDownload::State::kFailed) {
      co_return co_await failure(registry_error(status.error, status.message, status.retry_after));
    }
    auto head = co_await blob_head(digest, *status.total, CacheOutcome::kMiss);
    if (!head.body) co_return head.ok;
    const auto& range = head.body;
    std::uint64_t position = range->first;
    const std::uint64_t end = range->last + 1;
    while (position < end) {
      status = download->status();
      if (status.state == BlobDownload::State::kFailed) {
        logging::warn("client_stream_cut", {{"registry", ex.registry},
                                            {"repo", ex.repository},
                                            {"digest", digest.str()},
                                            {"reason", status.message}});
        co_return false;  // the client sees a short body: never a complete wrong one
      }
      auto available = std::min(status.releasable(), end);
      if (position < available) {
        auto* dl = download.get();
        if (!co_await send_range(
                dl->native_fd(),
                [dl](std::uint64_t offset, std::span<std::byte> out) { return dl->read_at(offset, out); },
                position, available)) {
          co_return false;
        }
        parts_.metrics->served_bytes("upstream", available - position);
        ex.bytes += available - position;
        position = available;
        continue;
      }
      co_await wait_progress(connection_, *download, status);
    }
    co_return true;
  }

  // ------------------------------------------------------------------ tags, referrers
  asio::awaitable<bool> tags(const UpstreamChain& chain, const std::string& repository,
                             const RequestTarget& target) {
    auto answer = co_await list_tags(chain, *parts_.metadata, *parts_.index_pool,
                                     parts_.config->offline, repository, target.n, target.last);
    if (!answer) co_return co_await failure(answer.error());
    ex.outcome = answer->outcome;
    StringResponse response = ok_response("application/json");
    if (answer->outcome == CacheOutcome::kStale) response.set("X-Cache", "STALE");
    if (!answer->next_link.empty()) response.set(http::field::link, answer->next_link);
    response.body() = std::move(answer->body);
    co_return co_await send_buffered(std::move(response));
  }

  asio::awaitable<bool> referrers(const UpstreamChain& chain, const std::string& repository,
                                  const RequestTarget& target) {
    auto answer = co_await list_referrers(chain, *parts_.manifests, *parts_.metadata, *parts_.index_pool,
                                          parts_.config->offline, repository, target.reference,
                                          target.artifact_type, scoped_);
    if (!answer) co_return co_await failure(answer.error());
    ex.outcome = answer->outcome;
    StringResponse response = ok_response(kImageIndexMediaType);
    response.set("X-Cache", x_cache_value(answer->outcome));
    if (!answer->filters_applied.empty()) response.set("OCI-Filters-Applied", answer->filters_applied);
    response.body() = std::move(answer->body);
    co_return co_await send_buffered(std::move(response));
  }

  const RegistryHandlerParts& parts_;
  Connection& connection_;
};

}  // namespace

asio::awaitable<bool> RegistryHandler::handle(Connection& connection) {
  const auto started = std::chrono::steady_clock::now();
  const auto& request = connection.request();
  auto target = parse_request_target(std::string_view(request.target().data(), request.target().size()));
  RequestContext context(parts_, connection);
  // Echoed in OCI-Namespace only when it is a host name: never reflect raw client bytes.
  if (config::is_valid_registry_host(target.ns)) context.ns = target.ns;
  bool keep = co_await context.serve(target);
  const auto& ex = context.ex;
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto method = std::string_view(request.method_string().data(), request.method_string().size());
  parts_.metrics->http_request(route_name(ex.kind), method, ex.status, seconds);
  if (ex.kind != RouteKind::kHealthz && ex.kind != RouteKind::kReadyz && ex.kind != RouteKind::kMetrics) {
    auto status = std::to_string(ex.status);
    auto millis = std::to_string(static_cast<long>(seconds * 1000));
    auto bytes = std::to_string(ex.bytes);
    logging::info("request", {{"client", ex.client},
                              {"user", ex.user.empty() ? std::string_view("-") : std::string_view(ex.user)},
                              {"method", method},
                              {"route", route_name(ex.kind)},
                              {"registry", ex.registry},
                              {"repo", ex.repository},
                              {"ref", ex.reference},
                              {"ns", target.ns},
                              {"status", status},
                              {"cache", x_cache_value(ex.outcome)},
                              {"upstream", ex.upstream},
                              {"bytes", bytes},
                              {"ms", millis},
                              {"error", ex.error},
                              {"closed", keep ? "" : "true"}});
  }
  co_return keep;
}

}  // namespace regmirror::proxy::registry
