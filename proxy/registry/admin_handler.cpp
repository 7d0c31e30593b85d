#include "proxy/registry/admin_handler.hpp"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "cache/blob_store.hpp"
#include "cache/cache_error.hpp"
#include "cache/evictor.hpp"
#include "cache/manifest_references.hpp"
#include "cache/metadata_store.hpp"
#include "cache/pin_closure.hpp"
#include "config/config.hpp"
#include "config/routing_table.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/s3/bucket_retention.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/image_reference.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/registry/request_target.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::registry {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using nlohmann::json;
using server::Connection;

namespace {

constexpr std::size_t kUploadChunk = 1 << 20;
// Request body limits, per route (the registry port takes no request bodies at all): pins and
// import documents are JSON of at most this size; a blob upload may be as large as the cache
// itself (max_cache_bytes), since nothing larger could be kept.
constexpr std::uint64_t kMaxJsonBody = 16 << 20;
constexpr auto kBodyReadTimeout = std::chrono::seconds(60);

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a blocking job hands back to the coroutine: a status and a JSON document.
struct Reply {
  http::status status = http::status::ok;
  json body;
};

Reply fail(http::status status, std::string message) {
  return Reply{status, json{{"error", std::move(message)}}};
}

Reply too_large(const char* what, std::uint64_t length, const char* limit_name,
                std::uint64_t limit) {
  return fail(http::status::payload_too_large,
              std::string(what) + " of " + std::to_string(length) + " bytes is over the " +
                  limit_name + " limit of " + std::to_string(limit) + " bytes");
}

bool disk_full(const boost::system::error_code& ec) {
  return ec == boost::system::errc::no_space_on_device;
}

// A reference resolved against the configured registries: the canonical pin key and where its
// tag lives. `tag` or `digest` is set.
struct ResolvedRef {
  std::string key;  // "registry.k8s.io/pause:3.2" (canonical registry name)
  cache::TagKey tag_key;
  std::string tag;
  std::string digest;
};

std::optional<ResolvedRef> resolve_ref(const config::RoutingTable& routes, const std::string& text,
                                       std::string& why) {
  auto parsed = parse_image_reference(text, &why);
  if (!parsed) return std::nullopt;
  if (parsed->tag.empty() && parsed->digest.empty()) {
    why = "reference needs a tag or a digest: " + text;
    return std::nullopt;
  }
  const auto* registry = routes.find(parsed->host);
  if (registry == nullptr) {
    why = "registry not served by this mirror: " + parsed->host;
    return std::nullopt;
  }
  ResolvedRef out;
  out.tag_key = {registry->name, parsed->repository, parsed->tag};
  out.tag = parsed->tag;
  out.digest = parsed->digest;
  out.key = registry->name + "/" + parsed->repository +
            (parsed->digest.empty() ? ":" + parsed->tag : "@" + parsed->digest);
  return out;
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return percent_decode(eq == std::string_view::npos ? std::string_view()
                                                         : pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return std::nullopt;
}

// --- blocking jobs (worker threads) ---------------------------------------------------------

// A decimal count of at most 9 digits; nullopt otherwise.
std::optional<std::size_t> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<std::size_t>(std::stoul(text));
}

// "registry/repository:tag" as a tag key (the cursor of a cache listing); nullopt otherwise.
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

// One page of the cached references in tag order: `limit` tags after `after` (a reference of
// the previous page's "next"). Pins that no tag names (by digest, or of a forgotten tag) come
// on the first page. Totals come from the index's running sums: the cost of a page does not
// depend on the size of the cache.
Reply list_cache(const AdminHandlerParts& parts, std::size_t limit, const std::string& after) {
  parts.evictor->flush_access();
  std::optional<cache::TagKey> cursor;
  if (!after.empty()) {
    cursor = parse_tag_ref(after);
    if (!cursor) {
      return fail(http::status::bad_request,
                  "after=" + after + ": not a REGISTRY/REPOSITORY:TAG reference from \"next\"");
    }
  }
  auto usage = parts.metadata->blob_usage();
  if (!usage)
    return fail(http::status::internal_server_error, "reading usage: " + usage.error().message());
  // One more than asked: whether a next page exists.
  auto tags = parts.metadata->list_tag_entries(cursor, limit + 1);
  if (!tags)
    return fail(http::status::internal_server_error, "reading tags: " + tags.error().message());
  auto pins = parts.metadata->list_pins();
  if (!pins)
    return fail(http::status::internal_server_error, "reading pins: " + pins.error().message());
  auto pinned = cache::pinned_digests(*parts.blobs, *parts.metadata);
  if (!pinned)
    return fail(http::status::internal_server_error, "reading pins: " + pinned.error().message());

  std::set<std::string> pinned_refs;
  for (const auto& [ref, record] : *pins) pinned_refs.insert(ref);
  std::uint64_t pinned_bytes = 0;
  for (const auto& digest : *pinned) {
    if (auto info = parts.blobs->stat(digest)) pinned_bytes += info->size;
  }

  auto describe = [&](const std::string& ref, const cache::Digest& digest,
                      const std::string& media_type) {
    auto closure = cache::manifest_closure(*parts.blobs, digest);
    std::uint64_t bytes = 0;
    std::int64_t last = 0;
    std::size_t missing = 0;
    for (const auto& member : closure) {
      auto info = parts.blobs->stat(member);
      if (!info) {
        ++missing;
        continue;
      }
      bytes += info->size;
      if (auto record = parts.metadata->get_blob_record(member); record && *record) {
        last = std::max(last, (*record)->last_access);
      }
    }
    return json{{"ref", ref},
                {"digest", digest.str()},
                {"media_type", media_type},
                {"size", bytes},
                {"cached", static_cast<bool>(parts.blobs->stat(digest))},
                {"missing_blobs", missing},
                {"pinned", pinned_refs.contains(ref) || pinned->contains(digest)},
                {"last_use", last}};
  };

  json references = json::array();
  std::string next;
  std::size_t shown = 0;
  for (const auto& entry : *tags) {
    auto ref = entry.key.registry + "/" + entry.key.repository + ":" + entry.key.tag;
    if (shown == limit) {
      break;
    }
    ++shown;
    next = ref;
    auto digest = cache::Digest::parse(entry.record.digest);
    if (!digest) continue;
    references.push_back(describe(ref, *digest, entry.record.media_type));
  }
  if (tags->size() <= limit) next.clear();
  if (!cursor) {
    for (const auto& [ref, record] : *pins) {
      if (record.digests.empty()) continue;
      if (auto key = parse_tag_ref(ref)) {
        auto tag = parts.metadata->get_tag(*key);
        if (tag && *tag) continue;  // listed with the tags
      }
      auto digest = cache::Digest::parse(record.digests.front());
      if (!digest) continue;
      std::string media_type;
      if (auto manifest = parts.metadata->get_manifest(*digest); manifest && *manifest) {
        media_type = (*manifest)->media_type;
      }
      references.push_back(describe(ref, *digest, media_type));
    }
  }
  json answer{{"references", references},
              {"total_bytes", usage->bytes},
              {"blob_count", usage->count},
              {"pinned_bytes", pinned_bytes},
              {"max_cache_bytes", parts.config->max_cache_bytes}};
  if (!next.empty()) answer["next"] = next;
  return Reply{http::status::ok, std::move(answer)};
}

Reply pin(const AdminHandlerParts& parts, const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("ref") || !doc["ref"].is_string()) {
    return fail(http::status::bad_request,
                "body must be a JSON object {\"ref\": \"REGISTRY/REPO:TAG\"}");
  }
  std::string why;
  auto ref = resolve_ref(*parts.routes, doc["ref"].get<std::string>(), why);
  if (!ref) return fail(http::status::bad_request, why);
  std::string digest_text = ref->digest;
  if (digest_text.empty()) {
    auto tag = parts.metadata->get_tag(ref->tag_key);
    if (!tag)
      return fail(http::status::internal_server_error, "reading tag: " + tag.error().message());
    if (!*tag)
      return fail(http::status::not_found,
                  "not in the cache: " + ref->key + " (pull or seed it first)");
    digest_text = (*tag)->digest;
  }
  auto digest = cache::Digest::parse(digest_text);
  if (!digest || !parts.blobs->stat(*digest)) {
    return fail(http::status::not_found,
                "manifest not in the cache: " + ref->key + " (pull or seed it first)");
  }
  auto closure = cache::manifest_closure(*parts.blobs, *digest);
  cache::PinRecord record;
  record.pinned_at = unix_now();
  record.digests.push_back(digest->str());  // the manifest first: listing and unpin rely on it
  std::uint64_t bytes = 0;
  std::size_t missing = 0;
  for (const auto& member : closure) {
    if (member != *digest) record.digests.push_back(member.str());
    if (auto info = parts.blobs->stat(member)) {
      bytes += info->size;
    } else {
      ++missing;
    }
  }
  if (auto put = parts.metadata->put_pin(ref->key, record); !put) {
    return fail(http::status::internal_server_error, "writing pin: " + put.error().message());
  }
  logging::info("admin_pin", {{"ref", ref->key}, {"digest", digest->str()}});
  return Reply{http::status::ok, json{{"ref", ref->key},
                                      {"digest", digest->str()},
                                      {"digests", record.digests.size()},
                                      {"bytes", bytes},
                                      {"missing_blobs", missing}}};
}

