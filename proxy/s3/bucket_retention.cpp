#include "proxy/s3/bucket_retention.hpp"

#include "proxy/logging/logger.hpp"
#include "proxy/s3/s3_client.hpp"

namespace regmirror::proxy::s3 {

RetentionReport collect_bucket_garbage(S3Client& client, const std::string& prefix,
                                       const std::set<cache::Digest>& keep,
                                       std::int64_t cutoff_unix) {
  RetentionReport report;
  const std::string blobs_prefix = prefix + "blobs/";
  std::string token;
  do {
    auto page = client.list(blobs_prefix, "", token);
    if (!page) {
      report.error = "listing " + blobs_prefix + " failed: " + page.error().message;
      return report;
    }
    for (const auto& object : page->objects) {
      // <prefix>blobs/<alg>/<hex>; anything else under blobs/ is not ours to delete.
      auto rest = object.key.substr(blobs_prefix.size());
      auto slash = rest.find('/');
      if (slash == std::string::npos) continue;
      auto digest = cache::Digest::parse(rest.substr(0, slash) + ":" + rest.substr(slash + 1));
      if (!digest) continue;
      ++report.scanned;
      if (keep.contains(*digest)) {
        ++report.kept_pinned;
        continue;
      }
      if (object.info.last_modified_unix >= cutoff_unix) {
        ++report.kept_recent;
        continue;
      }
      if (auto removed = client.delete_object(object.key); !removed) {
        report.error = "deleting " + object.key + " failed: " + removed.error().message;
        return report;
      }
      logging::info("bucket_blob_removed",
                    {{"digest", digest->str()}, {"bytes", std::to_string(object.info.size)}});
      report.removed.emplace_back(digest->str(), object.info.size);
    }
    token = page->next_token;
  } while (!token.empty());
  return report;
}

}  // namespace regmirror::proxy::s3
