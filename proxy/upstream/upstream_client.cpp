#include "proxy/upstream/upstream_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "proxy/upstream/curl_multi.hpp"
#include "proxy/upstream/header_text.hpp"
#include "proxy/upstream/token_cache.hpp"
#include "proxy/upstream/upstream_error.hpp"
#include "proxy/upstream/www_authenticate.hpp"

namespace regmirror::proxy::upstream {
namespace {

namespace asio = boost::asio;

constexpr std::size_t kMaxTokenResponse = 1 << 20;

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// scheme://host:port of a URL, lower-cased, with the default port made explicit.
std::string origin_of(const std::string& url) {
  CURLU* h = curl_url();
  std::string origin;
  if (curl_url_set(h, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char* scheme = nullptr;
    char* host = nullptr;
    char* port = nullptr;
    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(h, CURLUPART_HOST, &host, 0);
    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (scheme && host && port) origin = to_lower(std::string(scheme) + "://" + host + ":" + port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(h);
  return origin;
}

std::optional<std::string> resolve_location(const std::string& base, const std::string& location) {
  CURLU* h = curl_url();
  std::optional<std::string> out;
  if (curl_url_set(h, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(h, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK) {
    char* full = nullptr;
    if (curl_url_get(h, CURLUPART_URL, &full, 0) == CURLUE_OK) out = full;
    curl_free(full);
  }
  curl_url_cleanup(h);
  if (out && out->rfind("http://", 0) != 0 && out->rfind("https://", 0) != 0) return std::nullopt;
  return out;
}

// Keyed by our scope: the registry's challenge may spell it differently, but for one upstream
// and one repository it always grants the same thing.
std::string token_key(const Endpoint& endpoint, std::string_view scope) {
  return endpoint.base_url + " " + std::string(scope);
}

std::string basic_authorization(const Credentials& credentials) {
  return "Basic " + base64(credentials.username + ":" + credentials.password);
}

}  // namespace

struct UpstreamClient::Impl {
  CurlMulti& transfers;
  ClientOptions options;
  TokenCache tokens;
  std::mutex basic_mutex;
  std::set<std::string> basic_origins;  // upstreams that asked for Basic auth

  Impl(CurlMulti& multi, ClientOptions opts) : transfers(multi), options(std::move(opts)) {}

  // One request/response, no redirects followed. Bodies of redirects and of a 401 we will
  // answer (retry_on_challenge) are read and dropped: they are not the answer.
  asio::awaitable<Result<Response>> hop(std::string url, std::string method,
                                        std::vector<std::string> headers,
                                        std::string authorization, std::size_t max_body,
                                        StreamSink* sink, bool retry_on_challenge) {
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.headers = std::move(headers);
    if (!authorization.empty()) request.headers.push_back("Authorization: " + authorization);
    request.connect_timeout = options.connect_timeout;
    request.stall_timeout = options.stall_timeout;
    if (sink == nullptr) request.total_timeout = options.request_timeout;
    request.max_body = max_body;
    request.user_agent = options.user_agent;
    request.on_head = [sink, retry_on_challenge](const Response& head) {
      const bool redirect = is_redirect(head.status) && !head.header("location").empty();
      if (redirect || (head.status == 401 && retry_on_challenge)) return BodyUse::kDiscard;
      if (sink == nullptr) return BodyUse::kBuffer;
      if (sink->on_headers && !sink->on_headers(head)) return BodyUse::kStop;
      return BodyUse::kStream;
    };
    CurlMulti::TransferId id = 0;
    if (sink != nullptr) {
      request.on_data = [sink](std::span<const std::byte> data) { return sink->on_data(data); };
      id = transfers.reserve_id();
      sink->resume = [multi = &transfers, id] { multi->resume(id); };
    }
    auto result = co_await async_perform(transfers, std::move(request), id);
    if (result) result->effective_url = url;
    co_return result;
  }

  // Follows redirects by hand: the Authorization goes only to the registry's own origin.
  asio::awaitable<Result<Response>> with_redirects(std::string registry_base, std::string url,
                                                   std::string method,
                                                   std::vector<std::string> headers,
                                                   std::string authorization,
                                                   std::size_t max_body, StreamSink* sink,
                                                   bool retry_on_challenge) {
    const auto registry_origin = origin_of(registry_base);
    for (int redirects = 0; redirects <= options.max_redirects; ++redirects) {
      // Named first: GCC 12 destroys the temporary of a ?: inside a co_await expression twice.
      std::string hop_authorization;
      if (origin_of(url) == registry_origin) hop_authorization = authorization;
      auto response = co_await hop(url, method, headers, std::move(hop_authorization), max_body,
                                   sink, retry_on_challenge);
      if (!response) co_return response;
      if (is_redirect(response->status)) {
        auto location = response->header("location");
        if (location.empty()) co_return response;
        auto next = resolve_location(url, location);
        if (!next) co_return Result<Response>(UpstreamErrc::kProtocol);
        url = std::move(*next);
        continue;
      }
      co_return response;
    }
    co_return Result<Response>(UpstreamErrc::kTooManyRedirects);
  }

  asio::awaitable<Result<std::string>> fetch_token(Endpoint endpoint, AuthChallenge challenge,
                                                   std::string scope) {
    auto realm = challenge.param("realm");
    bool https_registry = endpoint.base_url.rfind("https://", 0) == 0;
    if (realm.rfind("https://", 0) != 0 && (https_registry || realm.rfind("http://", 0) != 0)) {
      co_return Result<std::string>(UpstreamErrc::kInsecureRealm);
    }
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    auto append = [&](const char* key, const std::string& value) {
      if (value.empty()) return;
      char* escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
      url += std::string(key) + "=" + escaped + "&";
      curl_free(escaped);
    };
    append("service", challenge.param("service"));
    auto wanted_scope = challenge.param("scope");
    append("scope", wanted_scope.empty() ? scope : wanted_scope);
    url.pop_back();
    std::string authorization;
    if (endpoint.credentials) authorization = basic_authorization(*endpoint.credentials);
    // The realm is its own origin: credentials go to it directly, never to its redirects.
    auto response = co_await with_redirects(realm, url, "GET", {}, authorization,
                                            kMaxTokenResponse, nullptr, false);
    if (!response) co_return Result<std::string>(response.error());
    if (response->status != 200) co_return Result<std::string>(UpstreamErrc::kProtocol);
    auto doc = nlohmann::json::parse(response->body, nullptr, false);
    if (!doc.is_object()) co_return Result<std::string>(UpstreamErrc::kProtocol);
    std::string token;
    if (doc.contains("token") && doc["token"].is_string()) token = doc["token"].get<std::string>();
    if (token.empty() && doc.contains("access_token") && doc["access_token"].is_string()) {
      token = doc["access_token"].get<std::string>();
    }
    if (token.empty()) co_return Result<std::string>(UpstreamErrc::kProtocol);
    long lifetime = 60;  // the spec's default and minimum
    if (doc.contains("expires_in") && doc["expires_in"].is_number_integer()) {
      lifetime = std::max(60L, doc["expires_in"].get<long>());
    }
    tokens.put(token_key(endpoint, scope), token, std::chrono::seconds(lifetime),
               TokenCache::Clock::now());
    co_return Result<std::string>(std::move(token));
  }

  asio::awaitable<Result<Response>> request(Endpoint endpoint, std::string method,
                                            std::string path, std::vector<std::string> headers,
                                            std::size_t max_body, std::string scope,
                                            StreamSink* sink) {
    const std::string url = endpoint.base_url + path;
    const std::string origin = origin_of(endpoint.base_url);
    std::string authorization;
    if (endpoint.credentials) {
      std::lock_guard lock(basic_mutex);
      if (basic_origins.contains(origin)) authorization = basic_authorization(*endpoint.credentials);
    }
    // A token cached for this scope skips the 401 round trip.
    if (auto token = tokens.get(token_key(endpoint, scope), TokenCache::Clock::now())) {
      authorization = "Bearer " + *token;
    }

    for (int attempt = 0; attempt < 2; ++attempt) {
      auto response = co_await with_redirects(endpoint.base_url, url, method, headers,
                                              authorization, max_body, sink, attempt == 0);
      if (!response || response->status != 401 || attempt == 1) co_return response;
      auto challenges = parse_www_authenticate(response->header("www-authenticate"));
      std::optional<AuthChallenge> bearer;
      bool basic = false;
      for (const auto& c : challenges) {
        if (c.scheme == "bearer" && !bearer) bearer = c;
        if (c.scheme == "basic") basic = true;
      }
      if (bearer) {
        auto token = co_await fetch_token(endpoint, *bearer, scope);
        if (!token) co_return Result<Response>(token.error());
        authorization = "Bearer " + *token;
      } else if (basic && endpoint.credentials) {
        {
          std::lock_guard lock(basic_mutex);
          basic_origins.insert(origin);
        }
        authorization = basic_authorization(*endpoint.credentials);
      } else {
        // No way to authenticate: repeat once without retry so the 401 reaches the caller.
        co_return co_await with_redirects(endpoint.base_url, url, method, headers, authorization,
                                          max_body, sink, false);
      }
    }
    co_return Result<Response>(UpstreamErrc::kProtocol);  // unreachable: attempt 1 returns
  }
};

UpstreamClient::UpstreamClient(CurlMulti& transfers, ClientOptions options)
    : impl_(std::make_unique<Impl>(transfers, std::move(options))) {}

UpstreamClient::~UpstreamClient() = default;

asio::awaitable<Result<Response>> UpstreamClient::fetch(Endpoint endpoint, std::string method,
                                                        std::string path,
                                                        std::vector<std::string> headers,
                                                        std::size_t max_body, std::string scope) {
  co_return co_await impl_->request(std::move(endpoint), std::move(method), std::move(path),
                                    std::move(headers), max_body, std::move(scope), nullptr);
}

asio::awaitable<Result<Response>> UpstreamClient::stream(Endpoint endpoint, std::string path,
                                                         std::vector<std::string> headers,
                                                         std::string scope, StreamSink& sink) {
  co_return co_await impl_->request(std::move(endpoint), "GET", std::move(path),
                                    std::move(headers), 0, std::move(scope), &sink);
}

}  // namespace regmirror::proxy::upstream
