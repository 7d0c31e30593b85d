#include "cache/metadata_codec.hpp"

#include <nlohmann/json.hpp>

namespace regmirror::cache::codec {

using nlohmann::json;
using namespace std::string_literals;

std::string manifest_key(const Digest& digest) { return "m\0"s + digest.str(); }

std::string tag_prefix(const std::string& registry, const std::string& repository) {
  return "t\0"s + registry + '\0' + repository + '\0';
}

std::string tag_key(const TagKey& key) { return tag_prefix(key.registry, key.repository) + key.tag; }

std::string encode(const ManifestRecord& record) {
  return json{{"media_type", record.media_type}, {"size", record.size}}.dump();
}

std::string encode(const TagRecord& record) {
  return json{{"digest", record.digest},
              {"media_type", record.media_type},
              {"size", record.size},
              {"fetched_at", record.fetched_at},
              {"validated_at", record.validated_at}}
      .dump();
}

std::optional<ManifestRecord> decode_manifest(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["media_type"].is_string() || !doc["size"].is_number_unsigned()) {
    return std::nullopt;
  }
  return ManifestRecord{doc["media_type"].get<std::string>(), doc["size"].get<std::uint64_t>()};
}

std::optional<TagRecord> decode_tag(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["digest"].is_string() || !doc["media_type"].is_string() ||
      !doc["size"].is_number_unsigned() || !doc["fetched_at"].is_number_integer() ||
      !doc["validated_at"].is_number_integer()) {
    return std::nullopt;
  }
  if (!Digest::parse(doc["digest"].get<std::string>())) return std::nullopt;
  return TagRecord{doc["digest"].get<std::string>(), doc["media_type"].get<std::string>(),
                   doc["size"].get<std::uint64_t>(), doc["fetched_at"].get<std::int64_t>(),
                   doc["validated_at"].get<std::int64_t>()};
}

}  // namespace regmirror::cache::codec
