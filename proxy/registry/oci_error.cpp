#include "proxy/registry/oci_error.hpp"

#include <nlohmann/json.hpp>

namespace regmirror::proxy::registry {

unsigned http_status(OciError error) {
  switch (error) {
    case OciError::kNameInvalid:
    case OciError::kDigestInvalid:
      return 400;
    case OciError::kNameUnknown:
    case OciError::kManifestUnknown:
    case OciError::kBlobUnknown:
    case OciError::kNotFound:
      return 404;
    case OciError::kUnsupported:
      return 405;
    case OciError::kUnauthorized:
      return 401;
    case OciError::kDenied:
      return 403;
    case OciError::kRangeInvalid:
      return 416;
    case OciError::kTooManyRequests:
      return 429;
    case OciError::kInternal:
      return 500;
    case OciError::kUpstreamInvalid:
      return 502;
    case OciError::kUnavailable:
      return 503;
  }
  return 500;
}

std::string_view error_code_name(OciError error) {
  switch (error) {
    case OciError::kNameInvalid:
      return "NAME_INVALID";
    case OciError::kNameUnknown:
      return "NAME_UNKNOWN";
    case OciError::kManifestUnknown:
      return "MANIFEST_UNKNOWN";
    case OciError::kBlobUnknown:
      return "BLOB_UNKNOWN";
    case OciError::kDigestInvalid:
      return "DIGEST_INVALID";
    case OciError::kRangeInvalid:
      return "RANGE_INVALID";
    case OciError::kUnsupported:
      return "UNSUPPORTED";
    case OciError::kNotFound:
      return "NOT_FOUND";
    case OciError::kUnauthorized:
      return "UNAUTHORIZED";
    case OciError::kDenied:
      return "DENIED";
    case OciError::kTooManyRequests:
      return "TOOMANYREQUESTS";
    case OciError::kUnavailable:
      return "UNAVAILABLE";
    case OciError::kUpstreamInvalid:
      return "UPSTREAM_INVALID";
    case OciError::kInternal:
      return "INTERNAL";
  }
  return "INTERNAL";
}

std::string error_body(OciError error, std::string_view message) {
  nlohmann::json entry{{"code", error_code_name(error)}, {"message", message},
                       {"detail", nlohmann::json::object()}};
  return nlohmann::json{{"errors", nlohmann::json::array({entry})}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace regmirror::proxy::registry