Reply forget_tag(const AdminHandlerParts& parts, const std::string& text) {
  std::string why;
  auto ref = resolve_ref(*parts.routes, text, why);
  if (!ref) return fail(http::status::bad_request, why);
  if (ref->tag.empty() || !ref->digest.empty()) {
    return fail(http::status::bad_request, "forget takes a tag (REPO:TAG), got " + text);
  }
  auto pin = parts.metadata->get_pin(ref->key);
  if (!pin) return fail(http::status::internal_server_error, "reading pin: " + pin.error().message());
  if (*pin) return fail(http::status::conflict, ref->key + " is pinned: unpin it first");
  auto existing = parts.metadata->get_tag(ref->tag_key);
  if (!existing) {
    return fail(http::status::internal_server_error, "reading tag: " + existing.error().message());
  }
  if (!*existing) return fail(http::status::not_found, "not in the cache: " + ref->key);
  if (auto removed = parts.metadata->delete_tag(ref->tag_key); !removed) {
    return fail(http::status::internal_server_error, "removing tag: " + removed.error().message());
  }
  if (parts.hot != nullptr) {
    parts.hot->drop_tag(HotManifestCache::tag_key(ref->tag_key.registry, ref->tag_key.repository,
                                                  ref->tag_key.tag));
  }
  logging::info("admin_forget", {{"ref", ref->key}, {"digest", (*existing)->digest}});
  return Reply{http::status::ok, json{{"ref", ref->key}, {"digest", (*existing)->digest}}};
}

