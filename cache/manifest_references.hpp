#pragma once
// What a manifest document refers to: an index's child manifests (with their platforms), an
// image manifest's config and layers. Used to pin, evict, seed, export and import whole images.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/digest.hpp"

namespace regmirror::cache {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

struct Descriptor {
  Digest digest;
  std::string media_type;
  std::uint64_t size = 0;
  std::optional<Platform> platform;  // index children only, when the index names one
};

struct ManifestReferences {
  bool is_index = false;
  std::string media_type;             // the document's own mediaType field, may be empty
  std::vector<Descriptor> manifests;  // index: child manifests
  std::vector<Descriptor> blobs;      // image: config first, then layers
};

// Parses an OCI/Docker image manifest or index. nullopt when the bytes are not JSON, or a
// descriptor has no valid digest or size (a document we could not safely pin or copy).
std::optional<ManifestReferences> parse_manifest_references(std::string_view body);

// True for the index / manifest-list media types.
bool is_index_media_type(std::string_view media_type);

// "linux/amd64", "linux/arm64/v8" -> Platform; nullopt for anything without exactly 2 or 3 parts.
std::optional<Platform> parse_platform(std::string_view text);
// Whether `have` satisfies `want` (os and architecture equal; variant only when `want` has one).
bool platform_matches(const Platform& want, const Platform& have);

}  // namespace regmirror::cache
