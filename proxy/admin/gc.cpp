// cache gc: eviction now (local), removal of blocked digests' copies, bucket retention (S3).
#include "cache/blob_store.hpp"
#include "cache/cache_error.hpp"
#include "cache/evictor.hpp"
#include "cache/pin_closure.hpp"
#include "config/config.hpp"
#include "proxy/admin/jobs.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/s3/bucket_retention.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

Reply run_gc(const AdminHandlerParts& parts, std::string_view, const std::string&) {
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
Reply run_blocked_gc(const AdminHandlerParts& parts, std::string_view, const std::string&) {
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

Reply run_bucket_gc(const AdminHandlerParts& parts, std::string_view target, const std::string&) {
  auto age = query_param(target, "older_than_seconds");
  if (!age || age->empty() || age->size() > 12 ||
      age->find_first_not_of("0123456789") != std::string::npos) {
    return fail(http::status::bad_request, "older_than_seconds must be a number");
  }
  const auto older_than_seconds = std::stoll(*age);
  if (parts.s3 == nullptr) {
    return Reply{http::status::bad_request, json{{"error", "storage.s3 is not configured"}}};
  }
  auto keep = cache::pinned_digests(*parts.blobs, *parts.metadata);
  if (!keep) {
    return Reply{http::status::internal_server_error,
                 json{{"error", "cannot read pins: " + keep.error().message()}}};
  }
  auto now = unix_now();
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

}  // namespace regmirror::proxy::admin
