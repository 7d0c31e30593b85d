// cache verify: re-hash every blob; remove and list the ones whose bytes do not match.
#include <vector>

#include "cache/blob_store.hpp"
#include "cache/metadata_store.hpp"
#include "proxy/admin/jobs.hpp"
#include "proxy/logging/logger.hpp"

namespace regmirror::proxy::admin {

namespace http = boost::beast::http;
using nlohmann::json;

// Re-hashes one blob; empty when it is intact, else why not.
namespace {

constexpr std::size_t kReadChunk = 1 << 20;

std::string check_blob(cache::BlobStore& blobs, const cache::Digest& digest) {
  auto reader = blobs.open(digest);
  if (!reader) return "cannot open: " + reader.error().message();
  cache::DigestHasher hasher(digest.algorithm());
  std::vector<std::byte> buffer(kReadChunk);
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

}  // namespace

Reply verify(const AdminHandlerParts& parts, std::string_view, const std::string&) {
  // Checked as the walk finds them: memory holds the bad ones only, whatever the cache size.
  // Removing the entry the directory walk just returned is safe.
  std::size_t checked = 0;
  json bad = json::array();
  auto listed = parts.blobs->for_each([&](const cache::Digest& digest, const cache::BlobInfo&) {
    ++checked;
    auto problem = check_blob(*parts.blobs, digest);
    if (problem.empty()) return;
    // A bad copy is worse than none: a miss is fetched again, a bad blob would be served.
    auto removed = parts.blobs->remove(digest);
    if (auto dropped = parts.metadata->delete_blob_record(digest); !dropped) {
      logging::warn("index_write_failed", {{"what", "blob record"},
                                           {"digest", digest.str()},
                                           {"error", dropped.error().message()}});
    }
    bad.push_back({{"digest", digest.str()}, {"reason", problem}, {"removed", bool(removed)}});
    logging::warn("admin_verify_bad_blob", {{"digest", digest.str()}, {"reason", problem}});
  });
  if (!listed)
    return fail(http::status::internal_server_error, "listing blobs: " + listed.error().message());
  return Reply{http::status::ok, json{{"checked", checked}, {"bad", bad}}};
}

}  // namespace regmirror::proxy::admin
