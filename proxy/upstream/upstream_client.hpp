#pragma once
// The HTTP client for registries, on the shared transfer thread (CurlMulti): connection reuse,
// timeouts, the bearer token dance (token cached per scope until expiry), Basic auth, and
// redirects followed by hand so that the registry's Authorization never reaches another host.
//
// Every call is a coroutine that suspends while the transfer runs on the transfer thread and
// resumes on the caller's executor; many run at once, none holds a thread.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/upstream/http_exchange.hpp"

namespace regmirror::proxy::upstream {

class CurlMulti;

struct Credentials {
  std::string username;
  std::string password;  // never logged, never put in an error message
};

// One upstream registry endpoint.
struct Endpoint {
  std::string base_url;  // "https://registry-1.docker.io"
  std::optional<Credentials> credentials;
};

struct ClientOptions {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds stall_timeout{30};     // less than 1 byte/s for this long aborts
  std::chrono::seconds request_timeout{60};   // whole transfer, buffered requests only
  int max_redirects = 5;
  std::string user_agent = "regmirror";
};

// Receives a streamed body. on_headers is called once, for the final response (after auth and
// redirects), before any data; returning false ends the transfer without an error (the caller
// looks at the status). on_data may return kPause when it cannot take a chunk now; it then
// calls `resume()` (set by the client before the transfer starts) when it can. Both run on the
// transfer thread.
struct StreamSink {
  std::function<bool(const Response&)> on_headers;
  std::function<SinkAction(std::span<const std::byte>)> on_data;
  std::function<void()> resume;  // filled in by UpstreamClient::stream
};

class UpstreamClient {
 public:
  UpstreamClient(CurlMulti& transfers, ClientOptions options = {});
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // GET or HEAD `path` ("/v2/library/alpine/manifests/3.19") and buffer the body up to
  // `max_body` bytes. `scope` is the token scope to ask for ("repository:library/alpine:pull").
  // A non-2xx status is a Response, not an error; errors are transport failures.
  boost::asio::awaitable<Result<Response>> fetch(Endpoint endpoint, std::string method,
                                                 std::string path,
                                                 std::vector<std::string> headers,
                                                 std::size_t max_body, std::string scope);

  // GET `path` streaming the final response's body into `sink` (which must outlive the call).
  boost::asio::awaitable<Result<Response>> stream(Endpoint endpoint, std::string path,
                                                  std::vector<std::string> headers,
                                                  std::string scope, StreamSink& sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace regmirror::proxy::upstream
