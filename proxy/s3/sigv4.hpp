#pragma once
// AWS Signature Version 4 for S3 (header and presigned-query forms), over OpenSSL HMAC/SHA-256.
// Pure functions: no clock, no I/O; the caller passes the request time.
//
// The URL a request is sent to must be built from the same encoders (encode_path,
// canonical_query) as the signature, so that what is signed is what is sent: keys with
// "/ + = ~ %" and query values with reserved characters then sign correctly.
#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace regmirror::proxy::s3 {

struct SigningCredentials {
  std::string access_key;
  std::string secret_key;  // never logged
  std::string region;      // "us-east-1"
  std::string service = "s3";
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;  // raw, not encoded
using HeaderList = std::vector<std::pair<std::string, std::string>>;   // name, value

// RFC 3986 percent-encoding as SigV4 wants it: unreserved (A-Z a-z 0-9 - . _ ~) stay, all
// else becomes %XX (upper-case hex); '/' stays only when `keep_slash`.
std::string uri_encode(std::string_view text, bool keep_slash);
// An absolute path ("/bucket/dir/a+b=c") encoded once, slashes kept (S3 does not normalise).
std::string encode_path(std::string_view raw_path);
// "a=1&b=x%2Fy": keys and values encoded, sorted by encoded key then value.
std::string canonical_query(const QueryParams& query);

std::string sha256_hex(std::string_view data);
// "20130524T000000Z"
std::string amz_date(std::chrono::system_clock::time_point when);

struct SignedRequest {
  std::string method;            // "GET"
  std::string raw_path;          // "/bucket/key", not encoded
  QueryParams query;             // not encoded
  HeaderList headers;            // must include host and x-amz-date; all of them are signed
  std::string payload_sha256;    // hex, or "UNSIGNED-PAYLOAD"
};

class SigV4Signer {
 public:
  explicit SigV4Signer(SigningCredentials credentials) : credentials_(std::move(credentials)) {}

  const SigningCredentials& credentials() const { return credentials_; }

  // The Authorization header value for `request`, signed at `amz_date` (must equal the
  // request's x-amz-date header).
  std::string authorization(const SignedRequest& request, std::string_view amz_date) const;

  // The encoded query string of a presigned GET of `raw_path` on `host` (append it after '?'),
  // valid for `expires` from `amz_date`. Only the host header is signed; the payload is
  // UNSIGNED-PAYLOAD, as clients following the URL cannot sign anything.
  std::string presign_query(std::string_view method, std::string_view raw_path,
                            std::string_view host, std::string_view amz_date,
                            std::chrono::seconds expires) const;

  // Exposed for tests (AWS documents these intermediate strings).
  static std::string canonical_request(const SignedRequest& request, std::string* signed_headers);
  std::string string_to_sign(std::string_view canonical, std::string_view amz_date) const;
  std::string signature(std::string_view string_to_sign, std::string_view amz_date) const;

 private:
  std::string scope(std::string_view amz_date) const;
  SigningCredentials credentials_;
};

}  // namespace regmirror::proxy::s3
