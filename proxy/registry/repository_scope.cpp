#include "proxy/registry/repository_scope.hpp"

#include <boost/asio/post.hpp>

#include "cache/manifest_references.hpp"
#include "cache/metadata_store.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::registry {
namespace {

// Blocking. A failed write is logged and otherwise harmless: the next check asks upstream.
void remember(cache::MetadataStore& metadata, const std::string& registry,
              const std::string& repository, const std::vector<cache::Digest>& digests) {
  auto written = metadata.record_repository_digests(registry, repository, digests);
  if (!written) {
    logging::warn("index_write_failed", {{"what", "repository digests"},
                                         {"registry", registry},
                                         {"repo", repository},
                                         {"digest", digests.front().str()},
                                         {"error", written.error().message()}});
  }
}

}  // namespace

boost::asio::awaitable<bool> RepositoryScope::holds(const UpstreamChain& chain,
                                                    std::string repository, cache::Digest digest,
                                                    bool manifest) {
  auto* metadata = &metadata_;
  std::string registry = chain.registry().name;
  auto known = [metadata, registry, repository, digest] {
    auto held = metadata->repository_has_digest(registry, repository, digest);
    return held && *held;
  };
  if (co_await server::offload(index_pool_, std::move(known))) co_return true;
  if (offline_) co_return false;
  std::string suffix = (manifest ? "/manifests/" : "/blobs/") + digest.str();
  std::vector<std::string> headers;
  if (manifest) headers = manifest_accept_headers();
  auto got = co_await chain.fetch(repository, "HEAD", suffix, headers, 0,
                                  manifest ? "manifest" : "blob", OciError::kBlobUnknown,
                                  "scope check of " + digest.str());
  if (!got) co_return false;
  auto record = [metadata, registry, repository, digest] {
    remember(*metadata, registry, repository, {digest});
    return true;
  };
  co_await server::offload(index_pool_, std::move(record));
  co_return true;
}

void RepositoryScope::remember_manifest(std::string registry, std::string repository,
                                        cache::Digest digest, std::string body) {
  boost::asio::post(index_pool_, [this, registry = std::move(registry),
                                  repository = std::move(repository), digest = std::move(digest),
                                  body = std::move(body)] {
    std::vector<cache::Digest> held{digest};
    if (auto refs = cache::parse_manifest_references(body)) {
      for (const auto& child : refs->manifests) held.push_back(child.digest);
      for (const auto& blob : refs->blobs) held.push_back(blob.digest);
    }
    remember(metadata_, registry, repository, held);
  });
}

}  // namespace regmirror::proxy::registry
