#pragma once
// Encoding of index keys and records, shared by every MetadataStore that persists bytes.
#include <optional>
#include <string>

#include "cache/metadata_store.hpp"

namespace regmirror::cache::codec {

std::string manifest_key(const Digest& digest);
std::string tag_key(const TagKey& key);
std::string tag_prefix(const std::string& registry, const std::string& repository);

std::string encode(const ManifestRecord& record);
std::string encode(const TagRecord& record);
std::optional<ManifestRecord> decode_manifest(const std::string& bytes);
std::optional<TagRecord> decode_tag(const std::string& bytes);

}  // namespace regmirror::cache::codec
