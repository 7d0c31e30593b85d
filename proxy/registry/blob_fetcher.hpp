#pragma once
// At most one upstream download per blob at a time: concurrent requests for the same uncached
// blob join the running download. The download keeps going when every client has left, so the
// layer is cached for the next one.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "proxy/registry/blob_download.hpp"

namespace regmirror::proxy::metrics {
class Metrics;
}

namespace regmirror::proxy::registry {

class UpstreamChain;

class BlobFetcher {
 public:
  // Runs a blocking job on a worker thread.
  using Spawn = std::function<void(std::function<void()>)>;

  // `committed` (optional) hears the size of every blob this fetcher caches.
  BlobFetcher(cache::BlobStore& blobs, metrics::Metrics& metrics, Spawn spawn,
              std::function<void(std::uint64_t)> committed = {});

  // The running download for `digest`, a new one, or nullptr when the blob is already in the
  // store (committed since the caller looked): open it from the store then.
  // `chain` must outlive the download (chains live as long as the server).
  std::shared_ptr<BlobDownload> start_or_join(const UpstreamChain& chain,
                                              const std::string& repository,
                                              const cache::Digest& digest);

 private:
  void run(std::shared_ptr<BlobDownload> download, const UpstreamChain& chain,
           std::string repository);

  cache::BlobStore& blobs_;
  metrics::Metrics& metrics_;
  Spawn spawn_;
  std::function<void(std::uint64_t)> committed_;
  std::mutex mutex_;
  std::map<cache::Digest, std::shared_ptr<BlobDownload>> running_;
};

}  // namespace regmirror::proxy::registry
