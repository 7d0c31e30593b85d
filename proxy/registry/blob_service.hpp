#pragma once
// Where the answer to a blob request comes from, decided in one place: a presigned bucket URL
// (307, when redirect_blobs is set and the bucket has it), the local file (HIT), the bucket's
// or an upstream's size (HEAD of a blob not held locally), or a download, new or shared (MISS).
// The handler only writes what it is given.
//
// Coroutine on the request's executor: opening a cached file stays on the network thread (one
// syscall on a hot dentry, cheaper than a thread hop); bucket look-ups go to the disk pool;
// upstream requests to the transfer thread.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cache/blob_store.hpp"
#include "proxy/registry/cache_outcome.hpp"
#include "proxy/registry/registry_error.hpp"

namespace regmirror::cache {
class AccessTracker;
}
namespace regmirror::proxy::metrics {
class Metrics;
}
namespace regmirror::proxy::s3 {
struct S3Tier;
}

namespace regmirror::proxy::registry {

class BlobDownload;
class BlobFetcher;
class UpstreamChain;

struct BlobSource {
  enum class Kind {
    kReader,    // `reader`: a committed blob
    kDownload,  // `download`: in progress; its size is known once it streams
    kRedirect,  // `location`: a presigned URL of the bucket's copy
    kHeadOnly,  // `size`: a HEAD answered without the bytes at hand
  };
  Kind kind = Kind::kReader;
  std::unique_ptr<cache::BlobReader> reader;
  std::shared_ptr<BlobDownload> download;
  std::string location;
  std::uint64_t size = 0;
  CacheOutcome outcome = CacheOutcome::kHit;
  std::string upstream;  // the upstream that answered a HEAD, for the log
};

struct BlobServiceParts {
  cache::BlobStore* blobs = nullptr;  // the local store (read on the network thread)
  BlobFetcher* fetcher = nullptr;
  metrics::Metrics* metrics = nullptr;
  cache::AccessTracker* access = nullptr;  // last-use times for eviction
  boost::asio::thread_pool* disk_pool = nullptr;
  s3::S3Tier* s3 = nullptr;  // the shared bucket tier (null: local only)
  bool offline = false;
};

class BlobService {
 public:
  explicit BlobService(BlobServiceParts parts) : parts_(parts) {}

  // `head_only`: a HEAD request (no download is started for it).
  boost::asio::awaitable<Answer<BlobSource>> locate(const UpstreamChain& chain,
                                                    std::string repository, cache::Digest digest,
                                                    bool head_only);

 private:
  BlobServiceParts parts_;
};

}  // namespace regmirror::proxy::registry
