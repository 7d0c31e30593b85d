#include "cache/evictor.hpp"

#include <map>

#include "cache/access_tracker.hpp"
#include "cache/eviction_policy.hpp"
#include "cache/metadata_store.hpp"
#include "cache/pin_closure.hpp"

namespace regmirror::cache {
namespace {

// A record for a digest that is not in the store is kept this long: the blob may be a download
// in flight (touched before it is committed).
constexpr std::int64_t kOrphanRecordSeconds = 3600;

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

bool Evictor::note_committed(std::uint64_t bytes) {
  auto before = estimate_.fetch_add(bytes);
  return options_.max_bytes > 0 && before <= options_.max_bytes &&
         before + bytes > options_.max_bytes;
}

EvictionReport Evictor::run_once(bool operator_request) {
  std::lock_guard lock(run_mutex_);
  EvictionReport report;
  flush_access();
  const auto now = clock_();

  std::map<Digest, std::uint64_t> sizes;
  auto listed = blobs_.for_each(
      [&](const Digest& digest, const BlobInfo& info) { sizes.emplace(digest, info.size); });
  if (!listed) {
    report.error = "listing blobs: " + listed.error().message();
    return report;
  }
  auto records = metadata_.list_blob_records();
  if (!records) {
    report.error = "reading blob records: " + records.error().message();
    return report;
  }
  std::map<Digest, std::int64_t> last_use;
  for (const auto& [digest, record] : *records) {
    if (sizes.contains(digest)) {
      last_use[digest] = record.last_access;
    } else if (record.last_access < now - kOrphanRecordSeconds) {
      (void)metadata_.delete_blob_record(digest);
    }
  }
  // A blob nobody has touched yet (imported, or cached before access tracking) starts ageing
  // now rather than being the first victim.
  std::vector<std::pair<Digest, std::int64_t>> first_seen;
  for (const auto& [digest, size] : sizes) {
    if (!last_use.contains(digest)) {
      first_seen.emplace_back(digest, now);
      last_use[digest] = now;
    }
  }
  if (!first_seen.empty()) (void)metadata_.record_access(first_seen);

  auto pinned = pinned_digests(blobs_, metadata_);
  if (!pinned) {
    // Without the pins nothing can be evicted safely.
    report.error = "reading pins: " + pinned.error().message();
    for (const auto& [digest, size] : sizes) report.bytes_before += size;
    report.bytes_after = report.bytes_before;
    report.blob_count = sizes.size();
    estimate_.store(report.bytes_after);
    return report;
  }

  std::vector<EvictionCandidate> candidates;
  candidates.reserve(sizes.size());
  for (const auto& [digest, size] : sizes) {
    candidates.push_back({digest, size, last_use[digest], pinned->contains(digest)});
  }
  EvictionPolicy policy({options_.max_bytes, options_.low_watermark,
                         operator_request ? 0 : options_.min_idle_seconds});
  auto plan = policy.plan(std::move(candidates), now);
  report.bytes_before = plan.bytes_before;
  report.bytes_after = plan.bytes_before;
  report.blob_count = sizes.size();
  for (const auto& victim : plan.victims) {
    auto removed = blobs_.remove(victim);
    if (!removed) {
      report.error = "removing " + victim.str() + ": " + removed.error().message();
      continue;
    }
    (void)metadata_.delete_blob_record(victim);
    report.removed.emplace_back(victim, sizes[victim]);
    report.bytes_after -= sizes[victim];
    --report.blob_count;
  }
  estimate_.store(report.bytes_after);
  return report;
}

}  // namespace regmirror::cache
