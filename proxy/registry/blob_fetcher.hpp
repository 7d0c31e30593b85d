#pragma once
// At most one upstream download per blob at a time: concurrent requests for the same uncached
// blob join the running download. The download goes on when every client has left, so the
// layer is cached for the next one.
//
// A download is a coroutine: the transfer itself runs on the transfer thread (CurlMulti), the
// bytes go to the store through a WriteBehind on the disk pool. A connection that breaks in the
// middle of the body is continued from the byte reached with a closed Range request
// (bytes=N-(size-1)): from the same upstream (bounded retries with backoff), then from the next
// one in the chain, keeping the running sha256. An upstream that answers such a request with a
// whole body (200) has its first N bytes skipped: they were taken already, and the final digest
// check still covers every byte. Clients streaming the download see no gap.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
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
class WriteBehind;

struct BlobFetcherOptions {
  unsigned resume_attempts = 5;  // Range requests to the same upstream per break
  std::chrono::milliseconds first_backoff{200};  // doubles per retry
};

class BlobFetcher {
 public:
  // `committed` (optional) hears the size of every blob this fetcher caches.
  BlobFetcher(cache::BlobStore& blobs, metrics::Metrics& metrics,
              boost::asio::thread_pool& disk_pool, BlobFetcherOptions options = {},
              std::function<void(const cache::Digest&, std::uint64_t)> committed = {});

  // The shared bucket (null: local only). With it, a miss is filled from the bucket first, a
  // lease in the bucket lets one replica fetch from the upstream while the others wait for
  // the object, and upstream writes tee into the bucket. Call before serving.
  void set_tier(s3::S3Tier* tier) { tier_ = tier; }

  // The running download for `digest`, a new one (its coroutine spawned on `executor`), or
  // nullptr when the blob is already in the store (committed since the caller looked): open
  // it from the store then. `chain` must outlive the download (chains live with the server).
  std::shared_ptr<BlobDownload> start_or_join(const boost::asio::any_io_executor& executor,
                                              const UpstreamChain& chain,
                                              const std::string& repository,
                                              const cache::Digest& digest);

 private:
  boost::asio::awaitable<void> run(std::shared_ptr<BlobDownload> download,
                                   const UpstreamChain& chain, std::string repository);
  struct BucketStep {
    bool settled = false;      // the bucket had it (complete or failed)
    bool holds_lease = false;  // this replica fetches from the upstream for the others
  };
  // Blocking (disk pool): the bucket's copy, else a lease, else wait for another replica.
  BucketStep bucket_first(BlobDownload& download);
  bool fill_from_bucket(BlobDownload& download);
  // Settles `download` from the upstreams; returns the upstream that served it ("" if none).
  boost::asio::awaitable<std::string> fetch_upstream(std::shared_ptr<BlobDownload> download,
                                                     const UpstreamChain& chain,
                                                     std::string repository);

  cache::BlobStore& blobs_;
  s3::S3Tier* tier_ = nullptr;
  metrics::Metrics& metrics_;
  boost::asio::thread_pool& disk_pool_;
  BlobFetcherOptions options_;
  std::function<void(const cache::Digest&, std::uint64_t)> committed_;
  std::mutex mutex_;
  std::map<cache::Digest, std::shared_ptr<BlobDownload>> running_;
};

}  // namespace regmirror::proxy::registry
