#include "proxy/registry/image_reference.hpp"

#include "cache/digest.hpp"
#include "config/reference.hpp"

namespace regmirror::proxy::registry {

std::string ImageReference::str() const {
  auto out = name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<ImageReference, MessageError> parse_image_reference(std::string_view text) {
  auto fail = [](std::string reason) { return message_error(std::move(reason)); };
  if (text.empty()) return fail("empty reference");
  ImageReference out;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    out.digest = std::string(rest.substr(at + 1));
    if (!cache::Digest::parse(out.digest)) return fail("invalid digest '" + out.digest + "'");
    rest = rest.substr(0, at);
  }
  auto last_slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    out.tag = std::string(rest.substr(colon + 1));
    if (!config::is_valid_tag(out.tag)) return fail("invalid tag '" + out.tag + "'");
    rest = rest.substr(0, colon);
  }
  auto first_slash = rest.find('/');
  if (first_slash != std::string_view::npos) {
    auto first = rest.substr(0, first_slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost") {
      out.host = std::string(first);
      rest = rest.substr(first_slash + 1);
    }
  }
  if (out.host.empty()) out.host = "docker.io";
  out.repository = std::string(rest);
  if ((out.host == "docker.io" || out.host == "index.docker.io" ||
       out.host == "registry-1.docker.io") &&
      out.repository.find('/') == std::string::npos) {
    out.repository = "library/" + out.repository;
  }
  if (!config::is_valid_registry_host(out.host))
    return fail("invalid registry host '" + out.host + "'");
  if (!config::is_valid_repository(out.repository)) {
    return fail("invalid repository name '" + out.repository + "'");
  }
  return out;
}

}  // namespace regmirror::proxy::registry