Reply upstream_states(const AdminHandlerParts& parts) {
  json out = json::array();
  if (parts.chains != nullptr) {
    for (const auto& [name, chain] : *parts.chains) {
      for (std::size_t i = 0; i < chain->size(); ++i) {
        const auto& circuit = chain->circuit(i);
        out.push_back({{"registry", name},
                       {"upstream", chain->upstream_url(i)},
                       {"state", std::string(upstream::circuit_state_name(circuit.state()))},
                       {"consecutive_failures", circuit.consecutive_failures()},
                       {"retry_in_ms", circuit.retry_in_ms()}});
      }
    }
  }
  return Reply{http::status::ok, json{{"upstreams", out}}};
}

Reply unpin(const AdminHandlerParts& parts, const std::string& text) {
  std::string why;
  auto ref = resolve_ref(*parts.routes, text, why);
  // A pin written under a registry that is no longer configured can still be removed verbatim.
  std::string key = ref ? ref->key : text;
  auto existing = parts.metadata->get_pin(key);
  if (!existing)
    return fail(http::status::internal_server_error, "reading pin: " + existing.error().message());
  if (!*existing) {
    if (!ref) return fail(http::status::bad_request, why);
    return fail(http::status::not_found, "not pinned: " + key);
  }
  if (auto removed = parts.metadata->delete_pin(key); !removed) {
    return fail(http::status::internal_server_error, "removing pin: " + removed.error().message());
  }
  logging::info("admin_unpin", {{"ref", key}});
  return Reply{http::status::ok, json{{"ref", key}, {"unpinned", true}}};
}

