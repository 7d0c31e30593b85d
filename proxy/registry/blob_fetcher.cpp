#include "proxy/registry/blob_fetcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/registry/write_behind.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/server/decimal_field.hpp"
#include "proxy/server/offload.hpp"
#include "proxy/upstream/upstream_error.hpp"

namespace regmirror::proxy::registry {
namespace {

namespace asio = boost::asio;

// "bytes 100-199/1234" -> {100, 1234}
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_content_range(std::string_view value) {
  if (!value.starts_with("bytes ")) return std::nullopt;
  value.remove_prefix(6);
  auto dash = value.find('-');
  auto slash = value.find('/');
  if (dash == value.npos || slash == value.npos || slash < dash) return std::nullopt;
  auto first = server::parse_decimal_field(value.substr(0, dash));
  auto total = server::parse_decimal_field(value.substr(slash + 1));
  if (!first || !total) return std::nullopt;
  return std::pair{*first, *total};
}

}  // namespace

BlobFetcher::BlobFetcher(cache::BlobStore& blobs, metrics::Metrics& metrics,
                         asio::thread_pool& disk_pool, BlobFetcherOptions options,
                         std::function<void(const cache::Digest&, std::uint64_t)> committed)
    : blobs_(blobs),
      metrics_(metrics),
      disk_pool_(disk_pool),
      options_(options),
      committed_(std::move(committed)) {}

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

BlobFetcher::BucketStep BlobFetcher::bucket_first(BlobDownload& download) {
  // Bucket first; else one replica fetches under a lease while the others wait for the
  // object (bounded), then fall back to fetching themselves.
  const auto& digest = download.digest();
  if (fill_from_bucket(download)) return {true, false};
  if (tier_->lease->try_acquire(digest)) return {false, true};
  const auto deadline = std::chrono::steady_clock::now() + tier_->lease_wait;
  if (tier_->lease->wait_for_object(digest, deadline) && fill_from_bucket(download)) {
    return {true, false};
  }
  return {false, false};
}

std::shared_ptr<BlobDownload> BlobFetcher::start_or_join(const asio::any_io_executor& executor,
                                                         const UpstreamChain& chain,
                                                         const std::string& repository,
                                                         const cache::Digest& digest) {
  std::shared_ptr<BlobDownload> download;
  {
    std::lock_guard lock(mutex_);
    if (auto it = running_.find(digest); it != running_.end()) {
      if (it->second->status().state != BlobDownload::State::kFailed) {
        metrics_.coalesced_waiter();
        return it->second;
      }
      // Failed but not yet removed by its run(): a client retrying at once gets a new attempt,
      // not the old error.
      running_.erase(it);
    }
    // The download that just finished removed itself after committing: look again.
    if (blobs_.stat(digest)) return nullptr;
    download = std::make_shared<BlobDownload>(digest);
    running_.emplace(digest, download);
  }
  auto job = [this, download, &chain, repository]() -> asio::awaitable<void> {
    co_await run(download, chain, repository);
  };
  asio::co_spawn(executor, std::move(job), asio::detached);
  return download;
}

asio::awaitable<void> BlobFetcher::run(std::shared_ptr<BlobDownload> download,
                                       const UpstreamChain& chain, std::string repository) {
  metrics_.inflight_downloads(1);
  const auto& digest = download->digest();
  const auto started = std::chrono::steady_clock::now();
  std::string source;
  BucketStep bucket;
  if (tier_ != nullptr) {
    auto step = [this, download] { return bucket_first(*download); };
    bucket = co_await server::offload(disk_pool_, std::move(step));
    if (bucket.settled) source = "bucket";
  }
  if (!bucket.settled) source = co_await fetch_upstream(download, chain, repository);
  if (bucket.holds_lease) {
    auto release = [this, digest] {
      tier_->lease->release(digest);  // after commit: the object is visible
      return true;
    };
    co_await server::offload(disk_pool_, std::move(release));
  }
  auto status = download->status();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (status.state == BlobDownload::State::kComplete) {
    if (committed_) committed_(digest, status.written);
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
    // Only this download's entry: a retry may already have replaced a failed one.
    if (auto it = running_.find(digest); it != running_.end() && it->second == download) {
      running_.erase(it);
    }
  }
  metrics_.inflight_downloads(-1);
}

asio::awaitable<std::string> BlobFetcher::fetch_upstream(std::shared_ptr<BlobDownload> download,
                                                         const UpstreamChain& chain,
                                                         std::string repository) {
  const auto digest = download->digest();
  const std::string suffix = "/blobs/" + digest.str();
  cache::BlobStore& sink_store =
      tier_ != nullptr ? static_cast<cache::BlobStore&>(*tier_->blobs) : blobs_;
  auto body = std::make_shared<WriteBehind>(download, disk_pool_);
  std::string retry_after;
  bool writer_failed = false;

  // One hop: a GET (or, once bytes were taken, a Range GET from the byte reached) streamed into
  // the write-behind. Returns the transport result and whether the body was taken whole.
  auto hop = [&](const UpstreamTarget& t) -> asio::awaitable<AttemptVerdict> {
    const std::uint64_t offset = body->accepted();
    const auto total = body->total();
    std::vector<std::string> headers;
    if (offset > 0 && total) {
      headers.push_back("Range: bytes=" + std::to_string(offset) + "-" + std::to_string(*total - 1));
    }
    long status = 0;
    bool refused = false;
    upstream::StreamSink sink;
    sink.on_headers = [&](const upstream::Response& response) {
      if (t.answered) t.answered();
      status = response.status;
      if (status == 429) retry_after = response.header("retry-after");
      if (status == 206 && offset > 0) {
        auto range = parse_content_range(response.header("content-range"));
        if (!range || range->first != offset || range->second != *total) {
          refused = true;  // not the bytes asked for
          return false;
        }
        return true;
      }
      if (status != 200) return false;
      auto length = server::parse_decimal_field(response.header("content-length"));
      if (offset > 0) {
        // A whole body again: it must be the same blob; its first `offset` bytes are skipped.
        if (!length || !total || *length != *total) {
          refused = true;
          return false;
        }
        body->skip_next(offset);
        return true;
      }
      auto* store = &sink_store;
      body->begin(length, [store, digest, length] { return store->begin_write(digest, length); });
      return true;
    };
    sink.on_data = [body](std::span<const std::byte> data) { return body->accept(data); };
    body->bind(&sink);
    const auto hop_started = std::chrono::steady_clock::now();
    auto result = co_await chain.client().stream(*t.endpoint, "/v2/" + t.repository + suffix,
                                                 headers, t.scope, sink);
    body->bind(nullptr);
    chain.observe(t, "GET", "blob", result,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - hop_started).count());
    if (!body->begun()) co_return AttemptVerdict::from(result);
    if (result && !refused && (status == 200 || status == 206)) {
      // The transfer ended cleanly; was the body whole?
      const auto got = body->accepted();
      if (!body->total() || got == *body->total()) co_return AttemptVerdict::answered();
      co_return AttemptVerdict{AttemptVerdict::Kind::kFailed, true, false,
                               "ended after " + std::to_string(got) + " bytes", {}};
    }
    if (!result && result.error() == upstream::UpstreamErrc::kAborted) {
      writer_failed = true;  // the store refused the bytes: no upstream can help
      co_return AttemptVerdict::answered();
    }
    if (refused) {
      co_return AttemptVerdict{AttemptVerdict::Kind::kFailed, false, false,
                               "answered the Range request with other bytes", {}};
    }
    auto verdict = AttemptVerdict::from(result);
    if (verdict.kind == AttemptVerdict::Kind::kAnswered) {
      verdict = {AttemptVerdict::Kind::kFailed, false, false, "answered " + std::to_string(status), {}};
    }
    co_return verdict;
  };

