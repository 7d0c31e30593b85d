#pragma once
// Splits a request target into what the registry API needs: the route kind, the repository
// name (which may contain '/'), the reference, and the query parameters we honour.
#include <optional>
#include <string>
#include <string_view>

namespace regmirror::proxy::registry {

enum class RouteKind {
  kBase,        // /v2/
  kManifest,    // /v2/<name>/manifests/<reference>
  kBlob,        // /v2/<name>/blobs/<digest>
  kTagsList,    // /v2/<name>/tags/list
  kReferrers,   // /v2/<name>/referrers/<digest>
  kUploads,     // /v2/<name>/blobs/uploads/... (push: always 405)
  kHealthz,
  kReadyz,
  kMetrics,
  kUnknownV2,   // something else under /v2/
  kUnknown,
};

struct RequestTarget {
  RouteKind kind = RouteKind::kUnknown;
  std::string name;       // raw, not yet validated or routed
  std::string reference;  // tag or digest (manifests), digest (blobs, referrers)
  std::string ns;         // ?ns=, percent-decoded; empty when absent
  std::optional<std::string> n;     // tags/list ?n=
  std::optional<std::string> last;  // tags/list ?last=
  std::optional<std::string> artifact_type;  // referrers ?artifactType=
  bool bad_encoding = false;        // a %-escape that does not decode
};

RequestTarget parse_request_target(std::string_view target);

// Percent-decoding of one query value ('+' is a space). nullopt on a broken escape.
std::optional<std::string> percent_decode(std::string_view text);

// Name for metrics and logs ("manifest", "blob", ...).
std::string_view route_name(RouteKind kind);

}  // namespace regmirror::proxy::registry
