#pragma once
// A blocking S3 client on libcurl: SigV4-signed object operations on one bucket, retries with
// backoff on 5xx/429/timeouts/connection errors, and errors that say what failed where.
//
// Thread-safety: every method may be called from any thread at once (connections are pooled
// and shared). Calls block on the network: never call them from the network threads.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/s3/s3_error.hpp"
#include "proxy/s3/sigv4.hpp"

namespace regmirror::proxy::s3 {

struct S3ClientOptions {
  std::string endpoint;  // "http://127.0.0.1:7480" (scheme://host[:port], no path)
  std::string bucket;
  bool path_style = false;  // true: endpoint/bucket/key; false: bucket.host/key
  SigningCredentials credentials;
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds stall_timeout{30};    // less than 1 byte/s for this long aborts
  std::chrono::seconds request_timeout{120}; // buffered requests (not streamed GETs)
  int max_attempts = 4;                      // first try + retries
  std::chrono::milliseconds first_backoff{100};  // doubles each retry, with jitter
};

struct ObjectInfo {
  std::uint64_t size = 0;        // of the whole object
  std::string etag;              // quotes removed
  std::string last_modified;     // as sent (RFC 1123 or ISO 8601 in listings)
  std::int64_t last_modified_unix = 0;
};

struct ListedObject {
  std::string key;               // full key, decoded
  ObjectInfo info;
};

struct ListPage {
  std::vector<ListedObject> objects;
  std::vector<std::string> common_prefixes;
  std::string next_token;        // empty: last page
};

// Receives a streamed GET. on_headers: once, for a 200/206 answer, before any data (the
// ObjectInfo size is the whole object's); returning false ends the transfer with kAborted.
// on_data returning false aborts too.
struct GetSink {
  std::function<bool(const ObjectInfo&)> on_headers;
  std::function<bool(std::span<const std::byte>)> on_data;
};

class S3Client {
 public:
  explicit S3Client(S3ClientOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const std::string& bucket() const;

  // Lists at most one key: proves endpoint, bucket and credentials in one request.
  S3Result<void> check_bucket();
  // Creates the bucket (tests and first-time setup); an existing bucket of ours is success.
  S3Result<void> create_bucket();

  // `extra_headers` are sent and signed, e.g. {"If-None-Match", "*"} (then a lost race is
  // kPreconditionFailed) or {"Content-Type", "application/json"}.
  S3Result<ObjectInfo> put_object(std::string_view key, std::string_view body,
                                  const HeaderList& extra_headers = {});
  // nullopt: no such key. More than `max_bytes` is kProtocol.
  S3Result<std::optional<std::string>> get_object(std::string_view key, std::size_t max_bytes);
  S3Result<std::optional<ObjectInfo>> head_object(std::string_view key);
  // Streams [first, last] (inclusive; nullopt = whole object). No such key is kNotFound.
  // Retries only while nothing has reached the sink.
  S3Result<ObjectInfo> get_stream(std::string_view key,
                                  std::optional<std::pair<std::uint64_t, std::uint64_t>> range,
                                  GetSink& sink);
  // Deleting a missing key succeeds (S3 semantics).
  S3Result<void> delete_object(std::string_view key);
  S3Result<ListPage> list(std::string_view prefix, std::string_view delimiter,
                          std::string_view continuation_token, int max_keys = 1000);

  S3Result<std::string> create_multipart(std::string_view key);  // the UploadId
  S3Result<std::string> upload_part(std::string_view key, std::string_view upload_id,
                                    int part_number, std::span<const std::byte> data);  // ETag
  S3Result<void> complete_multipart(std::string_view key, std::string_view upload_id,
                                    const std::vector<std::string>& part_etags);
  S3Result<void> abort_multipart(std::string_view key, std::string_view upload_id);

  // A presigned GET URL for `key`, valid for `expiry` from now. No request is made.
  std::string presign_get(std::string_view key, std::chrono::seconds expiry) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "Tue, 21 May 2024 10:00:00 GMT" or "2024-05-21T10:00:00.000Z" -> unix seconds (0 if neither).
std::int64_t parse_http_or_iso_time(std::string_view text);

}  // namespace regmirror::proxy::s3
