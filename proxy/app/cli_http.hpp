#pragma once
// The blocking HTTP the CLI commands need to talk to a running mirror (registry and admin
// ports): one request at a time, on the shared HTTP exchange (proxy/upstream/http_exchange). Transport failures come back in `error`; an HTTP
// error status is a normal answer.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::proxy::upstream {
class CurlHandlePool;
}

namespace regmirror::app {

struct HttpAnswer {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string error;  // non-empty: no answer (connection refused, timeout, ...)

  std::string header(std::string_view name) const;
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // "HTTP 404: <error field of a JSON body, or the start of the body>" or the transport error.
  std::string describe() const;
};

class CliHttp {
 public:
  CliHttp();
  ~CliHttp();
  CliHttp(const CliHttp&) = delete;
  CliHttp& operator=(const CliHttp&) = delete;

  HttpAnswer request(std::string_view method, const std::string& url,
                     const std::vector<std::string>& headers = {}, const std::string& body = {});
  // GET with the body handed to `sink` chunk by chunk (only on a 2xx answer); sink returning
  // false aborts.
  HttpAnswer download(const std::string& url, const std::vector<std::string>& headers,
                      const std::function<bool(std::span<const std::byte>)>& sink);
  // PUT a file as the body (Content-Length set, no Expect: 100-continue).
  HttpAnswer upload_file(const std::string& url, const std::filesystem::path& file);

 private:
  std::unique_ptr<proxy::upstream::CurlHandlePool> handles_;
};

// "http://127.0.0.1:5001" without a trailing slash; "" when `url` is not http(s)://HOST[:PORT].
std::string normalize_base_url(const std::string& url);

}  // namespace regmirror::app
