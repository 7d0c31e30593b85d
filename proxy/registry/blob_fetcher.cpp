#include "proxy/registry/blob_fetcher.hpp"

#include <chrono>

#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/s3/s3_tier.hpp"

namespace regmirror::proxy::registry {
namespace {

std::optional<std::uint64_t> parse_length(const std::string& value) {
  if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != value.npos) {
    return std::nullopt;
  }
  return std::stoull(value);
}

}  // namespace

BlobFetcher::BlobFetcher(cache::BlobStore& blobs, metrics::Metrics& metrics, Spawn spawn,
                         std::function<void(std::uint64_t)> committed)
    : blobs_(blobs), metrics_(metrics), spawn_(std::move(spawn)), committed_(std::move(committed)) {}

// Streams the bucket's copy into a local-only writer (no re-upload), shared with every client
// of the download like an upstream transfer.
bool BlobFetcher::fill_from_bucket(BlobDownload& download) {
  const auto& digest = download.digest();
  s3::GetSink sink;
  sink.on_headers = [&](const s3::ObjectInfo& info) {
    auto writer = blobs_.begin_write(digest, info.size);
    if (!writer) {
      download.fail(OciError::kInternal, "cannot create cache file for " + digest.str() + ": " +
                                             writer.error().message());
      return false;
    }
    download.begin_streaming(std::move(*writer), info.size);
    return true;
  };
  sink.on_data = [&](std::span<const std::byte> data) { return download.append(data); };
  auto result = tier_->bucket_blobs->stream(digest, sink);
  if (!download.started()) return false;  // not in the bucket, or it failed before a byte
  if (!result) {
    download.fail(OciError::kUnavailable,
                  "bucket transfer of " + digest.str() + " failed: " + result.error().message);
  } else {
    download.finish();
  }
  return true;
}

std::shared_ptr<BlobDownload> BlobFetcher::start_or_join(const UpstreamChain& chain,
                                                         const std::string& repository,
                                                         const cache::Digest& digest) {
  std::shared_ptr<BlobDownload> download;
  {
    std::lock_guard lock(mutex_);
    if (auto it = running_.find(digest); it != running_.end()) {
      metrics_.coalesced_waiter();
      return it->second;
    }
    // The download that just finished removed itself after committing: look again.
    if (blobs_.stat(digest)) return nullptr;
    download = std::make_shared<BlobDownload>(digest);
    running_.emplace(digest, download);
  }
  spawn_([this, download, &chain, repository] { run(download, chain, repository); });
  return download;
}

void BlobFetcher::run(std::shared_ptr<BlobDownload> download, const UpstreamChain& chain,
                      std::string repository) {
  metrics_.inflight_downloads(1);
  const auto& digest = download->digest();
  const auto started = std::chrono::steady_clock::now();
  std::size_t tried = 0;
  std::size_t not_found = 0;
  bool rate_limited = false;
  std::string retry_after;
  std::string failure;
  std::string source;

  // Bucket first; else one replica fetches under a lease while the others wait for the
  // object (bounded), then fall back to fetching themselves.
  bool holds_lease = false;
  if (tier_ != nullptr) {
    if (fill_from_bucket(*download)) {
      source = "bucket";
    } else if (tier_->lease->try_acquire(digest)) {
      holds_lease = true;
    } else if (tier_->lease->wait_for_object(digest,
                                             std::chrono::steady_clock::now() + tier_->lease_wait) &&
               fill_from_bucket(*download)) {
      source = "bucket";
    }
  }
  cache::BlobStore& sink_store =
      tier_ != nullptr ? static_cast<cache::BlobStore&>(*tier_->blobs) : blobs_;

  for (std::size_t i = 0; i < chain.size() && !download->started(); ++i) {
    auto target = chain.target(i, repository);
    if (!target) continue;
    ++tried;
    long status = 0;
    upstream::Response head;  // status and headers of the answer, for metrics
    upstream::StreamSink sink;
    sink.on_headers = [&](const upstream::Response& response) {
      head = response;
      status = response.status;
      if (status != 200) {
        if (status == 429) retry_after = response.header("retry-after");
        return false;
      }
      auto total = parse_length(response.header("content-length"));
      auto writer = sink_store.begin_write(digest, total);  // tees into the bucket
      if (!writer) {
        download->fail(OciError::kInternal,
                       "cannot create cache file for " + digest.str() + ": " +
                           writer.error().message());
        return false;
      }
      download->begin_streaming(std::move(*writer), total);
      return true;
    };
    sink.on_data = [&](std::span<const std::byte> data) { return download->append(data); };
    auto hop_started = std::chrono::steady_clock::now();
    auto result = chain.stream(*target, "/blobs/" + digest.str(), sink);
    chain.observe(*target, "GET", "blob",
                  result ? upstream::Result<upstream::Response>(head)
                         : upstream::Result<upstream::Response>(result.error()),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - hop_started)
                      .count());
    if (download->started()) {
      source = target->endpoint->base_url;
      if (!result) {
        download->fail(OciError::kUnavailable, "upstream transfer of " + digest.str() +
                                                   " failed: " + result.error().message());
      } else {
        download->finish();
      }
      break;
    }
    if (status == 404) ++not_found;
    if (status == 429) rate_limited = true;
    failure = target->endpoint->base_url +
              (result ? " answered " + std::to_string(status) : ": " + result.error().message());
  }

  if (!download->started()) {
    if (tried > 0 && not_found == tried) {
      download->fail(OciError::kBlobUnknown, "blob " + digest.str() + " not found upstream");
    } else if (rate_limited) {
      download->fail(OciError::kTooManyRequests, "upstream rate limit reached", retry_after);
    } else {
      download->fail(OciError::kUnavailable,
                     "no upstream could serve blob " + digest.str() + " (" + failure + ")");
    }
  }

  if (holds_lease) tier_->lease->release(digest);  // after commit: the object is visible
  auto status = download->status();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (status.state == BlobDownload::State::kComplete) {
    if (committed_) committed_(status.written);
    logging::info("blob_cached", {{"registry", chain.registry().name},
                                  {"repo", repository},
                                  {"digest", digest.str()},
                                  {"upstream", source},
                                  {"bytes", std::to_string(status.written)},
                                  {"seconds", std::to_string(seconds)}});
  } else {
    logging::warn("blob_download_failed", {{"registry", chain.registry().name},
                                           {"repo", repository},
                                           {"digest", digest.str()},
                                           {"error", status.message}});
  }
  {
    std::lock_guard lock(mutex_);
    running_.erase(digest);
  }
  metrics_.inflight_downloads(-1);
}

}  // namespace regmirror::proxy::registry
