#pragma once
// The cache administration API, served on its own loopback listener (`admin_listen`), so the
// CLI (`regmirror cache|seed|import`) can work on a running server: RocksDB allows one process.
//
// Routes (JSON bodies and answers; errors are {"error": "..."} with a 4xx/5xx status):
//   GET    /admin/cache?limit=N&after=R one page of cached references (tag order): digests,
//                                       sizes, pins, last use; totals; "next" when more follow
//   POST   /admin/pins      {"ref": R}  pin the manifest(s) a cached reference resolves to and
//                                       every blob they reference (index: cached children)
//   DELETE /admin/pins?ref=R            unpin
//   POST   /admin/gc                    run eviction now; answers what was removed
//   POST   /admin/verify                re-hash every blob; removes and lists bad ones
//   PUT    /admin/blobs/<digest>        upload one blob (Content-Length body); the store verifies
//                                       the digest before it becomes visible
//   POST   /admin/import                manifests (digest, media type), tags and pins of an
//                                       offline bundle; applied atomically, and only once every
//                                       blob they reference is present
//   DELETE /admin/tags?ref=R            forget one cached tag (the next pull asks upstream);
//                                       refused for a pinned tag (unpin it first)
//   GET    /admin/upstreams             each upstream's circuit: state, failures, retry time
//   POST   /admin/gc?blocked=1          remove the cached copies of blocked digests
//   POST   /admin/gc?s3=1&older_than_seconds=N   bucket retention (storage.s3)
// The route table is routes.cpp; each job is its own file (jobs.hpp). Blocking work (disk,
// RocksDB, hashing) runs on `workers`, never on the network threads.
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <string>

#include "config/digest_blocklist.hpp"
#include "proxy/server/connection.hpp"

namespace regmirror::config {
struct Config;
class RoutingTable;
}  // namespace regmirror::config
namespace regmirror::cache {
class BlobStore;
class MetadataStore;
class Evictor;
}  // namespace regmirror::cache

namespace regmirror::proxy::s3 {
struct S3Tier;
}

namespace regmirror::proxy::registry {
class UpstreamChain;
class HotManifestCache;
}  // namespace regmirror::proxy::registry

namespace regmirror::proxy::admin {

using registry::HotManifestCache;
using registry::UpstreamChain;

struct AdminHandlerParts {
  const config::Config* config = nullptr;
  const config::RoutingTable* routes = nullptr;  // resolves "docker.io/library/alpine:3.19"
  cache::BlobStore* blobs = nullptr;
  cache::MetadataStore* metadata = nullptr;
  cache::Evictor* evictor = nullptr;            // the same one the background thread runs
  boost::asio::thread_pool* workers = nullptr;  // for blocking work
  s3::S3Tier* s3 = nullptr;                     // storage.s3, for bucket retention (gc?s3=1)
  const std::map<std::string, std::unique_ptr<UpstreamChain>>* chains = nullptr;  // by registry
  HotManifestCache* hot = nullptr;  // forgotten tags leave it too
  const config::DigestBlocklist* blocklist = nullptr;  // for gc?blocked=1 (null: none configured)
};

class AdminHandler final : public server::Handler {
 public:
  explicit AdminHandler(AdminHandlerParts parts) : parts_(parts) {}
  boost::asio::awaitable<bool> handle(server::Connection& connection) override;

 private:
  AdminHandlerParts parts_;
};

}  // namespace regmirror::proxy::admin
