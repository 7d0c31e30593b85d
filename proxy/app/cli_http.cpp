#include "proxy/app/cli_http.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "proxy/upstream/curl_handle_pool.hpp"
#include "proxy/upstream/http_exchange.hpp"

namespace regmirror::app {
namespace {

namespace upstream = proxy::upstream;

// Admin operations (verify, gc, import) may run for a long time; a stalled transfer still ends.
constexpr auto kStallTimeout = std::chrono::seconds(600);
constexpr std::size_t kMaxAnswer = 64 << 20;  // cache listings of large caches
constexpr std::size_t kMaxErrorBody = std::size_t{64} * 1024;

HttpAnswer perform(upstream::CurlHandlePool& handles, upstream::HttpRequest request,
                   const std::function<bool(std::span<const std::byte>)>* sink) {
  const std::string url = request.url;
  request.headers.emplace_back("Expect:");
  request.stall_timeout = kStallTimeout;
  request.user_agent = "regmirror-cli";
  request.max_body = kMaxAnswer;
  // Error bodies are small and explain the failure: keep them; stream only a 2xx body.
  std::string error_body;
  bool error_answer = false;
  if (sink != nullptr) {
    request.on_head = [&](const upstream::Response& head) {
      error_answer = head.status < 200 || head.status >= 300;
      return upstream::BodyUse::kStream;
    };
    request.on_data = [&](std::span<const std::byte> data) {
      if (!error_answer) return (*sink)(data) ? upstream::SinkAction::kContinue
                                              : upstream::SinkAction::kAbort;
      if (error_body.size() < kMaxErrorBody) {
        error_body.append(reinterpret_cast<const char*>(data.data()), data.size());
      }
      return upstream::SinkAction::kContinue;
    };
  }
  HttpAnswer answer;
  auto reply = upstream::perform_blocking(handles, std::move(request));
  if (!reply) {
    answer.error = reply.error().message() + " (" + url + ")";
    return answer;
  }
  answer.status = reply->status;
  answer.headers = std::move(reply->headers);
  answer.body = sink != nullptr ? std::move(error_body) : std::move(reply->body);
  return answer;
}

}  // namespace

std::string HttpAnswer::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

std::string HttpAnswer::describe() const {
  if (!error.empty()) return error;
  std::string detail;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    detail = doc["error"].get<std::string>();
  } else if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array() &&
             !doc["errors"].empty() && doc["errors"][0].is_object() &&
             doc["errors"][0].contains("message") && doc["errors"][0]["message"].is_string()) {
    detail = doc["errors"][0]["message"].get<std::string>();
  } else {
    detail = body.substr(0, 200);
    std::replace(detail.begin(), detail.end(), '\n', ' ');
  }
  return "HTTP " + std::to_string(status) + (detail.empty() ? "" : ": " + detail);
}

CliHttp::CliHttp() : handles_(std::make_unique<upstream::CurlHandlePool>(1)) {}

CliHttp::~CliHttp() = default;

HttpAnswer CliHttp::request(std::string_view method, const std::string& url,
                            const std::vector<std::string>& headers, const std::string& body) {
  upstream::HttpRequest request;
  request.method = std::string(method);
  request.url = url;
  request.headers = headers;
  request.body = std::as_bytes(std::span(body.data(), body.size()));
  return perform(*handles_, std::move(request), nullptr);
}

HttpAnswer CliHttp::download(const std::string& url, const std::vector<std::string>& headers,
                             const std::function<bool(std::span<const std::byte>)>& sink) {
  upstream::HttpRequest request;
  request.url = url;
  request.headers = headers;
  return perform(*handles_, std::move(request), &sink);
}

HttpAnswer CliHttp::upload_file(const std::string& url, const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  HttpAnswer failed;
  if (ec) {
    failed.error = "cannot read " + file.string() + ": " + ec.message();
    return failed;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rb"), &std::fclose);
  if (!in) {
    failed.error = "cannot open " + file.string();
    return failed;
  }
  upstream::HttpRequest request;
  request.method = "PUT";
  request.url = url;
  request.headers = {"Content-Type: application/octet-stream"};
  request.body_size = size;
  bool read_failed = false;
  request.body_reader = [&](std::span<std::byte> out) -> std::size_t {
    auto n = std::fread(out.data(), 1, out.size(), in.get());
    if (n == 0 && std::ferror(in.get())) {
      read_failed = true;
      throw std::runtime_error("read failed");  // becomes CURL_READFUNC_ABORT
    }
    return n;
  };
  auto answer = perform(*handles_, std::move(request), nullptr);
  if (read_failed) answer.error = "reading " + file.string() + " failed";
  return answer;
}

std::string normalize_base_url(const std::string& url) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) return {};
  auto out = url;
  while (!out.empty() && out.back() == '/') out.pop_back();
  auto host_start = out.find("://") + 3;
  if (host_start >= out.size() || out.find('/', host_start) != std::string::npos) return {};
  return out;
}

}  // namespace regmirror::app
