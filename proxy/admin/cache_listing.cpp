#include <set>

#include "cache/blob_store.hpp"
#include "cache/evictor.hpp"
#include "cache/pin_closure.hpp"
#include "config/config.hpp"
#include "proxy/admin/jobs.hpp"
#include "proxy/admin/references.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

// One page of the cached references in tag order: `limit` tags after `after` (a reference of
// the previous page's "next"). Pins that no tag names (by digest, or of a forgotten tag) come
// on the first page. Totals come from the index's running sums: the cost of a page does not
// depend on the size of the cache.
Reply list_cache(const AdminHandlerParts& parts, std::string_view target, const std::string&) {
  constexpr std::size_t kDefaultPage = 1000;
  constexpr std::size_t kMaxPage = 10'000;
  std::size_t limit = kDefaultPage;
  if (auto text = query_param(target, "limit")) {
    auto parsed = parse_count(*text);
    if (!parsed || *parsed == 0 || *parsed > kMaxPage) {
      return fail(http::status::bad_request, "limit=" + *text + ": must be a number from 1 to 10000");
    }
    limit = *parsed;
  }
  auto after = query_param(target, "after").value_or("");
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

}  // namespace regmirror::proxy::admin
