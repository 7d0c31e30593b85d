#include "proxy/admin/references.hpp"

#include "proxy/registry/image_reference.hpp"

namespace regmirror::proxy::admin {

Result<ResolvedRef, MessageError> resolve_ref(const config::RoutingTable& routes,
                                              const std::string& text) {
  auto parsed = registry::parse_image_reference(text);
  if (!parsed) return parsed.error();
  if (parsed->tag.empty() && parsed->digest.empty()) {
    return message_error("reference needs a tag or a digest: " + text);
  }
  const auto* registry = routes.find(parsed->host);
  if (registry == nullptr) {
    return message_error("registry not served by this mirror: " + parsed->host);
  }
  ResolvedRef out;
  out.tag_key = {registry->name, parsed->repository, parsed->tag};
  out.tag = parsed->tag;
  out.digest = parsed->digest;
  out.key = registry->name + "/" + parsed->repository +
            (parsed->digest.empty() ? ":" + parsed->tag : "@" + parsed->digest);
  return out;
}

std::optional<cache::TagKey> parse_tag_ref(const std::string& ref) {
  auto slash = ref.find('/');
  auto colon = ref.rfind(':');
  if (slash == std::string::npos || colon == std::string::npos || colon < slash ||
      ref.find('/', colon) != std::string::npos || slash == 0 || colon == slash + 1 ||
      colon + 1 == ref.size()) {
    return std::nullopt;
  }
  return cache::TagKey{ref.substr(0, slash), ref.substr(slash + 1, colon - slash - 1),
                       ref.substr(colon + 1)};
}

}  // namespace regmirror::proxy::admin
