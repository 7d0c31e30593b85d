#pragma once
// One HTTP request and its answer on a libcurl easy handle: the piece every HTTP client of the
// mirror shares (registry upstreams, the S3 bucket, the CLI talking to a running mirror). It
// says how a request is set up, how the answer's head and body come back, and how libcurl's
// failures become errors. Two ways to run one:
//   - perform_blocking(): on the calling thread (S3, CLI; worker threads only), and
//   - CurlMulti (curl_multi.hpp): on the transfer thread, many at once (registry upstreams).
// Redirects are never followed here: a client decides where a redirect may take its
// credentials (registry_client.cpp).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/result.hpp"

typedef void CURL;

namespace regmirror::proxy::upstream {

using regmirror::Result;  // upstream::Result<T>: errors as upstream_error.hpp describes

// The head (and, when buffered, the body) of an answer. Header names are lower-cased; after
// 1xx answers only the final head is kept.
struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string effective_url;

  // First value of a header (name lower-case), or "".
  std::string header(std::string_view name) const;
};

// What the receiver of a body wants once the head has arrived.
enum class BodyUse {
  kBuffer,   // keep it in Response::body, up to HttpRequest::max_body (more: kTooLarge)
  kStream,   // hand it to HttpRequest::on_data
  kDiscard,  // read and drop it (a redirect's or a challenge's body), keeping the connection
  kStop,     // end the transfer now; not an error (the caller acts on the status)
};

// What the receiver of a streamed chunk says.
enum class SinkAction {
  kContinue,
  kPause,  // keep the chunk, stop reading until resumed (CurlMulti::resume; blocking: never)
  kAbort,  // end the transfer with UpstreamErrc::kAborted
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"; "Name:" removes a libcurl default

  // Request body (PUT/POST): `body` (bytes the caller keeps alive until the exchange ends), or
  // `body_reader` filling the span and returning how much it wrote (0: end), with `body_size`.
  std::span<const std::byte> body;
  std::function<std::size_t(std::span<std::byte>)> body_reader;
  std::optional<std::uint64_t> body_size;

  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds stall_timeout{30};  // less than 1 byte/s for this long aborts
  std::chrono::seconds total_timeout{0};   // whole exchange; 0: none (long streams)
  std::size_t max_body = 1 << 20;          // kBuffer limit
  bool path_as_is = false;                 // send the URL's path exactly (signed requests)
  std::string user_agent = "regmirror";

  // Called once the final head is known (status >= 200). Default: kBuffer.
  std::function<BodyUse(const Response& head)> on_head;
  // Body chunks when on_head said kStream. Runs on the thread that performs the exchange.
  std::function<SinkAction(std::span<const std::byte>)> on_data;
};

// Per-exchange state shared with libcurl's callbacks. Created by the runner; one per attempt.
class HttpExchange {
 public:
  explicit HttpExchange(HttpRequest request) : request_(std::move(request)) {}
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;
  ~HttpExchange();

  // Sets every option of `handle` (already reset and attached to a share by the caller).
  void configure(CURL* handle);
  // The outcome of the finished transfer, given curl's result code.
  Result<Response> finish(int curl_code);

  const HttpRequest& request() const { return request_; }
  std::uint64_t streamed_bytes() const { return streamed_; }

 private:
  friend struct ExchangeCallbacks;  // libcurl's C callbacks (http_exchange.cpp)

  HttpRequest request_;
  Response response_;
  void* header_list_ = nullptr;  // curl_slist*
  BodyUse use_ = BodyUse::kBuffer;
  bool head_done_ = false;
  bool stopped_ = false;   // kStop
  bool aborted_ = false;   // kAbort or a throwing callback
  bool too_large_ = false;
  std::uint64_t streamed_ = 0;
  std::uint64_t uploaded_ = 0;
};

class CurlHandlePool;

// Runs one exchange on the calling thread (blocks for the whole transfer).
Result<Response> perform_blocking(CurlHandlePool& handles, HttpRequest request);

}  // namespace regmirror::proxy::upstream