Reply run_gc(const AdminHandlerParts& parts) {
  auto report = parts.evictor->run_once(/*operator_request=*/true);
  json removed = json::array();
  for (const auto& [digest, size] : report.removed)
    removed.push_back({{"digest", digest.str()}, {"size", size}});
  auto bytes_removed = std::to_string(report.removed.size());
  auto after = std::to_string(report.bytes_after);
  logging::info("admin_gc",
                {{"removed", bytes_removed}, {"bytes_after", after}, {"error", report.error}});
  Reply reply{report.error.empty() ? http::status::ok : http::status::internal_server_error,
              json{{"bytes_before", report.bytes_before},
                   {"bytes_after", report.bytes_after},
                   {"blob_count", report.blob_count},
                   {"max_cache_bytes", parts.config->max_cache_bytes},
                   {"removed", removed}}};
  if (!report.error.empty()) reply.body["error"] = report.error;
  return reply;
}

// cache gc --blocked: removes the cached copies of every blocked digest (blocking alone keeps
// them, refused). Tags that named a removed manifest stay, and the memory copy of a manifest
// may too: the handler refuses blocked digests before serving either.
Reply run_blocked_gc(const AdminHandlerParts& parts) {
  if (parts.blocklist == nullptr) {
    return fail(http::status::bad_request, "no blocked_digests_file is configured");
  }
  json removed = json::array();
  std::size_t blocked = 0;
  for (const auto& text : parts.blocklist->list()) {
    ++blocked;
    auto digest = cache::Digest::parse(text);
    if (!digest) continue;
    auto info = parts.blobs->stat(*digest);
    if (!info) continue;
    auto gone = parts.blobs->remove(*digest);
    if (!gone && gone.error() != cache::CacheErrc::kNotFound) {
      return fail(http::status::internal_server_error,
                  "removing blocked " + digest->str() + ": " + gone.error().message());
    }
    if (auto dropped = parts.metadata->delete_blob_record(*digest); !dropped) {
      logging::warn("index_write_failed", {{"what", "blob record"},
                                           {"digest", digest->str()},
                                           {"error", dropped.error().message()}});
    }
    removed.push_back({{"digest", digest->str()}, {"size", info->size}});
    logging::info("admin_gc_blocked_removed", {{"digest", digest->str()},
                                               {"bytes", std::to_string(info->size)}});
  }
  return Reply{http::status::ok, json{{"blocked", blocked}, {"removed", removed}}};
}

