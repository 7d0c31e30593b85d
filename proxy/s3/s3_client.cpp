#include "proxy/s3/s3_client.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "proxy/s3/s3_xml.hpp"
#include "proxy/upstream/curl_handle_pool.hpp"
#include "proxy/upstream/header_text.hpp"
#include "proxy/upstream/http_exchange.hpp"
#include "proxy/upstream/upstream_error.hpp"

namespace regmirror::proxy::s3 {
namespace {

using upstream::to_lower;

constexpr std::size_t kMaxPooledHandles = 32;
constexpr std::size_t kMaxErrorBody = std::size_t{64} * 1024;
constexpr std::size_t kMaxControlBody = 16 << 20;  // listings, multipart answers

std::string strip_quotes(std::string value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != text.npos) {
    return std::nullopt;
  }
  return std::stoull(std::string(text));
}

using Reply = upstream::Response;

ObjectInfo info_from(const Reply& reply) {
  ObjectInfo info;
  info.etag = strip_quotes(reply.header("etag"));
  info.last_modified = reply.header("last-modified");
  info.last_modified_unix = parse_http_or_iso_time(info.last_modified);
  // 206: "bytes 0-9/1234" carries the whole size.
  auto range = reply.header("content-range");
  if (auto slash = range.rfind('/'); slash != std::string::npos) {
    if (auto total = parse_u64(range.substr(slash + 1))) info.size = *total;
  } else if (auto length = parse_u64(reply.header("content-length"))) {
    info.size = *length;
  }
  return info;
}

bool retryable_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

struct Request {
  std::string method;
  std::string key;  // raw; empty = the bucket itself
  QueryParams query;
  HeaderList headers;
  std::span<const std::byte> body;
  bool has_body = false;
  GetSink* sink = nullptr;
  std::size_t max_body = kMaxControlBody;
  std::string what;  // "PUT blobs/sha256/..." for messages
};

}  // namespace

std::int64_t parse_http_or_iso_time(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr) {
    tm = {};
    end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  }
  if (end == nullptr) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

struct S3Client::Impl {
  S3ClientOptions options;
  SigV4Signer signer;
  std::string scheme;
  std::string host;          // the Host header we sign and send
  std::string base_url;      // scheme://host
  std::string path_prefix;   // "/bucket" for path style, "" for virtual-host style
  upstream::CurlHandlePool handles{kMaxPooledHandles};

  explicit Impl(S3ClientOptions opts)
      : options(std::move(opts)), signer(options.credentials) {
    auto sep = options.endpoint.find("://");
    scheme = sep == std::string::npos ? "https" : options.endpoint.substr(0, sep);
    std::string authority =
        sep == std::string::npos ? options.endpoint : options.endpoint.substr(sep + 3);
    if (auto slash = authority.find('/'); slash != std::string::npos) authority.resize(slash);
    host = options.path_style ? authority : options.bucket + "." + authority;
    path_prefix = options.path_style ? "/" + options.bucket : "";
    base_url = scheme + "://" + host;
  }

  std::string raw_path(std::string_view key) const {
    if (key.empty() && !path_prefix.empty()) return path_prefix;  // the bucket itself
    return path_prefix + "/" + std::string(key);
  }

  std::string describe(const Request& request) const {
    return request.what.empty() ? request.method + " " + request.key : request.what;
  }

  // A failed answer as an error with context. `reply.body` holds S3's XML error, if any.
  S3Error error_from(const Request& request, const Reply& reply) const {
    const XmlDocument answer(reply.body);
    auto code = answer.text("Error/Code");
    auto message = answer.text("Error/Message");
    const std::string& bucket = options.bucket;
    if (code == "SignatureDoesNotMatch") {
      return {S3Errc::kSignature, "S3 refused the signature (SignatureDoesNotMatch) for bucket " +
                                      bucket + " (check secret_key_file)"};
    }
    if (code == "InvalidAccessKeyId") {
      return {S3Errc::kSignature, "S3 does not know the access key (InvalidAccessKeyId) for bucket " +
                                      bucket + " (check access_key_file)"};
    }
    if (code == "RequestTimeTooSkewed") {
      return {S3Errc::kSignature,
              "S3 refused the request time (RequestTimeTooSkewed) for bucket " + bucket +
                  ": this host's clock is off"};
    }
    if (code == "AccessDenied" || (code.empty() && reply.status == 403)) {
      return {S3Errc::kSignature, "S3 denied access (" + (code.empty() ? "403" : code) +
                                      ") to bucket " + bucket + " for " + describe(request)};
    }
    if (code == "NoSuchBucket") {
      return {S3Errc::kNoSuchBucket, "S3 bucket " + bucket + " does not exist (NoSuchBucket)"};
    }
    if (code == "NoSuchKey" || code == "NoSuchUpload" || reply.status == 404) {
      return {S3Errc::kNotFound, describe(request) + ": not found in bucket " + bucket +
                                     (code.empty() ? "" : " (" + code + ")")};
    }
    if (reply.status == 412 || code == "PreconditionFailed") {
      return {S3Errc::kPreconditionFailed, describe(request) + ": precondition failed"};
    }
    std::string text = describe(request) + " in bucket " + bucket + " failed: HTTP " +
                       std::to_string(reply.status);
    if (!code.empty()) text += " " + code;
    if (!message.empty()) text += ": " + message;
    return {reply.status >= 500 || reply.status == 429 ? S3Errc::kServer : S3Errc::kProtocol,
            text};
  }

