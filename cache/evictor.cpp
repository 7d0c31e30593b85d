#include "cache/evictor.hpp"

#include <algorithm>
#include <optional>

#include "cache/access_tracker.hpp"
#include "cache/cache_error.hpp"
#include "cache/metadata_store.hpp"
#include "cache/pin_closure.hpp"

namespace regmirror::cache {
namespace {

// A record for a digest that is not in the store is kept this long: the blob may be a download
// in flight (touched before it is committed).
constexpr std::int64_t kOrphanRecordSeconds = 3600;
// Records read per index call: a pass holds one page at a time.
constexpr std::size_t kPage = 512;

}  // namespace

Evictor::Evictor(BlobStore& blobs, MetadataStore& metadata, AccessTracker& access,
                 EvictorOptions options, Clock clock)
    : blobs_(blobs),
      metadata_(metadata),
      access_(access),
      options_(options),
      clock_(std::move(clock)) {}

void Evictor::flush_access() {
  auto batch = access_.drain();
  if (batch.empty()) return;
  if (!metadata_.record_access(batch)) {
    // Put them back so the next run retries instead of losing the times.
    for (const auto& [digest, when] : batch) access_.touch(digest, when);
  }
}

bool Evictor::note_committed(const Digest& digest, std::uint64_t bytes) {
  auto before = metadata_.blob_usage();
  auto recorded = metadata_.record_committed(digest, bytes, clock_());
  auto after = metadata_.blob_usage();
  if (!before || !recorded || !after) {
    // The index is failing: the estimate still moves so the next pass is asked for.
    auto old = estimate_.fetch_add(bytes);
    return options_.max_bytes > 0 && old <= options_.max_bytes && old + bytes > options_.max_bytes;
  }
  estimate_.store(after->bytes);
  return options_.max_bytes > 0 && before->bytes <= options_.max_bytes &&
         after->bytes > options_.max_bytes;
}

EvictionReport Evictor::run_once(bool operator_request) {
  std::lock_guard lock(run_mutex_);
  EvictionReport report;
  flush_access();
  const auto now = clock_();

  auto usage = metadata_.blob_usage();
  if (!usage) {
    report.error = "reading blob usage: " + usage.error().message();
    return report;
  }
  report.bytes_before = report.bytes_after = usage->bytes;
  report.blob_count = usage->count;
  estimate_.store(usage->bytes);
  if (options_.max_bytes == 0 || usage->bytes <= options_.max_bytes) return report;

  auto pinned = pinned_digests(blobs_, metadata_);
  if (!pinned) {
    // Without the pins nothing can be evicted safely.
    report.error = "reading pins: " + pinned.error().message();
    return report;
  }
  const double watermark = std::clamp(options_.low_watermark, 0.0, 1.0);
  const auto target =
      static_cast<std::uint64_t>(static_cast<double>(options_.max_bytes) * watermark);
  const auto idle = operator_request ? 0 : options_.min_idle_seconds;

  std::optional<BlobAge> cursor;
  bool done = false;
  while (!done && report.bytes_after > target) {
    auto page = metadata_.oldest_blob_records(cursor, kPage);
    if (!page) {
      report.error = "reading blob records: " + page.error().message();
      break;
    }
    if (page->empty()) break;
    for (const auto& [digest, record] : *page) {
      cursor = BlobAge{record.last_access, digest.str()};
      ++report.records_read;
      if (report.bytes_after <= target) {
        done = true;
        break;
      }
      // Everything after this one was used even more recently.
      if (idle > 0 && record.last_access > now - idle) {
        done = true;
        break;
      }
      if (pinned->contains(digest)) continue;
      auto size = record.size;
      if (size == 0) {
        // Known only from an access (a download in flight, or before reconcile): ask the store.
        auto info = blobs_.stat(digest);
        if (!info) {
          if (record.last_access < now - kOrphanRecordSeconds) {
            (void)metadata_.delete_blob_record(digest);
          }
          continue;
        }
        size = info->size;
      }
      auto removed = blobs_.remove(digest);
      if (!removed && removed.error() != make_error_code(CacheErrc::kNotFound)) {
        report.error = "removing " + digest.str() + ": " + removed.error().message();
        continue;
      }
      if (auto dropped = metadata_.delete_blob_record(digest); !dropped) {
        report.error = "dropping the record of " + digest.str() + ": " + dropped.error().message();
      }
      if (removed) report.removed.emplace_back(digest, size);
      report.bytes_after -= std::min(report.bytes_after, record.size);
      if (report.blob_count > 0) --report.blob_count;
    }
  }
  if (auto after = metadata_.blob_usage()) {
    report.bytes_after = after->bytes;
    report.blob_count = after->count;
  }
  estimate_.store(report.bytes_after);
  return report;
}

ReconcileReport Evictor::reconcile() {
  std::lock_guard lock(run_mutex_);
  ReconcileReport report;
  flush_access();
  const auto now = clock_();
  auto walked = blobs_.for_each([&](const Digest& digest, const BlobInfo& info) {
    ++report.files;
    auto record = metadata_.get_blob_record(digest);
    if (record && *record && (*record)->size == info.size) return;
    if (record && *record) {
      ++report.resized;
      (void)metadata_.put_blob_record(digest, {info.size, (*record)->last_access});
    } else {
      // Unknown (or undecodable): imported, or cached before access tracking. It starts
      // ageing now rather than being the first victim.
      ++report.added;
      (void)metadata_.put_blob_record(digest, {info.size, now});
    }
  });
  if (!walked) {
    report.error = "listing blobs: " + walked.error().message();
    return report;
  }
  std::string after;
  for (;;) {
    auto page = metadata_.list_blob_records(after, kPage);
    if (!page) {
      report.error = "reading blob records: " + page.error().message();
      break;
    }
    if (page->empty()) break;
    for (const auto& [digest, record] : *page) {
      after = digest.str();
      if (record.last_access >= now - kOrphanRecordSeconds) continue;
      if (blobs_.stat(digest)) continue;
      if (metadata_.delete_blob_record(digest)) ++report.orphans_removed;
    }
  }
  if (auto usage = metadata_.blob_usage()) estimate_.store(usage->bytes);
  return report;
}

}  // namespace regmirror::cache