Reply run_bucket_gc(const AdminHandlerParts& parts, std::int64_t older_than_seconds) {
  if (parts.s3 == nullptr) {
    return Reply{http::status::bad_request, json{{"error", "storage.s3 is not configured"}}};
  }
  auto keep = cache::pinned_digests(*parts.blobs, *parts.metadata);
  if (!keep) {
    return Reply{http::status::internal_server_error,
                 json{{"error", "cannot read pins: " + keep.error().message()}}};
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto report = s3::collect_bucket_garbage(*parts.s3->client, parts.config->storage.s3->prefix,
                                           *keep, now - older_than_seconds);
  json removed = json::array();
  for (const auto& [digest, size] : report.removed) removed.push_back({{"digest", digest}, {"size", size}});
  auto count = std::to_string(report.removed.size());
  logging::info("admin_bucket_gc", {{"removed", count}, {"error", report.error}});
  Reply reply{report.error.empty() ? http::status::ok : http::status::internal_server_error,
              json{{"scanned", report.scanned},
                   {"kept_pinned", report.kept_pinned},
                   {"kept_recent", report.kept_recent},
                   {"removed", removed}}};
  if (!report.error.empty()) reply.body["error"] = report.error;
  return reply;
}

// Re-hashes one blob; empty when it is intact, else why not.
std::string check_blob(cache::BlobStore& blobs, const cache::Digest& digest) {
  auto reader = blobs.open(digest);
  if (!reader) return "cannot open: " + reader.error().message();
  cache::DigestHasher hasher(digest.algorithm());
  std::vector<std::byte> buffer(kUploadChunk);
  std::uint64_t offset = 0;
  const auto size = (*reader)->size();
  while (offset < size) {
    auto n = (*reader)->read_at(offset, buffer);
    if (!n) return "read error: " + n.error().message();
    if (*n == 0) return "shorter than its size";
    hasher.update(std::span(buffer.data(), *n));
    offset += *n;
  }
  auto actual = hasher.finish();
  if (actual != digest) return "content hashes to " + actual.str();
  return {};
}

Reply verify(const AdminHandlerParts& parts) {
  std::vector<cache::Digest> digests;
  auto listed = parts.blobs->for_each(
      [&](const cache::Digest& digest, const cache::BlobInfo&) { digests.push_back(digest); });
  if (!listed)
    return fail(http::status::internal_server_error, "listing blobs: " + listed.error().message());
  json bad = json::array();
  for (const auto& digest : digests) {
    auto problem = check_blob(*parts.blobs, digest);
    if (problem.empty()) continue;
    // A bad copy is worse than none: a miss is fetched again, a bad blob would be served.
    auto removed = parts.blobs->remove(digest);
    (void)parts.metadata->delete_blob_record(digest);
    bad.push_back({{"digest", digest.str()}, {"reason", problem}, {"removed", bool(removed)}});
    logging::warn("admin_verify_bad_blob", {{"digest", digest.str()}, {"reason", problem}});
  }
  return Reply{http::status::ok, json{{"checked", digests.size()}, {"bad", bad}}};
}

// Checks that everything the import names is present, then writes manifests, tags and pins
// in one batch.
Reply import(const AdminHandlerParts& parts, const std::string& body) {
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
    std::string why;
    auto ref = resolve_ref(*parts.routes, entry["ref"].get<std::string>(), why);
    if (!ref || ref->tag.empty() || !ref->digest.empty()) {
      return fail(http::status::bad_request,
                  "bad tag reference " + entry["ref"].dump() + (why.empty() ? "" : ": " + why));
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
    std::string why;
    auto ref = resolve_ref(*parts.routes, entry.get<std::string>(), why);
    if (!ref) return fail(http::status::bad_request, "bad pin reference: " + why);
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

// --- the coroutine side --------------------------------------------------------------------

class AdminRequest {
 public:
  AdminRequest(const AdminHandlerParts& parts, Connection& connection)
      : parts_(parts), connection_(connection) {}

  http::status status = http::status::ok;

  asio::awaitable<bool> serve() {
    const auto& request = connection_.request();
    const auto method = request.method();
    std::string_view target(request.target().data(), request.target().size());
    auto path = target.substr(0, target.find('?'));
    const AdminHandlerParts* parts = &parts_;

    if (path == "/admin/cache" && method == http::verb::get) {
      constexpr std::size_t kDefaultPage = 1000;
      constexpr std::size_t kMaxPage = 10'000;
      std::size_t limit = kDefaultPage;
      if (auto text = query_param(target, "limit")) {
        auto parsed = parse_count(*text);
        if (!parsed || *parsed == 0 || *parsed > kMaxPage) {
          Reply answer = fail(http::status::bad_request,
                              "limit=" + *text + ": must be a number from 1 to 10000");
          co_return co_await reply(std::move(answer));
        }
        limit = *parsed;
      }
      auto after = query_param(target, "after").value_or("");
      auto job = [parts, limit, after] { return list_cache(*parts, limit, after); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/pins" && method == http::verb::post) {
      auto body = co_await read_json_body();
      if (body.refused) {
        Reply answer = std::move(*body.refused);
        co_return co_await reply(std::move(answer));
      }
      auto job = [parts, text = std::move(body.text)] { return pin(*parts, text); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/pins" && method == http::verb::delete_) {
      auto ref = query_param(target, "ref");
      if (!ref || ref->empty()) {
        Reply answer = fail(http::status::bad_request, "missing ?ref=");
        co_return co_await reply(std::move(answer));
      }
      auto job = [parts, text = std::move(*ref)] { return unpin(*parts, text); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/tags" && method == http::verb::delete_) {
      auto ref = query_param(target, "ref");
      if (!ref || ref->empty()) {
        Reply answer = fail(http::status::bad_request, "missing ?ref=");
        co_return co_await reply(std::move(answer));
      }
      auto job = [parts, text = std::move(*ref)] { return forget_tag(*parts, text); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/upstreams" && method == http::verb::get) {
      Reply answer = upstream_states(parts_);
      co_return co_await reply(std::move(answer));
    }
    if (path == "/admin/gc" && method == http::verb::post && query_param(target, "s3")) {
      auto age = query_param(target, "older_than_seconds");
      if (!age || age->empty() || age->size() > 12 ||
          age->find_first_not_of("0123456789") != std::string::npos) {
        Reply answer = fail(http::status::bad_request, "older_than_seconds must be a number");
        co_return co_await reply(std::move(answer));
      }
      auto seconds = std::stoll(*age);
      auto job = [parts, seconds] { return run_bucket_gc(*parts, seconds); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/gc" && method == http::verb::post && query_param(target, "blocked")) {
      auto job = [parts] { return run_blocked_gc(*parts); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/gc" && method == http::verb::post) {
      auto job = [parts] { return run_gc(*parts); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/verify" && method == http::verb::post) {
      auto job = [parts] { return verify(*parts); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path == "/admin/import" && method == http::verb::post) {
      auto body = co_await read_json_body();
      if (body.refused) {
        Reply answer = std::move(*body.refused);
        co_return co_await reply(std::move(answer));
      }
      auto job = [parts, text = std::move(body.text)] { return import(*parts, text); };
      {
        Reply answer = co_await server::offload(*parts_.workers, std::move(job));
        co_return co_await reply(std::move(answer));
      }
    }
    if (path.starts_with("/admin/blobs/")) {
      auto digest = cache::Digest::parse(path.substr(std::string_view("/admin/blobs/").size()));
      if (!digest) {
        Reply answer = fail(http::status::bad_request, "invalid digest in path");
        co_return co_await reply(std::move(answer));
      }
      if (method == http::verb::head || method == http::verb::get)
        co_return co_await head_blob(*digest);
      if (method == http::verb::put) co_return co_await upload_blob(*digest);
    }
    {
      Reply answer = fail(
          http::status::not_found,
          "no such admin route: " + std::string(request.method_string()) + " " + std::string(path));
      co_return co_await reply(std::move(answer));
    }
  }

 private:
  asio::awaitable<bool> reply(Reply result) {
    status = result.status;
    http::response<http::string_body> response{result.status, connection_.request().version()};
    response.set(http::field::content_type, "application/json");
    response.set(http::field::cache_control, "no-store");
    response.body() = result.body.dump(2) + "\n";
    co_return co_await connection_.send(std::move(response));
  }

  // A JSON request body, or the reply that refuses it.
  struct JsonBody {
    std::string text;
    std::optional<Reply> refused;
  };

  asio::awaitable<JsonBody> read_json_body() {
    JsonBody out;
    auto length = connection_.body_length();
    if (!length) {
      out.refused = fail(http::status::length_required, "a JSON body with Content-Length is required");
      co_return out;
    }
    if (*length > kMaxJsonBody) {
      out.refused = too_large("JSON body", *length, "admin JSON", kMaxJsonBody);
      co_return out;
    }
    out.text.assign(*length, '\0');
    std::size_t done = 0;
    while (done < out.text.size()) {
      auto n = co_await connection_.read_body_chunk(
          std::as_writable_bytes(std::span(out.text.data() + done, out.text.size() - done)),
          kBodyReadTimeout);
      if (!n || *n == 0) {
        out.refused = fail(http::status::bad_request,
                           "request body ended after " + std::to_string(done) + " of " +
                               std::to_string(*length) + " bytes");
        co_return out;
      }
      done += *n;
    }
    co_return out;
  }

  asio::awaitable<bool> head_blob(cache::Digest digest) {
    auto* blobs = parts_.blobs;
    auto job = [blobs, digest] { return blobs->stat(digest); };
    auto info = co_await server::offload(*parts_.workers, std::move(job));
    http::response<http::empty_body> response{info ? http::status::ok : http::status::not_found,
                                              connection_.request().version()};
    response.content_length(info ? info->size : 0);
    status = response.result();
    if (connection_.request().method() == http::verb::get) {
      // The admin API never serves blob bytes: that is the registry port's job.
      {
        Reply answer = fail(http::status::method_not_allowed, "use HEAD (or the registry API)");
        co_return co_await reply(std::move(answer));
      }
    }
    co_return co_await connection_.send_header(response);
  }

  // Streams the body into the store; the store's commit verifies digest and size, so a bad or
  // short upload never becomes visible.
  asio::awaitable<bool> upload_blob(cache::Digest digest) {
    auto length = connection_.body_length();
    if (!length) {
      Reply answer = fail(http::status::length_required, "Content-Length required");
      co_return co_await reply(std::move(answer));
    }
    if (auto limit = parts_.config->max_cache_bytes; limit > 0 && *length > limit) {
      Reply answer = too_large("blob upload", *length, "max_cache_bytes", limit);
      co_return co_await reply(std::move(answer));
    }
    auto* blobs = parts_.blobs;
    auto begin = [blobs, digest, size = *length] { return blobs->begin_write(digest, size); };
    auto writer = co_await server::offload(*parts_.workers, std::move(begin));
    if (!writer) {
      Reply answer = fail(disk_full(writer.error()) ? http::status::insufficient_storage
                                                    : http::status::internal_server_error,
                          "cannot store blob " + digest.str() + ": " + writer.error().message());
      co_return co_await reply(std::move(answer));
    }
    auto* raw = writer->get();
    std::vector<std::byte> buffer(kUploadChunk);
    std::uint64_t received = 0;
    while (received < *length) {
      auto n = co_await connection_.read_body_chunk(buffer, kBodyReadTimeout);
      if (!n || *n == 0) {
        raw->abort();
        co_return false;  // the client is gone: nothing to answer
      }
      received += *n;
      auto write = [raw, data = buffer.data(), size = *n] {
        return raw->write(std::span<const std::byte>(data, size));
      };
      auto written = co_await server::offload(*parts_.workers, std::move(write));
      if (!written) {
        raw->abort();
        Reply answer = fail(disk_full(written.error()) ? http::status::insufficient_storage
                                                       : http::status::internal_server_error,
                            "writing blob " + digest.str() + ": " + written.error().message());
        co_return co_await reply(std::move(answer));
      }
    }
    auto commit = [raw] { return raw->commit(); };
    auto committed = co_await server::offload(*parts_.workers, std::move(commit));
    if (!committed) {
      bool bad_content = committed.error() == cache::CacheErrc::kDigestMismatch ||
                         committed.error() == cache::CacheErrc::kSizeMismatch;
      {
        Reply answer =
            fail(bad_content ? http::status::bad_request : http::status::internal_server_error,
                 "blob " + digest.str() + " rejected: " + committed.error().message());
        co_return co_await reply(std::move(answer));
      }
    }
    auto note = [evictor = parts_.evictor, digest, size = *length] {
      evictor->note_committed(digest, size);
      return true;
    };
    co_await server::offload(*parts_.workers, std::move(note));
    {
      Reply answer =
          Reply{http::status::created, json{{"digest", digest.str()}, {"size", *length}}};
      co_return co_await reply(std::move(answer));
    }
  }

  const AdminHandlerParts& parts_;
  Connection& connection_;
};

}  // namespace

asio::awaitable<bool> AdminHandler::handle(Connection& connection) {
  const auto started = std::chrono::steady_clock::now();
  AdminRequest request(parts_, connection);
  bool keep = co_await request.serve();
  auto millis = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count());
  auto status = std::to_string(static_cast<unsigned>(request.status));
  const auto& head = connection.request();
  auto method = std::string(head.method_string());
  auto target = std::string(head.target());
  logging::info("admin_request",
                {{"method", method}, {"target", target}, {"status", status}, {"ms", millis}});
  co_return keep;
}

}  // namespace regmirror::proxy::registry