  // On each upstream: the first hop, then Range requests while the connection keeps breaking
  // (bounded, with backoff); a failure without progress moves the walk to the next upstream,
  // which continues from the byte reached.
  auto attempt = [&](const UpstreamTarget& t) -> asio::awaitable<AttemptVerdict> {
    auto backoff = options_.first_backoff;
    for (unsigned tries = 0;; ++tries) {
      const std::uint64_t before = body->accepted();
      auto verdict = co_await hop(t);
      if (verdict.kind == AttemptVerdict::Kind::kAnswered || !body->begun() || !body->total()) {
        co_return verdict;
      }
      if (!verdict.upstream_fault || tries >= options_.resume_attempts) co_return verdict;
      const std::uint64_t reached = body->accepted();
      metrics_.upstream_resume(chain.registry().name);
      logging::warn("blob_transfer_resumed", {{"registry", chain.registry().name},
                                              {"repo", repository},
                                              {"digest", digest.str()},
                                              {"upstream", t.endpoint->base_url},
                                              {"offset", std::to_string(reached)},
                                              {"total", std::to_string(*body->total())},
                                              {"reason", verdict.detail}});
      if (reached == before) {
        // No progress on this hop: wait before asking again.
        asio::steady_timer pause(co_await asio::this_coro::executor, backoff);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        backoff *= 2;
      }
    }
  };

  UpstreamChain::Attempt attempt_fn = attempt;  // named: GCC 12 and lambda temporaries
  auto walked = co_await chain.walk(repository, false, std::move(attempt_fn));
  std::string source;
  if (walked && !writer_failed) {
    source = chain.upstream_url(*walked);
    if (co_await body->drained()) {
      auto finish = [download] {
        download->finish();
        return true;
      };
      co_await server::offload(disk_pool_, std::move(finish));
    }
  } else if (writer_failed) {
    co_await body->drained();  // the reason is already on the download
  } else if (body->begun()) {
    co_await body->drained();
    download->fail(OciError::kUnavailable,
                   "upstream transfer of " + digest.str() + " broke at byte " +
                       std::to_string(body->accepted()) + " and no upstream could continue it (" +
                       walked.error().last + ")");
  } else {
    auto error = walked.error().to_error(OciError::kBlobUnknown, "blob " + digest.str());
    download->fail(error.code, error.message, error.retry_after);
  }
  // A download that never began may still need its final state for waiters.
  if (download->status().state == BlobDownload::State::kStreaming) {
    download->fail(OciError::kInternal, "download of " + digest.str() + " ended unfinished");
  }
  co_return source;
}

}  // namespace regmirror::proxy::registry