  // One attempt. Transport errors come back as S3Error; any HTTP answer as a Reply.
  // `sink_started` tells the caller whether bytes reached the sink (no retry then).
  S3Result<Reply> attempt(const Request& request, bool& sink_started) {
    const auto date = amz_date(std::chrono::system_clock::now());
    const std::string payload_hash =
        request.has_body ? sha256_hex(std::string_view(
                               reinterpret_cast<const char*>(request.body.data()), request.body.size()))
                         : sha256_hex("");
    SignedRequest to_sign;
    to_sign.method = request.method;
    to_sign.raw_path = raw_path(request.key);
    to_sign.query = request.query;
    to_sign.headers = request.headers;
    to_sign.headers.emplace_back("host", host);
    to_sign.headers.emplace_back("x-amz-date", date);
    to_sign.headers.emplace_back("x-amz-content-sha256", payload_hash);
    to_sign.payload_sha256 = payload_hash;
    auto authorization = signer.authorization(to_sign, date);

    upstream::HttpRequest http;
    http.method = request.method;
    http.url = base_url + encode_path(to_sign.raw_path);
    auto query = canonical_query(request.query);
    if (!query.empty()) http.url += "?" + query;
    http.path_as_is = true;  // what was signed is what is sent
    for (const auto& [name, value] : to_sign.headers) http.headers.emplace_back(name + ": " + value);
    http.headers.emplace_back("Authorization: " + authorization);
    http.headers.emplace_back("Expect:");  // no 100-continue round trip
    bool has_type = std::any_of(request.headers.begin(), request.headers.end(),
                                [](const auto& h) { return to_lower(h.first) == "content-type"; });
    if ((request.method == "POST" || request.method == "PUT") && !has_type) {
      http.headers.emplace_back("Content-Type:");  // not curl's form-urlencoded default
    }
    http.body = request.body;
    http.connect_timeout = options.connect_timeout;
    http.stall_timeout = options.stall_timeout;
    if (request.sink == nullptr) http.total_timeout = options.request_timeout;
    http.max_body = request.max_body;
    // Error answers: S3's XML error is kept (its first 64 KiB) whatever the request's mode.
    bool error_answer = false;
    bool sink_refused = false;
    std::string error_text;
    GetSink* sink = request.sink;
    http.on_head = [&](const upstream::Response& head) {
      error_answer = head.status < 200 || head.status >= 300;
      if (error_answer || sink != nullptr) {
        if (!error_answer && sink->on_headers && !sink->on_headers(info_from(head))) {
          sink_refused = true;
          return upstream::BodyUse::kStop;
        }
        return upstream::BodyUse::kStream;
      }
      return upstream::BodyUse::kBuffer;
    };
    http.on_data = [&](std::span<const std::byte> data) {
      if (error_answer) {
        auto room = kMaxErrorBody - std::min(kMaxErrorBody, error_text.size());
        error_text.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
        return upstream::SinkAction::kContinue;
      }
      sink_started = true;
      if (!sink->on_data(data)) {
        sink_refused = true;
        return upstream::SinkAction::kAbort;
      }
      return upstream::SinkAction::kContinue;
    };
    auto reply = upstream::perform_blocking(handles, std::move(http));
    if (sink_refused) return S3Error{S3Errc::kAborted, describe(request) + ": aborted by the reader"};
    if (reply) {
      if (error_answer) reply->body = std::move(error_text);
      return std::move(*reply);
    }
    if (reply.error() == upstream::UpstreamErrc::kTooLarge) {
      return S3Error{S3Errc::kProtocol, describe(request) + ": answer larger than " +
                                            std::to_string(request.max_body) + " bytes"};
    }
    std::string what = describe(request) + " at " + options.endpoint + ": " + reply.error().message();
    if (reply.error() == upstream::UpstreamErrc::kTimeout) return S3Error{S3Errc::kTimeout, what};
    return S3Error{S3Errc::kConnect, what};
  }

