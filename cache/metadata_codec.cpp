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

std::string all_tags_prefix() { return "t\0"s; }
std::string pin_prefix() { return "p\0"s; }
std::string blob_prefix() { return "b\0"s; }
std::string pin_key(const std::string& ref) { return pin_prefix() + ref; }
std::string blob_key(const Digest& digest) { return blob_prefix() + digest.str(); }

std::string referrer_prefix(const Digest& subject) { return "r\0"s + subject.str() + '\0'; }

std::string referrer_key(const Digest& subject, const Digest& referrer) {
  return referrer_prefix(subject) + referrer.str();
}

std::string age_prefix() { return "a\0"s; }

std::string age_key(std::int64_t last_access, const std::string& digest) {
  auto biased = static_cast<std::uint64_t>(last_access) ^ (std::uint64_t{1} << 63);
  std::string key = age_prefix();
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>(biased >> shift));
  return key + digest;
}

std::optional<BlobAge> parse_age_key(const std::string& key) {
  auto prefix = age_prefix();
  if (!key.starts_with(prefix) || key.size() <= prefix.size() + 8) return std::nullopt;
  std::uint64_t biased = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    biased = (biased << 8) | static_cast<unsigned char>(key[prefix.size() + i]);
  }
  return BlobAge{static_cast<std::int64_t>(biased ^ (std::uint64_t{1} << 63)),
                 key.substr(prefix.size() + 8)};
}

std::string blob_usage_key() { return "u\0blob_usage"s; }

std::string repository_digest_key(const std::string& registry, const std::string& repository,
                                  const Digest& digest) {
  return "o\0"s + registry + '\0' + repository + '\0' + digest.str();
}

std::string encode(const BlobUsage& usage) {
  return json{{"bytes", usage.bytes}, {"count", usage.count}}.dump();
}

std::optional<BlobUsage> decode_usage(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["bytes"].is_number_unsigned() || !doc["count"].is_number_unsigned())
    return std::nullopt;
  return BlobUsage{doc["bytes"].get<std::uint64_t>(), doc["count"].get<std::uint64_t>()};
}

std::optional<TagKey> parse_tag_key(const std::string& key) {
  auto prefix = all_tags_prefix();
  if (!key.starts_with(prefix)) return std::nullopt;
  auto first = key.find('\0', prefix.size());
  if (first == std::string::npos) return std::nullopt;
  auto second = key.find('\0', first + 1);
  if (second == std::string::npos) return std::nullopt;
  return TagKey{key.substr(prefix.size(), first - prefix.size()),
                key.substr(first + 1, second - first - 1), key.substr(second + 1)};
}

std::string encode(const PinRecord& record) {
  return json{{"digests", record.digests}, {"pinned_at", record.pinned_at}}.dump();
}

std::string encode(const BlobRecord& record) {
  return json{{"size", record.size}, {"last_access", record.last_access}}.dump();
}

std::optional<PinRecord> decode_pin(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["digests"].is_array() || !doc["pinned_at"].is_number_integer()) {
    return std::nullopt;
  }
  PinRecord record;
  for (const auto& digest : doc["digests"]) {
    if (!digest.is_string() || !Digest::parse(digest.get<std::string>())) return std::nullopt;
    record.digests.push_back(digest.get<std::string>());
  }
  record.pinned_at = doc["pinned_at"].get<std::int64_t>();
  return record;
}

std::optional<BlobRecord> decode_blob(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["size"].is_number_unsigned() ||
      !doc["last_access"].is_number_integer()) {
    return std::nullopt;
  }
  return BlobRecord{doc["size"].get<std::uint64_t>(), doc["last_access"].get<std::int64_t>()};
}

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

std::string encode(const ReferrerRecord& record) {
  json doc{{"media_type", record.media_type}, {"size", record.size}};
  if (!record.artifact_type.empty()) doc["artifact_type"] = record.artifact_type;
  if (!record.annotations.empty()) doc["annotations"] = record.annotations;
  return doc.dump();
}

std::optional<ReferrerRecord> decode_referrer(const std::string& bytes) {
  auto doc = json::parse(bytes, nullptr, false);
  if (!doc.is_object() || !doc["media_type"].is_string() || !doc["size"].is_number_unsigned()) {
    return std::nullopt;
  }
  ReferrerRecord record{doc["media_type"].get<std::string>(), doc["size"].get<std::uint64_t>(), {},
                        {}};
  if (auto type = doc.find("artifact_type"); type != doc.end()) {
    if (!type->is_string()) return std::nullopt;
    record.artifact_type = type->get<std::string>();
  }
  if (auto annotations = doc.find("annotations"); annotations != doc.end()) {
    if (!annotations->is_object()) return std::nullopt;
    for (const auto& [key, value] : annotations->items()) {
      if (!value.is_string()) return std::nullopt;
      record.annotations.emplace(key, value.get<std::string>());
    }
  }
  return record;
}

}  // namespace regmirror::cache::codec
