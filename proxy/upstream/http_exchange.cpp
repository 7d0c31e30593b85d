#include "proxy/upstream/http_exchange.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>

#include "proxy/upstream/curl_handle_pool.hpp"
#include "proxy/upstream/header_text.hpp"
#include "proxy/upstream/upstream_error.hpp"

namespace regmirror::proxy::upstream {

std::string Response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

// libcurl's C callbacks. They never throw: an exception (allocation failure, a throwing
// user callback) aborts the transfer instead of unwinding through C.
struct ExchangeCallbacks {
  static std::size_t on_header(char* data, std::size_t size, std::size_t count,
                               void* user) noexcept {
    auto* ex = static_cast<HttpExchange*>(user);
    const std::size_t n = size * count;
    try {
      // A status line (each 1xx has one) resets the fields; the empty line ends a head.
      if (apply_header_line(std::string_view(data, n), ex->response_.status,
                            ex->response_.headers) != HeaderLine::kEndOfHead) {
        return n;
      }
      if (ex->response_.status < 200) return n;  // 100 Continue and friends
      ex->head_done_ = true;
      ex->use_ = ex->request_.on_head ? ex->request_.on_head(ex->response_) : BodyUse::kBuffer;
      if (ex->use_ == BodyUse::kStream && !ex->request_.on_data) ex->use_ = BodyUse::kBuffer;
      if (ex->use_ == BodyUse::kStop) {
        ex->stopped_ = true;
        return 0;
      }
      return n;
    } catch (...) {
      ex->aborted_ = true;
      return 0;
    }
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) noexcept {
    auto* ex = static_cast<HttpExchange*>(user);
    const std::size_t n = size * count;
    try {
      switch (ex->use_) {
        case BodyUse::kDiscard:
        case BodyUse::kStop:
          return n;
        case BodyUse::kStream: {
          auto action = ex->request_.on_data(std::span(reinterpret_cast<const std::byte*>(data), n));
          if (action == SinkAction::kPause) return CURL_WRITEFUNC_PAUSE;  // delivered again later
          if (action == SinkAction::kAbort) {
            ex->aborted_ = true;
            return 0;
          }
          ex->streamed_ += n;
          return n;
        }
        case BodyUse::kBuffer:
          if (ex->response_.body.size() + n > ex->request_.max_body) {
            ex->too_large_ = true;
            return 0;
          }
          ex->response_.body.append(data, n);
          return n;
      }
      return 0;
    } catch (...) {
      ex->aborted_ = true;
      return 0;
    }
  }

  static std::size_t on_read(char* buffer, std::size_t size, std::size_t count,
                             void* user) noexcept {
    auto* ex = static_cast<HttpExchange*>(user);
    const std::size_t room = size * count;
    try {
      if (ex->request_.body_reader) {
        return ex->request_.body_reader(std::span(reinterpret_cast<std::byte*>(buffer), room));
      }
      const auto& body = ex->request_.body;
      std::size_t n = std::min<std::size_t>(room, body.size() - ex->uploaded_);
      std::memcpy(buffer, body.data() + ex->uploaded_, n);
      ex->uploaded_ += n;
      return n;
    } catch (...) {
      return CURL_READFUNC_ABORT;
    }
  }

  // Rewinds an in-memory body (libcurl resends it after a dropped kept-alive connection).
  static int on_seek(void* user, curl_off_t offset, int origin) noexcept {
    auto* ex = static_cast<HttpExchange*>(user);
    if (ex->request_.body_reader || origin != SEEK_SET || offset < 0 ||
        static_cast<std::size_t>(offset) > ex->request_.body.size()) {
      return CURL_SEEKFUNC_CANTSEEK;
    }
    ex->uploaded_ = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }
};

HttpExchange::~HttpExchange() { curl_slist_free_all(static_cast<curl_slist*>(header_list_)); }

void HttpExchange::configure(CURL* handle) {
  curl_slist* list = nullptr;
  for (const auto& header : request_.headers) list = curl_slist_append(list, header.c_str());
  header_list_ = list;
  curl_easy_setopt(handle, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_USERAGENT, request_.user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, list);
  if (request_.path_as_is) curl_easy_setopt(handle, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, static_cast<long>(request_.connect_timeout.count()));
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request_.stall_timeout.count()));
  if (request_.total_timeout.count() > 0) {
    curl_easy_setopt(handle, CURLOPT_TIMEOUT, static_cast<long>(request_.total_timeout.count()));
  }
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  const std::string& method = request_.method;
  const auto upload_size = static_cast<curl_off_t>(request_.body_size.value_or(request_.body.size()));
  if (method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else if (method == "GET") {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else if (method == "PUT") {
    curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, upload_size);
  } else if (method == "POST") {
    curl_easy_setopt(handle, CURLOPT_POST, 1L);
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, upload_size);
  } else {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(handle, CURLOPT_READFUNCTION, &ExchangeCallbacks::on_read);
    curl_easy_setopt(handle, CURLOPT_READDATA, this);
    curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, &ExchangeCallbacks::on_seek);
    curl_easy_setopt(handle, CURLOPT_SEEKDATA, this);
  }
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &ExchangeCallbacks::on_header);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &ExchangeCallbacks::on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, this);
}

Result<Response> HttpExchange::finish(int curl_code) {
  response_.effective_url = request_.url;
  const auto code = static_cast<CURLcode>(curl_code);
  if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && stopped_)) return std::move(response_);
  if (too_large_) return UpstreamErrc::kTooLarge;
  if (aborted_) return UpstreamErrc::kAborted;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      return UpstreamErrc::kConnect;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      // Before the head: the connection failed; after it: the transfer broke mid-body.
      return head_done_ ? UpstreamErrc::kBroken : UpstreamErrc::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return UpstreamErrc::kTimeout;
    default:
      return UpstreamErrc::kProtocol;
  }
}

Result<Response> perform_blocking(CurlHandlePool& handles, HttpRequest request) {
  HttpExchange exchange(std::move(request));
  CURL* handle = handles.acquire();
  curl_easy_reset(handle);  // keeps the connection and DNS caches
  curl_easy_setopt(handle, CURLOPT_SHARE, handles.share());
  exchange.configure(handle);
  CURLcode code = curl_easy_perform(handle);
  handles.release(handle);
  return exchange.finish(code);
}

}  // namespace regmirror::proxy::upstream
