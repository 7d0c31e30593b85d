#pragma once
// S3 retention is explicit and separate from local eviction: `regmirror cache gc --s3
// --older-than 30d` deletes bucket blobs last written before the cut-off, keeping every digest
// in `keep` (pinned content). Blocking: call from worker threads.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "cache/digest.hpp"

namespace regmirror::proxy::s3 {

class S3Client;

struct RetentionReport {
  std::uint64_t scanned = 0;
  std::uint64_t kept_pinned = 0;
  std::uint64_t kept_recent = 0;
  std::vector<std::pair<std::string, std::uint64_t>> removed;  // digest, size
  std::string error;                                           // non-empty: the run stopped early
};

// `prefix`: the tier's key prefix ("" or ending in '/'); objects live at <prefix>blobs/<alg>/<hex>.
RetentionReport collect_bucket_garbage(S3Client& client, const std::string& prefix,
                                       const std::set<cache::Digest>& keep,
                                       std::int64_t cutoff_unix);

}  // namespace regmirror::proxy::s3
