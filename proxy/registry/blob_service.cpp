#include "proxy/registry/blob_service.hpp"

#include <boost/asio/this_coro.hpp>
#include <chrono>

#include "cache/access_tracker.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/blob_fetcher.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/server/decimal_field.hpp"
#include "proxy/server/offload.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;

Answer<BlobSource> from_reader(std::unique_ptr<cache::BlobReader> reader) {
  BlobSource source;
  source.kind = BlobSource::Kind::kReader;
  source.size = reader->size();
  source.reader = std::move(reader);
  source.outcome = CacheOutcome::kHit;
  return source;
}

Answer<BlobSource> head_only(std::uint64_t size, CacheOutcome outcome, std::string upstream = {}) {
  BlobSource source;
  source.kind = BlobSource::Kind::kHeadOnly;
  source.size = size;
  source.outcome = outcome;
  source.upstream = std::move(upstream);
  return source;
}

Answer<BlobSource> failed(OciError code, std::string message) {
  return Answer<BlobSource>(boost::system::in_place_error, registry_error(code, std::move(message)));
}

}  // namespace

asio::awaitable<Answer<BlobSource>> BlobService::locate(const UpstreamChain& chain,
                                                        std::string repository,
                                                        cache::Digest digest, bool head_only_request) {
  parts_.access->touch(digest, unix_now());
  auto* tier = parts_.s3;
  if (tier != nullptr && tier->redirect_blobs && !head_only_request) {
    auto in_bucket = [tier, digest] { return static_cast<bool>(tier->bucket_blobs->stat(digest)); };
    if (co_await server::offload(*parts_.disk_pool, std::move(in_bucket))) {
      parts_.metrics->cache_outcome("blob", "hit");
      BlobSource source;
      source.kind = BlobSource::Kind::kRedirect;
      source.location = tier->presign_blob_get(digest);
      co_return source;
    }
  }
  if (auto reader = parts_.blobs->open(digest)) {
    parts_.metrics->cache_outcome("blob", "hit");
    co_return from_reader(std::move(*reader));
  }
  if (parts_.offline) {
    co_return failed(OciError::kBlobUnknown, "blob " + digest.str() + " not cached (offline mode)");
  }
  if (head_only_request) {
    if (tier != nullptr) {
      // A blob in the bucket but not local (an empty replica, upstreams down).
      auto stat = [tier, digest] { return tier->blobs->bucket().stat(digest); };
      if (auto info = co_await server::offload(*parts_.disk_pool, std::move(stat))) {
        co_return head_only(info->size, CacheOutcome::kHit);
      }
    }
    auto got = co_await chain.fetch(repository, "HEAD", "/blobs/" + digest.str(), {}, 0, "blob",
                                    OciError::kBlobUnknown, "blob " + digest.str());
    if (!got) co_return Answer<BlobSource>(boost::system::in_place_error, got.error());
    auto length = server::parse_decimal_field(got->response.header("content-length"));
    if (!length) {
      co_return failed(OciError::kUpstreamInvalid,
                       "upstream gave no size for blob " + digest.str());
    }
    co_return head_only(*length, CacheOutcome::kMiss, got->upstream);
  }
  auto executor = co_await asio::this_coro::executor;
  auto download = parts_.fetcher->start_or_join(executor, chain, repository, digest);
  if (!download) {  // committed meanwhile
    if (auto reader = parts_.blobs->open(digest)) {
      parts_.metrics->cache_outcome("blob", "hit");
      co_return from_reader(std::move(*reader));
    }
    co_return failed(OciError::kInternal, "blob " + digest.str() + " vanished from the cache");
  }
  parts_.metrics->cache_outcome("blob", "miss");
  BlobSource source;
  source.kind = BlobSource::Kind::kDownload;
  source.download = std::move(download);
  source.outcome = CacheOutcome::kMiss;
  co_return source;
}

}  // namespace regmirror::proxy::registry
