#include "proxy/upstream/header_text.hpp"
#include "proxy/upstream/curl_handle_pool.hpp"
#include "proxy/upstream/upstream_client.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <array>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "proxy/upstream/token_cache.hpp"
#include "proxy/upstream/upstream_error.hpp"
#include "proxy/upstream/www_authenticate.hpp"

namespace regmirror::proxy::upstream {
namespace {

constexpr std::size_t kMaxTokenResponse = 1 << 20;
constexpr std::size_t kMaxPooledHandles = 64;

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

// State of one HTTP exchange (one hop), shared with libcurl's C callbacks.
struct Hop {
  Response response;
  bool in_body = false;
  bool discard_body = false;     // redirects and challenges: their bodies are not the answer
  bool retry_on_challenge = false;
  std::size_t max_body = 0;      // buffered mode
  StreamSink* sink = nullptr;    // streaming mode
  bool headers_refused = false;  // sink said no to the headers: not an error
  bool data_refused = false;
  bool too_large = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* hop = static_cast<Hop*>(user);
  std::size_t n = size * count;
  std::string_view line(data, n);
  try {
    // A status line (each 1xx and each hop has one) resets the fields; the empty line ends
    // the head of the response that counts.
    if (apply_header_line(line, hop->response.status, hop->response.headers) !=
        HeaderLine::kEndOfHead) {
      return n;
    }
    long status = hop->response.status;
    if (status < 200) return n;  // 100 Continue and friends
    bool has_location = !hop->response.header("location").empty();
    hop->discard_body = (is_redirect(status) && has_location) ||
                        (status == 401 && hop->retry_on_challenge);
    if (!hop->discard_body && hop->sink != nullptr && hop->sink->on_headers) {
      if (!hop->sink->on_headers(hop->response)) {
        hop->headers_refused = true;
        return 0;  // stops the transfer
      }
    }
    return n;
  } catch (...) {
    return 0;  // allocation failure: abort the transfer rather than unwind through C
  }
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
  auto* hop = static_cast<Hop*>(user);
  std::size_t n = size * count;
  if (hop->discard_body) return n;
  try {
    if (hop->sink != nullptr) {
      if (!hop->sink->on_data(std::span(reinterpret_cast<const std::byte*>(data), n))) {
        hop->data_refused = true;
        return 0;
      }
      return n;
    }
    if (hop->response.body.size() + n > hop->max_body) {
      hop->too_large = true;
      return 0;
    }
    hop->response.body.append(data, n);
    return n;
  } catch (...) {
    return 0;
  }
}

boost::system::error_code map_curl_error(CURLcode code, const Hop& hop) {
  if (hop.too_large) return UpstreamErrc::kTooLarge;
  if (hop.data_refused) return UpstreamErrc::kAborted;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return UpstreamErrc::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return UpstreamErrc::kTimeout;
    default:
      return UpstreamErrc::kProtocol;
  }
}

}  // namespace

std::string Response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

struct UpstreamClient::Impl {
  ClientOptions options;
  CurlHandlePool handles{kMaxPooledHandles};
  TokenCache tokens;
  std::mutex basic_mutex;
  std::set<std::string> basic_origins;  // upstreams that asked for Basic auth

  explicit Impl(ClientOptions opts) : options(std::move(opts)) {}

