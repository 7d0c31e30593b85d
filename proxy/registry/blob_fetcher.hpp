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

namespace regmirror::proxy::s3 {
struct S3Tier;
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

  // The shared bucket (null: local only). With it, a miss is filled from the bucket first, a
  // lease in the bucket lets one replica fetch from the upstream while the others wait for
  // the object, and upstream writes tee into the bucket. Call before serving.
  void set_tier(s3::S3Tier* tier) { tier_ = tier; }

  // The running download for `digest`, a new one, or nullptr when the blob is already in the
  // store (committed since the caller looked): open it from the store then.
  // `chain` must outlive the download (chains live as long as the server).
  std::shared_ptr<BlobDownload> start_or_join(const UpstreamChain& chain,
                                              const std::string& repository,
                                              const cache::Digest& digest);

 private:
  void run(std::shared_ptr<BlobDownload> download, const UpstreamChain& chain,
           std::string repository);

  // true: settled from the bucket (complete or failed); false: not in the bucket.
  bool fill_from_bucket(BlobDownload& download);

  cache::BlobStore& blobs_;
  s3::S3Tier* tier_ = nullptr;
  metrics::Metrics& metrics_;
  Spawn spawn_;
  std::function<void(std::uint64_t)> committed_;
  std::mutex mutex_;
  std::map<cache::Digest, std::shared_ptr<BlobDownload>> running_;
};

}  // namespace regmirror::proxy::registry
