#pragma once
// Which repository may hand out a digest, for clients limited by access.scopes. Content is
// stored once by digest, so without this a scoped client could read any cached blob (of a
// private repository, say) through the name of a repository it may pull. A digest counts as held
// by a repository when a manifest of that repository that references it was served (recorded
// in the index), or when an upstream confirms it (HEAD in that repository; then recorded).
// Offline, only the record counts.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>

#include "cache/digest.hpp"

namespace regmirror::cache {
class MetadataStore;
}

namespace regmirror::proxy::registry {

class UpstreamChain;

class RepositoryScope {
 public:
  RepositoryScope(cache::MetadataStore& metadata, boost::asio::thread_pool& index_pool,
                  bool offline)
      : metadata_(metadata), index_pool_(index_pool), offline_(offline) {}

  // `manifest`: the digest names a manifest (HEAD /manifests/), else a blob (HEAD /blobs/).
  boost::asio::awaitable<bool> holds(const UpstreamChain& chain, std::string repository,
                                     cache::Digest digest, bool manifest);
  // Records, in the background, that `repository` holds the manifest and all it references.
  void remember_manifest(std::string registry, std::string repository, cache::Digest digest,
                         std::string body);

 private:
  cache::MetadataStore& metadata_;
  boost::asio::thread_pool& index_pool_;
  bool offline_;
};

}  // namespace regmirror::proxy::registry