  // One request/response, no redirects followed.
  boost::system::error_code perform(const std::string& url, std::string_view method,
                                    const std::vector<std::string>& headers,
                                    const std::string& authorization, bool buffered, Hop& hop) {
    CURL* handle = handles.acquire();
    curl_easy_reset(handle);  // keeps the connection and DNS caches
    curl_slist* list = nullptr;
    for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
    std::string auth_line;
    if (!authorization.empty()) {
      auth_line = "Authorization: " + authorization;
      list = curl_slist_append(list, auth_line.c_str());
    }
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_SHARE, handles.share());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT,
                     static_cast<long>(options.connect_timeout.count()));
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(options.stall_timeout.count()));
    if (buffered) {
      curl_easy_setopt(handle, CURLOPT_TIMEOUT, static_cast<long>(options.request_timeout.count()));
    }
    curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
    if (method == "HEAD") {
      curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &hop);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &hop);
    CURLcode code = curl_easy_perform(handle);
    curl_slist_free_all(list);
    handles.release(handle);
    hop.response.effective_url = url;
    if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && hop.headers_refused)) return {};
    return map_curl_error(code, hop);
  }

  // Follows redirects by hand: the Authorization goes only to the registry's own origin.
  Result<Response> with_redirects(const Endpoint& endpoint, std::string url,
                                  std::string_view method,
                                  const std::vector<std::string>& headers,
                                  const std::string& authorization, std::size_t max_body,
                                  StreamSink* sink, bool retry_on_challenge) {
    const auto registry_origin = origin_of(endpoint.base_url);
    for (int redirects = 0; redirects <= options.max_redirects; ++redirects) {
      Hop hop;
      hop.max_body = max_body;
      hop.sink = sink;
      hop.retry_on_challenge = retry_on_challenge;
      bool same_origin = origin_of(url) == registry_origin;
      auto ec = perform(url, method, headers, same_origin ? authorization : std::string(),
                        sink == nullptr, hop);
      if (ec) return ec;
      if (is_redirect(hop.response.status)) {
        auto location = hop.response.header("location");
        if (location.empty()) return std::move(hop.response);
        auto next = resolve_location(url, location);
        if (!next) return UpstreamErrc::kProtocol;
        url = std::move(*next);
        continue;
      }
      return std::move(hop.response);
    }
    return UpstreamErrc::kTooManyRedirects;
  }

  Result<std::string> fetch_token(const Endpoint& endpoint, const AuthChallenge& challenge,
                                  std::string_view scope) {
    auto realm = challenge.param("realm");
    bool https_registry = endpoint.base_url.rfind("https://", 0) == 0;
    if (realm.rfind("https://", 0) != 0 && (https_registry || realm.rfind("http://", 0) != 0)) {
      return UpstreamErrc::kInsecureRealm;
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
    append("scope", wanted_scope.empty() ? std::string(scope) : wanted_scope);
    url.pop_back();
    std::string authorization;
    if (endpoint.credentials) {
      authorization =
          "Basic " + base64(endpoint.credentials->username + ":" + endpoint.credentials->password);
    }
    // The realm is its own origin: credentials go to it directly, never to its redirects.
    Endpoint realm_endpoint{realm, endpoint.credentials};
    auto response = with_redirects(realm_endpoint, url, "GET", {}, authorization,
                                   kMaxTokenResponse, nullptr, false);
    if (!response) return response.error();
    if (response->status != 200) return UpstreamErrc::kProtocol;
    auto doc = nlohmann::json::parse(response->body, nullptr, false);
    if (!doc.is_object()) return UpstreamErrc::kProtocol;
    std::string token;
    if (doc.contains("token") && doc["token"].is_string()) token = doc["token"].get<std::string>();
    if (token.empty() && doc.contains("access_token") && doc["access_token"].is_string()) {
      token = doc["access_token"].get<std::string>();
    }
    if (token.empty()) return UpstreamErrc::kProtocol;
    long lifetime = 60;  // the spec's default and minimum
    if (doc.contains("expires_in") && doc["expires_in"].is_number_integer()) {
      lifetime = std::max(60L, doc["expires_in"].get<long>());
    }
    tokens.put(token_key(endpoint, scope), token, std::chrono::seconds(lifetime),
               TokenCache::Clock::now());
    return token;
  }

  Result<Response> request(const Endpoint& endpoint, std::string_view method,
                           std::string_view path, const std::vector<std::string>& headers,
                           std::size_t max_body, std::string_view scope, StreamSink* sink) {
    const std::string url = endpoint.base_url + std::string(path);
    const std::string origin = origin_of(endpoint.base_url);
    std::string authorization;
    if (endpoint.credentials) {
      std::lock_guard lock(basic_mutex);
      if (basic_origins.contains(origin)) {
        authorization = "Basic " + base64(endpoint.credentials->username + ":" +
                                          endpoint.credentials->password);
      }
    }
    // A token cached for this scope skips the 401 round trip.
    if (auto token = tokens.get(token_key(endpoint, scope), TokenCache::Clock::now())) {
      authorization = "Bearer " + *token;
    }

    for (int attempt = 0; attempt < 2; ++attempt) {
      auto response = with_redirects(endpoint, url, method, headers, authorization, max_body, sink,
                                     attempt == 0);
      if (!response || response->status != 401 || attempt == 1) return response;
      auto challenges = parse_www_authenticate(response->header("www-authenticate"));
      const AuthChallenge* bearer = nullptr;
      const AuthChallenge* basic = nullptr;
      for (const auto& c : challenges) {
        if (c.scheme == "bearer" && bearer == nullptr) bearer = &c;
        if (c.scheme == "basic" && basic == nullptr) basic = &c;
      }
      if (bearer != nullptr) {
        auto token = fetch_token(endpoint, *bearer, scope);
        if (!token) return token.error();
        authorization = "Bearer " + *token;
      } else if (basic != nullptr && endpoint.credentials) {
        {
          std::lock_guard lock(basic_mutex);
          basic_origins.insert(origin);
        }
        authorization = "Basic " + base64(endpoint.credentials->username + ":" +
                                          endpoint.credentials->password);
      } else {
        // No way to authenticate: repeat once without retry so the 401 reaches the caller.
        return with_redirects(endpoint, url, method, headers, authorization, max_body, sink,
                              false);
      }
    }
    return UpstreamErrc::kProtocol;  // unreachable: the loop returns on attempt 1
  }

  // Keyed by our scope: the registry's challenge may spell it differently, but for one
  // upstream and one repository it always grants the same thing.
  static std::string token_key(const Endpoint& endpoint, std::string_view scope) {
    return endpoint.base_url + " " + std::string(scope);
  }
};

UpstreamClient::UpstreamClient(ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

UpstreamClient::~UpstreamClient() = default;

Result<Response> UpstreamClient::fetch(const Endpoint& endpoint, std::string_view method,
                                       std::string_view path,
                                       const std::vector<std::string>& headers,
                                       std::size_t max_body, std::string_view scope) {
  return impl_->request(endpoint, method, path, headers, max_body, scope, nullptr);
}

Result<Response> UpstreamClient::stream(const Endpoint& endpoint, std::string_view path,
                                        const std::vector<std::string>& headers,
                                        std::string_view scope, StreamSink& sink) {
  return impl_->request(endpoint, "GET", path, headers, 0, scope, &sink);
}

}  // namespace regmirror::proxy::upstream
