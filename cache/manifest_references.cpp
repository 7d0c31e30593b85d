#include "cache/manifest_references.hpp"

#include <nlohmann/json.hpp>

namespace regmirror::cache {
namespace {

using nlohmann::json;

std::optional<Descriptor> parse_descriptor(const json& doc) {
  if (!doc.is_object()) return std::nullopt;
  auto digest_it = doc.find("digest");
  auto size_it = doc.find("size");
  if (digest_it == doc.end() || !digest_it->is_string()) return std::nullopt;
  if (size_it == doc.end() || !size_it->is_number_unsigned()) return std::nullopt;
  auto digest = Digest::parse(digest_it->get<std::string>());
  if (!digest) return std::nullopt;
  Descriptor out{*digest, "", size_it->get<std::uint64_t>(), std::nullopt};
  if (auto type = doc.find("mediaType"); type != doc.end() && type->is_string()) {
    out.media_type = type->get<std::string>();
  }
  if (auto platform = doc.find("platform"); platform != doc.end() && platform->is_object()) {
    Platform p;
    if (auto os = platform->find("os"); os != platform->end() && os->is_string()) p.os = *os;
    if (auto arch = platform->find("architecture"); arch != platform->end() && arch->is_string()) {
      p.architecture = *arch;
    }
    if (auto variant = platform->find("variant");
        variant != platform->end() && variant->is_string()) {
      p.variant = *variant;
    }
    out.platform = std::move(p);
  }
  return out;
}

}  // namespace

bool is_index_media_type(std::string_view media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

std::optional<ManifestReferences> parse_manifest_references(std::string_view body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  ManifestReferences out;
  if (auto type = doc.find("mediaType"); type != doc.end() && type->is_string()) {
    out.media_type = type->get<std::string>();
  }
  auto manifests = doc.find("manifests");
  if (manifests != doc.end()) {
    if (!manifests->is_array()) return std::nullopt;
    out.is_index = true;
    for (const auto& child : *manifests) {
      auto descriptor = parse_descriptor(child);
      if (!descriptor) return std::nullopt;
      out.manifests.push_back(std::move(*descriptor));
    }
    return out;
  }
  if (auto config = doc.find("config"); config != doc.end()) {
    auto descriptor = parse_descriptor(*config);
    if (!descriptor) return std::nullopt;
    out.blobs.push_back(std::move(*descriptor));
  }
  if (auto layers = doc.find("layers"); layers != doc.end()) {
    if (!layers->is_array()) return std::nullopt;
    for (const auto& layer : *layers) {
      auto descriptor = parse_descriptor(layer);
      if (!descriptor) return std::nullopt;
      out.blobs.push_back(std::move(*descriptor));
    }
  }
  return out;
}

std::optional<Platform> parse_platform(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) return std::nullopt;
  for (const auto& part : parts) {
    if (part.empty()) return std::nullopt;
  }
  return Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
}

bool platform_matches(const Platform& want, const Platform& have) {
  if (want.os != have.os || want.architecture != have.architecture) return false;
  return want.variant.empty() || want.variant == have.variant;
}

}  // namespace regmirror::cache
