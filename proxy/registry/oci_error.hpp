#pragma once
// OCI distribution error codes, mapped to HTTP status and JSON body in exactly one place.
#include <string>
#include <string_view>

namespace regmirror::proxy::registry {

enum class OciError {
  kNameInvalid,       // 400 NAME_INVALID
  kNameUnknown,       // 404 NAME_UNKNOWN (also: registry not served by this mirror)
  kManifestUnknown,   // 404 MANIFEST_UNKNOWN
  kBlobUnknown,       // 404 BLOB_UNKNOWN
  kDigestInvalid,     // 400 DIGEST_INVALID
  kRangeInvalid,      // 416 RANGE_INVALID (error body; Content-Range added by the caller)
  kUnsupported,       // 405 UNSUPPORTED (push methods, unknown routes under /v2/)
  kNotFound,          // 404 NOT_FOUND (no such route)
  kUnauthorized,      // 401 UNAUTHORIZED: credentials required by the mirror's access policy
  kDenied,            // 403 DENIED: client address, repository policy or blocklist refuses
  kTooManyRequests,   // 429 TOOMANYREQUESTS
  kUnavailable,       // 503 UNAVAILABLE: no upstream could answer and nothing is cached
  kUpstreamInvalid,   // 502 UPSTREAM_INVALID: the upstream answered garbage (bad digest, too big)
  kInternal,          // 500 INTERNAL: the mirror itself failed (disk, index)
};

unsigned http_status(OciError error);
std::string_view error_code_name(OciError error);
// {"errors":[{"code":"...","message":"...","detail":{}}]}; `message` must not carry secrets.
std::string error_body(OciError error, std::string_view message);

}  // namespace regmirror::proxy::registry
