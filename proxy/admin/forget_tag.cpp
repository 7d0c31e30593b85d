// cache forget: drop one cached tag so the next pull asks the upstream again.
#include "proxy/admin/jobs.hpp"
#include "proxy/admin/references.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Reply forget_tag(const AdminHandlerParts& parts, std::string_view target, const std::string&) {
  auto param = query_param(target, "ref");
  if (!param || param->empty()) return fail(http::status::bad_request, "missing ?ref=");
  const std::string& text = *param;
  auto ref = resolve_ref(*parts.routes, text);
  if (!ref) return fail(http::status::bad_request, ref.error().message);
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

}  // namespace regmirror::proxy::admin
