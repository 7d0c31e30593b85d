#pragma once
// A blocking HTTP client for registries, on libcurl: connection reuse, timeouts, the bearer
// token dance (token cached per scope until expiry), Basic auth, and redirects followed by hand
// so that the registry's Authorization never reaches another host.
//
// Thread-safety: every method may be called from any thread at once. Calls block for network
// I/O: call them from worker threads, never from the network threads.
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace regmirror::proxy::upstream {

template <class T>
using Result = boost::system::result<T>;

struct Credentials {
  std::string username;
  std::string password;  // never logged, never put in an error message
};

// One upstream registry endpoint.
struct Endpoint {
  std::string base_url;  // "https://registry-1.docker.io"
  std::optional<Credentials> credentials;
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased; final hop only
  std::string body;
  std::string effective_url;

  // First value of a header (name lower-case), or "".
  std::string header(std::string_view name) const;
};

struct ClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds stall_timeout{30};     // less than 1 byte/s for this long aborts
  std::chrono::seconds request_timeout{60};   // whole transfer, buffered requests only
  int max_redirects = 5;
  std::string user_agent = "regmirror";
};

// Receives a streamed body. on_headers is called once, for the final response (after auth and
// redirects), before any data; returning false ends the transfer with kAborted unless the
// response has no body. on_data returning false aborts too.
struct StreamSink {
  std::function<bool(const Response&)> on_headers;
  std::function<bool(std::span<const std::byte>)> on_data;
};

class UpstreamClient {
 public:
  explicit UpstreamClient(ClientOptions options = {});
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // GET or HEAD `path` ("/v2/library/alpine/manifests/3.19") and buffer the body up to
  // `max_body` bytes. `scope` is the token scope to ask for ("repository:library/alpine:pull").
  // A non-2xx status is a Response, not an error; errors are transport failures.
  Result<Response> fetch(const Endpoint& endpoint, std::string_view method, std::string_view path,
                         const std::vector<std::string>& headers, std::size_t max_body,
                         std::string_view scope);

  // GET `path` streaming the final response's body into `sink`.
  Result<Response> stream(const Endpoint& endpoint, std::string_view path,
                          const std::vector<std::string>& headers, std::string_view scope,
                          StreamSink& sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace regmirror::proxy::upstream
