#include "cache/referrer_index.hpp"

#include <nlohmann/json.hpp>

#include "cache/manifest_references.hpp"

namespace regmirror::cache {

using nlohmann::json;

namespace {

std::string string_field(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

}  // namespace

std::optional<Referrer> referrer_of(const Digest& digest, std::string_view body,
                                    std::string_view media_type) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return std::nullopt;
  auto subject_it = doc.find("subject");
  if (subject_it == doc.end() || !subject_it->is_object()) return std::nullopt;
  auto subject = Digest::parse(string_field(*subject_it, "digest"));
  if (!subject) return std::nullopt;
  ReferrerRecord record;
  record.media_type = string_field(doc, "mediaType");
  if (record.media_type.empty()) record.media_type = std::string(media_type);
  record.size = body.size();
  record.artifact_type = string_field(doc, "artifactType");
  const bool is_index = is_index_media_type(record.media_type) || doc.contains("manifests");
  if (record.artifact_type.empty() && !is_index) {
    if (auto config = doc.find("config"); config != doc.end() && config->is_object()) {
      record.artifact_type = string_field(*config, "mediaType");
    }
  }
  if (auto annotations = doc.find("annotations");
      annotations != doc.end() && annotations->is_object()) {
    for (const auto& [key, value] : annotations->items()) {
      if (value.is_string()) record.annotations.emplace(key, value.get<std::string>());
    }
  }
  return Referrer{std::move(*subject), digest, std::move(record)};
}

Result<bool> index_referrer(MetadataStore& metadata, const Digest& digest, std::string_view body,
                            std::string_view media_type) {
  auto referrer = referrer_of(digest, body, media_type);
  if (!referrer) return false;
  if (auto put = metadata.put_referrer(*referrer); !put) {
    return Result<bool>(boost::system::in_place_error, put.error());
  }
  return true;
}

}  // namespace regmirror::cache
