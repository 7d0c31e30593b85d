#include <map>

#include "cache/blob_store.hpp"
#include "cache/manifest_references.hpp"
#include "cache/pin_closure.hpp"
#include "cache/referrer_index.hpp"
#include "proxy/admin/jobs.hpp"
#include "proxy/admin/references.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

// Checks that everything the import names is present, then writes manifests, tags and pins
// in one batch.
Reply import(const AdminHandlerParts& parts, std::string_view, const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return fail(http::status::bad_request, "import body is not a JSON object");
  const auto now = unix_now();
  cache::ImportBatch batch;
  std::map<cache::Digest, std::string> media_types;
  const json empty = json::array();
  const auto& manifests = doc.contains("manifests") ? doc["manifests"] : empty;
  const auto& tags = doc.contains("tags") ? doc["tags"] : empty;
  const auto& pins = doc.contains("pins") ? doc["pins"] : empty;
  if (!manifests.is_array() || !tags.is_array() || !pins.is_array()) {
    return fail(http::status::bad_request, "manifests, tags and pins must be arrays");
  }
  for (const auto& entry : manifests) {
    if (!entry.is_object() || !entry.contains("digest") || !entry["digest"].is_string() ||
        !entry.contains("media_type") || !entry["media_type"].is_string()) {
      return fail(http::status::bad_request, "each manifest needs a digest and a media_type");
    }
    auto digest = cache::Digest::parse(entry["digest"].get<std::string>());
    if (!digest)
      return fail(http::status::bad_request, "invalid manifest digest " + entry["digest"].dump());
    auto text = cache::read_blob_text(*parts.blobs, *digest);
    if (!text) {
      return fail(http::status::conflict, "manifest " + digest->str() + " was not uploaded (" +
                                              text.error().message() + ")");
    }
    auto refs = cache::parse_manifest_references(*text);
    if (!refs)
      return fail(http::status::bad_request, "manifest " + digest->str() + " does not parse");
    media_types[*digest] = entry["media_type"].get<std::string>();
    batch.manifests.emplace_back(*digest,
                                 cache::ManifestRecord{media_types[*digest], text->size()});
    if (auto referrer = cache::referrer_of(*digest, *text, media_types[*digest])) {
      batch.referrers.push_back(std::move(*referrer));
    }
  }
  // Every config and layer of every image manifest, and every index child the bundle carries.
  for (const auto& [digest, media_type] : media_types) {
    auto text = cache::read_blob_text(*parts.blobs, digest);
    auto refs = cache::parse_manifest_references(text ? *text : std::string());
    if (!refs)
      return fail(http::status::conflict, "manifest " + digest.str() + " vanished during import");
    std::size_t children = 0;
    for (const auto& child : refs->manifests) {
      if (media_types.contains(child.digest)) ++children;
    }
    if (refs->is_index && children == 0) {
      return fail(http::status::conflict,
                  "index " + digest.str() + " comes without any of its manifests");
    }
    for (const auto& blob : refs->blobs) {
      auto info = parts.blobs->stat(blob.digest);
      if (!info)
        return fail(http::status::conflict,
                    "blob " + blob.digest.str() + " of manifest " + digest.str() + " is missing");
      if (info->size != blob.size) {
        return fail(http::status::conflict,
                    "blob " + blob.digest.str() + " has " + std::to_string(info->size) +
                        " bytes, its manifest says " + std::to_string(blob.size));
      }
    }
  }
  std::map<std::string, cache::Digest> tag_digests;
  for (const auto& entry : tags) {
    if (!entry.is_object() || !entry.contains("ref") || !entry["ref"].is_string() ||
        !entry.contains("digest") || !entry["digest"].is_string()) {
      return fail(http::status::bad_request, "each tag needs a ref and a digest");
    }
    auto ref = resolve_ref(*parts.routes, entry["ref"].get<std::string>());
    if (!ref || ref->tag.empty() || !ref->digest.empty()) {
      return fail(http::status::bad_request, "bad tag reference " + entry["ref"].dump() +
                                                 (ref ? "" : ": " + ref.error().message));
    }
    auto digest = cache::Digest::parse(entry["digest"].get<std::string>());
    if (!digest || !media_types.contains(*digest)) {
      return fail(http::status::bad_request,
                  "tag " + ref->key + " points to a manifest the import does not carry");
    }
    auto size = parts.blobs->stat(*digest);
    batch.tags.push_back({ref->tag_key, cache::TagRecord{digest->str(), media_types[*digest],
                                                         size ? size->size : 0, now, now}});
    tag_digests.emplace(ref->key, *digest);
  }
  for (const auto& entry : pins) {
    if (!entry.is_string())
      return fail(http::status::bad_request, "pins must be reference strings");
    auto ref = resolve_ref(*parts.routes, entry.get<std::string>());
    if (!ref) return fail(http::status::bad_request, "bad pin reference: " + ref.error().message);
    std::optional<cache::Digest> digest;
    if (!ref->digest.empty()) {
      digest = cache::Digest::parse(ref->digest);
    } else if (auto it = tag_digests.find(ref->key); it != tag_digests.end()) {
      digest = it->second;
    }
    if (!digest || !media_types.contains(*digest)) {
      return fail(http::status::bad_request,
                  "pin " + ref->key + " names nothing the import carries");
    }
    cache::PinRecord record;
    record.pinned_at = now;
    record.digests.push_back(digest->str());
    for (const auto& member : cache::manifest_closure(*parts.blobs, *digest)) {
      if (member != *digest) record.digests.push_back(member.str());
    }
    batch.pins.emplace_back(ref->key, std::move(record));
  }
  if (auto applied = parts.metadata->apply_import(batch); !applied) {
    return fail(http::status::internal_server_error,
                "writing the index: " + applied.error().message());
  }
  auto counts = std::to_string(batch.manifests.size()) + "/" + std::to_string(batch.tags.size()) +
                "/" + std::to_string(batch.pins.size());
  logging::info("admin_import", {{"manifests_tags_pins", counts}});
  return Reply{http::status::ok, json{{"manifests", batch.manifests.size()},
                                      {"tags", batch.tags.size()},
                                      {"pins", batch.pins.size()}}};
}

}  // namespace regmirror::proxy::admin
