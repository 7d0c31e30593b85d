#include "proxy/app/cli_http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace regmirror::app {
namespace {

struct Transfer {
  HttpAnswer* answer = nullptr;
  const std::function<bool(std::span<const std::byte>)>* sink = nullptr;
  std::FILE* upload = nullptr;
};

extern "C" std::size_t on_header(char* data, std::size_t size, std::size_t count,
                                 void* user) noexcept {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    transfer->answer->headers.clear();  // a new response (after 100 Continue or a redirect)
    return size * count;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  transfer->answer->headers.emplace_back(std::move(name), std::string(value));
  return size * count;
}

extern "C" std::size_t on_body(char* data, std::size_t size, std::size_t count,
                               void* user) noexcept {
  auto* transfer = static_cast<Transfer*>(user);
  auto bytes = size * count;
  if (transfer->sink != nullptr) {
    try {
      if (!(*transfer->sink)(std::span(reinterpret_cast<const std::byte*>(data), bytes))) return 0;
    } catch (...) {
      return 0;
    }
    return bytes;
  }
  try {
    transfer->answer->body.append(data, bytes);
  } catch (...) {
    return 0;
  }
  return bytes;
}

extern "C" std::size_t on_read(char* buffer, std::size_t size, std::size_t count,
                               void* user) noexcept {
  auto* transfer = static_cast<Transfer*>(user);
  auto n = std::fread(buffer, 1, size * count, transfer->upload);
  if (n == 0 && std::ferror(transfer->upload)) return CURL_READFUNC_ABORT;
  return n;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
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

CliHttp::CliHttp() {
  global_init();
  curl_ = curl_easy_init();
}

CliHttp::~CliHttp() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

namespace {

HttpAnswer perform(CURL* curl, std::string_view method, const std::string& url,
                   const std::vector<std::string>& headers, const std::string* body,
                   Transfer& transfer, std::FILE* upload, std::uint64_t upload_size) {
  HttpAnswer answer;
  transfer.answer = &answer;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  // Admin operations (verify, gc, import) may run for a long time; a stalled transfer still ends.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 600L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "regmirror-cli");
  curl_slist* list = nullptr;
  for (const auto& header : headers) list = curl_slist_append(list, header.c_str());
  list = curl_slist_append(list, "Expect:");
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "PUT" && upload != nullptr) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload_size));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
  if (body != nullptr && upload == nullptr &&
      (method == "POST" || method == "PUT" || !body->empty())) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    if (method != "POST")
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  auto code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  if (code != CURLE_OK &&
      !(code == CURLE_WRITE_ERROR && transfer.sink != nullptr && answer.status >= 300)) {
    answer.error = std::string(curl_easy_strerror(code)) + " (" + url + ")";
  }
  return answer;
}

}  // namespace

HttpAnswer CliHttp::request(std::string_view method, const std::string& url,
                            const std::vector<std::string>& headers, const std::string& body) {
  Transfer transfer;
  return perform(static_cast<CURL*>(curl_), method, url, headers, &body, transfer, nullptr, 0);
}

HttpAnswer CliHttp::download(const std::string& url, const std::vector<std::string>& headers,
                             const std::function<bool(std::span<const std::byte>)>& sink) {
  // Error bodies are small and explain the failure: keep them; stream only a 2xx body.
  auto* curl = static_cast<CURL*>(curl_);
  std::string error_body;
  std::function<bool(std::span<const std::byte>)> gate = [&](std::span<const std::byte> data) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return sink(data);
    if (error_body.size() < 64 * 1024)
      error_body.append(reinterpret_cast<const char*>(data.data()), data.size());
    return true;
  };
  Transfer transfer;
  transfer.sink = &gate;
  auto answer = perform(curl, "GET", url, headers, nullptr, transfer, nullptr, 0);
  answer.body = std::move(error_body);
  return answer;
}

HttpAnswer CliHttp::upload_file(const std::string& url, const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  HttpAnswer failed;
  if (ec) {
    failed.error = "cannot read " + file.string() + ": " + ec.message();
    return failed;
  }
  std::FILE* in = std::fopen(file.c_str(), "rb");
  if (in == nullptr) {
    failed.error = "cannot open " + file.string();
    return failed;
  }
  Transfer transfer;
  transfer.upload = in;
  auto answer = perform(static_cast<CURL*>(curl_), "PUT", url,
                        {"Content-Type: application/octet-stream"}, nullptr, transfer, in, size);
  std::fclose(in);
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
