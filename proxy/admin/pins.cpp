// Pins: keep a cached reference and everything it uses out of eviction, and let it go again.
#include "cache/blob_store.hpp"
#include "cache/pin_closure.hpp"
#include "proxy/admin/jobs.hpp"
#include "proxy/admin/references.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Reply pin(const AdminHandlerParts& parts, std::string_view, const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("ref") || !doc["ref"].is_string()) {
    return fail(http::status::bad_request,
                "body must be a JSON object {\"ref\": \"REGISTRY/REPO:TAG\"}");
  }
  auto ref = resolve_ref(*parts.routes, doc["ref"].get<std::string>());
  if (!ref) return fail(http::status::bad_request, ref.error().message);
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

Reply unpin(const AdminHandlerParts& parts, std::string_view target, const std::string&) {
  auto param = query_param(target, "ref");
  if (!param || param->empty()) return fail(http::status::bad_request, "missing ?ref=");
  const std::string& text = *param;
  auto ref = resolve_ref(*parts.routes, text);
  // A pin written under a registry that is no longer configured can still be removed verbatim.
  std::string key = ref ? ref->key : text;
  auto existing = parts.metadata->get_pin(key);
  if (!existing)
    return fail(http::status::internal_server_error, "reading pin: " + existing.error().message());
  if (!*existing) {
    if (!ref) return fail(http::status::bad_request, ref.error().message);
    return fail(http::status::not_found, "not pinned: " + key);
  }
  if (auto removed = parts.metadata->delete_pin(key); !removed) {
    return fail(http::status::internal_server_error, "removing pin: " + removed.error().message());
  }
  logging::info("admin_unpin", {{"ref", key}});
  return Reply{http::status::ok, json{{"ref", key}, {"unpinned", true}}};
}

}  // namespace regmirror::proxy::admin
