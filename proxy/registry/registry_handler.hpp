#pragma once
// The OCI pull API, health, readiness and metrics routes on top of the HTTP server. It routes
// a request and writes the answer; the services decide where bytes come from (ManifestService,
// BlobService, list_tags, list_referrers).
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "config/client_scopes.hpp"
#include "config/config.hpp"
#include "config/digest_blocklist.hpp"
#include "config/routing_table.hpp"
#include "proxy/server/connection.hpp"

namespace regmirror::cache {
class AccessTracker;
class MetadataStore;
}  // namespace regmirror::cache
namespace regmirror::proxy::metrics {
class Metrics;
}
namespace regmirror::proxy::server {
class AccessPolicy;
}

namespace regmirror::proxy::registry {

class UpstreamChain;
class ManifestService;
class RepositoryScope;
class HotManifestCache;
class BlobService;

struct RegistryHandlerParts {
  const config::Config* config = nullptr;
  const config::RoutingTable* routes = nullptr;
  const std::map<std::string, std::unique_ptr<UpstreamChain>>* chains = nullptr;  // by registry
  cache::MetadataStore* metadata = nullptr;  // tags/list offline answers, referrers
  ManifestService* manifests = nullptr;
  HotManifestCache* hot = nullptr;  // answers hot manifests without leaving the network thread
  BlobService* blobs = nullptr;
  metrics::Metrics* metrics = nullptr;
  cache::AccessTracker* access = nullptr;          // last-use times of served manifests
  boost::asio::thread_pool* index_pool = nullptr;  // blocking index work (readiness, tags)
  std::function<std::string()> readiness;          // blocking; "" when ready, else why not
  server::AccessPolicy* access_policy = nullptr;   // who may use /v2/ (null: everyone)
  bool serve_metrics = true;                       // false when metrics_listen is separate
  const config::DigestBlocklist* blocklist = nullptr;  // digests never served (null: none)
  const config::ClientScopes* scopes = nullptr;  // access.scopes (null: no client is limited)
  RepositoryScope* repository_scope = nullptr;   // with scopes: which repository holds a digest
};

class RegistryHandler final : public server::Handler {
 public:
  explicit RegistryHandler(RegistryHandlerParts parts) : parts_(std::move(parts)) {}
  boost::asio::awaitable<bool> handle(server::Connection& connection) override;

 private:
  RegistryHandlerParts parts_;
};

}  // namespace regmirror::proxy::registry