  S3Result<Reply> perform(const Request& request) {
    auto backoff = options.first_backoff;
    thread_local std::mt19937 rng{std::random_device{}()};
    for (int attempt_no = 1;; ++attempt_no) {
      bool sink_started = false;
      auto result = attempt(request, sink_started);
      bool last = attempt_no >= options.max_attempts || sink_started;
      if (result) {
        if (result->status >= 200 && result->status < 300) return result;
        if (!retryable_status(result->status) || last) return error_from(request, *result);
      } else if (last || (result.error().code != S3Errc::kConnect &&
                          result.error().code != S3Errc::kTimeout)) {
        return result.error();
      }
      // 5xx, 429, timeouts, resets: back off (with jitter so replicas do not retry in step).
      std::uniform_int_distribution<long> jitter(0, backoff.count() / 2);
      std::this_thread::sleep_for(backoff + std::chrono::milliseconds(jitter(rng)));
      backoff *= 2;
    }
  }
};

S3Client::S3Client(S3ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
S3Client::~S3Client() = default;

const std::string& S3Client::bucket() const { return impl_->options.bucket; }

S3Result<void> S3Client::check_bucket() {
  Request request;
  request.method = "GET";
  request.query = {{"list-type", "2"}, {"max-keys", "1"}};
  request.what = "list bucket " + impl_->options.bucket;
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  return {};
}

S3Result<void> S3Client::create_bucket() {
  Request request;
  request.method = "PUT";
  request.has_body = true;
  request.what = "create bucket " + impl_->options.bucket;
  auto reply = impl_->perform(request);
  // 409 BucketAlreadyExists/OwnedByYou: fine when it is usable with our credentials.
  if (!reply && check_bucket()) return {};
  if (!reply) return reply.error();
  return {};
}

S3Result<ObjectInfo> S3Client::put_object(std::string_view key, std::string_view body,
                                          const HeaderList& extra_headers) {
  Request request;
  request.method = "PUT";
  request.key = std::string(key);
  request.headers = extra_headers;
  request.body = std::as_bytes(std::span(body.data(), body.size()));
  request.has_body = true;
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  auto info = info_from(*reply);
  info.size = body.size();
  return info;
}

S3Result<std::optional<std::string>> S3Client::get_object(std::string_view key,
                                                          std::size_t max_bytes) {
  Request request;
  request.method = "GET";
  request.key = std::string(key);
  request.max_body = max_bytes;
  auto reply = impl_->perform(request);
  if (!reply) {
    if (reply.error().code == S3Errc::kNotFound) return std::optional<std::string>();
    return reply.error();
  }
  return std::optional<std::string>(std::move(reply->body));
}

S3Result<std::optional<ObjectInfo>> S3Client::head_object(std::string_view key) {
  Request request;
  request.method = "HEAD";
  request.key = std::string(key);
  auto reply = impl_->perform(request);
  if (!reply) {
    if (reply.error().code == S3Errc::kNotFound) return std::optional<ObjectInfo>();
    return reply.error();
  }
  return std::optional<ObjectInfo>(info_from(*reply));
}

S3Result<ObjectInfo> S3Client::get_stream(
    std::string_view key, std::optional<std::pair<std::uint64_t, std::uint64_t>> range,
    GetSink& sink) {
  Request request;
  request.method = "GET";
  request.key = std::string(key);
  if (range) {
    request.headers.emplace_back(
        "range", "bytes=" + std::to_string(range->first) + "-" + std::to_string(range->second));
  }
  request.sink = &sink;
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  return info_from(*reply);
}

S3Result<void> S3Client::delete_object(std::string_view key) {
  Request request;
  request.method = "DELETE";
  request.key = std::string(key);
  auto reply = impl_->perform(request);
  if (!reply && reply.error().code != S3Errc::kNotFound) return reply.error();
  return {};
}

S3Result<ListPage> S3Client::list(std::string_view prefix, std::string_view delimiter,
                                  std::string_view continuation_token, int max_keys) {
  Request request;
  request.method = "GET";
  request.query = {{"list-type", "2"},
                   {"encoding-type", "url"},
                   {"max-keys", std::to_string(max_keys)},
                   {"prefix", std::string(prefix)}};
  if (!delimiter.empty()) request.query.emplace_back("delimiter", std::string(delimiter));
  if (!continuation_token.empty()) {
    request.query.emplace_back("continuation-token", std::string(continuation_token));
  }
  request.what = "list " + std::string(prefix);
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  const XmlDocument answer(reply->body);
  if (answer.root_name() != "ListBucketResult") {
    return S3Error{S3Errc::kProtocol, "list " + std::string(prefix) +
                                          ": the answer is not a ListBucketResult document"};
  }
  ListPage page;
  for (const auto& row : answer.each("ListBucketResult/Contents", {"Key", "Size", "ETag", "LastModified"})) {
    ListedObject object;
    object.key = url_decode(row[0]);
    object.info.size = parse_u64(row[1]).value_or(0);
    object.info.etag = strip_quotes(row[2]);
    object.info.last_modified = row[3];
    object.info.last_modified_unix = parse_http_or_iso_time(object.info.last_modified);
    page.objects.push_back(std::move(object));
  }
  for (const auto& row : answer.each("ListBucketResult/CommonPrefixes", {"Prefix"})) {
    page.common_prefixes.push_back(url_decode(row[0]));
  }
  if (answer.text("ListBucketResult/IsTruncated") == "true") {
    page.next_token = answer.text("ListBucketResult/NextContinuationToken");
    if (page.next_token.empty()) {
      return S3Error{S3Errc::kProtocol, "list " + std::string(prefix) +
                                            ": truncated listing without a continuation token"};
    }
  }
  return page;
}

S3Result<std::string> S3Client::create_multipart(std::string_view key) {
  Request request;
  request.method = "POST";
  request.key = std::string(key);
  request.query = {{"uploads", ""}};
  request.has_body = true;
  request.what = "create multipart upload " + std::string(key);
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  auto id = XmlDocument(reply->body).text("InitiateMultipartUploadResult/UploadId");
  if (id.empty()) return S3Error{S3Errc::kProtocol, request.what + ": no UploadId in the answer"};
  return id;
}

S3Result<std::string> S3Client::upload_part(std::string_view key, std::string_view upload_id,
                                            int part_number, std::span<const std::byte> data) {
  Request request;
  request.method = "PUT";
  request.key = std::string(key);
  request.query = {{"partNumber", std::to_string(part_number)},
                   {"uploadId", std::string(upload_id)}};
  request.body = data;
  request.has_body = true;
  request.what = "upload part " + std::to_string(part_number) + " of " + std::string(key);
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  auto etag = strip_quotes(reply->header("etag"));
  if (etag.empty()) return S3Error{S3Errc::kProtocol, request.what + ": no ETag in the answer"};
  return etag;
}

S3Result<void> S3Client::complete_multipart(std::string_view key, std::string_view upload_id,
                                            const std::vector<std::string>& part_etags) {
  const std::string xml = complete_multipart_xml(part_etags);
  Request request;
  request.method = "POST";
  request.key = std::string(key);
  request.query = {{"uploadId", std::string(upload_id)}};
  request.body = std::as_bytes(std::span(xml.data(), xml.size()));
  request.has_body = true;
  request.what = "complete multipart upload " + std::string(key);
  auto reply = impl_->perform(request);
  if (!reply) return reply.error();
  // S3 may answer 200 with an <Error> body when completion fails late.
  if (XmlDocument(reply->body).root_name() == "Error") {
    auto failed = *reply;
    failed.status = 500;
    return impl_->error_from(request, failed);
  }
  return {};
}

S3Result<void> S3Client::abort_multipart(std::string_view key, std::string_view upload_id) {
  Request request;
  request.method = "DELETE";
  request.key = std::string(key);
  request.query = {{"uploadId", std::string(upload_id)}};
  request.what = "abort multipart upload " + std::string(key);
  auto reply = impl_->perform(request);
  if (!reply && reply.error().code != S3Errc::kNotFound) return reply.error();
  return {};
}

std::string S3Client::presign_get(std::string_view key, std::chrono::seconds expiry) const {
  auto raw = impl_->raw_path(key);
  auto date = amz_date(std::chrono::system_clock::now());
  return impl_->base_url + encode_path(raw) + "?" +
         impl_->signer.presign_query("GET", raw, impl_->host, date, expiry);
}

}  // namespace regmirror::proxy::s3
