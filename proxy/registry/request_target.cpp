#include "proxy/registry/request_target.hpp"

#include "config/reference.hpp"

namespace regmirror::proxy::registry {
namespace {

using config::hex_value;

bool ends_with_segment(std::string_view path, std::string_view marker, std::string_view* head,
                       std::string_view* tail) {
  // marker like "/manifests/": find the last occurrence so names may contain the word itself.
  auto pos = path.rfind(marker);
  if (pos == std::string_view::npos || pos == 0) return false;
  *head = path.substr(0, pos);
  *tail = path.substr(pos + marker.size());
  return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

RequestTarget parse_request_target(std::string_view target) {
  RequestTarget out;
  auto question = target.find('?');
  auto path = target.substr(0, question);
  auto query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    auto raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key != "ns" && key != "n" && key != "last" && key != "artifactType") continue;
    auto value = percent_decode(raw);
    if (!value) {
      out.bad_encoding = true;
      continue;
    }
    if (key == "ns") out.ns = std::move(*value);
    if (key == "n") out.n = std::move(*value);
    if (key == "last") out.last = std::move(*value);
    if (key == "artifactType") out.artifact_type = std::move(*value);
  }

  if (path == "/healthz") {
    out.kind = RouteKind::kHealthz;
    return out;
  }
  if (path == "/readyz") {
    out.kind = RouteKind::kReadyz;
    return out;
  }
  if (path == "/metrics") {
    out.kind = RouteKind::kMetrics;
    return out;
  }
  if (path == "/v2" || path == "/v2/") {
    out.kind = RouteKind::kBase;
    return out;
  }
  if (path.substr(0, 4) != "/v2/") return out;
  auto rest = path.substr(4);
  out.kind = RouteKind::kUnknownV2;
  std::string_view head;
  std::string_view tail;
  if (auto uploads = rest.find("/blobs/uploads"); uploads != std::string_view::npos) {
    out.kind = RouteKind::kUploads;
    out.name = rest.substr(0, uploads);
    return out;
  }
  if (rest.size() > 10 && rest.substr(rest.size() - 10) == "/tags/list") {
    out.kind = RouteKind::kTagsList;
    out.name = rest.substr(0, rest.size() - 10);
    return out;
  }
  if (ends_with_segment(rest, "/manifests/", &head, &tail)) {
    out.kind = RouteKind::kManifest;
  } else if (ends_with_segment(rest, "/blobs/", &head, &tail)) {
    out.kind = RouteKind::kBlob;
  } else if (ends_with_segment(rest, "/referrers/", &head, &tail)) {
    out.kind = RouteKind::kReferrers;
  } else {
    return out;
  }
  out.name = head;
  out.reference = tail;
  return out;
}

std::string_view route_name(RouteKind kind) {
  switch (kind) {
    case RouteKind::kBase:
      return "base";
    case RouteKind::kManifest:
      return "manifest";
    case RouteKind::kBlob:
      return "blob";
    case RouteKind::kTagsList:
      return "tags";
    case RouteKind::kReferrers:
      return "referrers";
    case RouteKind::kUploads:
      return "uploads";
    case RouteKind::kHealthz:
      return "healthz";
    case RouteKind::kReadyz:
      return "readyz";
    case RouteKind::kMetrics:
      return "metrics";
    case RouteKind::kUnknownV2:
    case RouteKind::kUnknown:
      return "other";
  }
  return "other";
}

}  // namespace regmirror::proxy::registry
