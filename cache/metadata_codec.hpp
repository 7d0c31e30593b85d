#pragma once
// Encoding of index keys and records, shared by every MetadataStore that persists bytes.
#include <optional>
#include <string>

#include "cache/metadata_store.hpp"

namespace regmirror::cache::codec {

std::string manifest_key(const Digest& digest);
std::string tag_key(const TagKey& key);
std::string tag_prefix(const std::string& registry, const std::string& repository);

// Prefixes of whole key families, for full scans.
std::string all_tags_prefix();
std::string pin_prefix();
std::string blob_prefix();
std::string pin_key(const std::string& ref);
std::string blob_key(const Digest& digest);
// The parts of a key produced by tag_key(); nullopt for anything else.
std::optional<TagKey> parse_tag_key(const std::string& key);

std::string encode(const ManifestRecord& record);
std::string encode(const PinRecord& record);
std::string encode(const BlobRecord& record);
std::optional<PinRecord> decode_pin(const std::string& bytes);
std::optional<BlobRecord> decode_blob(const std::string& bytes);
std::string encode(const TagRecord& record);
std::optional<ManifestRecord> decode_manifest(const std::string& bytes);
std::optional<TagRecord> decode_tag(const std::string& bytes);

}  // namespace regmirror::cache::codec
