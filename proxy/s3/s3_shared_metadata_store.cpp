#include "proxy/s3/s3_shared_metadata_store.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cache/cache_error.hpp"
#include "cache/metadata_codec.hpp"
#include "proxy/logging/logger.hpp"

namespace regmirror::proxy::s3 {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxRecordBytes = std::size_t{64} * 1024;

// Bucket objects hold the same JSON documents as the local index (cache/metadata_codec).
const HeaderList kJson = {{"content-type", "application/json"}};

}  // namespace

S3SharedMetadataStore::S3SharedMetadataStore(cache::MetadataStore& local, S3Client& client,
                                             std::string prefix,
                                             std::map<std::string, std::int64_t> tag_ttl_seconds,
                                             Clock clock)
    : local_(local), client_(client), prefix_(std::move(prefix)),
      tag_ttl_(std::move(tag_ttl_seconds)), clock_(std::move(clock)) {}

std::string S3SharedMetadataStore::tag_object_key(const cache::TagKey& key) const {
  return prefix_ + "tags/" + key.registry + "/" + key.repository + "/" + key.tag;
}

std::string S3SharedMetadataStore::manifest_object_key(const cache::Digest& digest) const {
  return prefix_ + "manifests/" + std::string(digest.algorithm_name()) + "/" +
         std::string(digest.hex());
}

std::optional<cache::TagRecord> S3SharedMetadataStore::bucket_tag(const cache::TagKey& key) {
  auto object = client_.get_object(tag_object_key(key), kMaxRecordBytes);
  if (!object) {
    logging::warn("s3_error", {{"error", object.error().message}});
    return std::nullopt;
  }
  if (!*object) return std::nullopt;
  auto record = cache::codec::decode_tag(**object);
  if (!record) {
    logging::warn("s3_corrupt_record", {{"key", tag_object_key(key)}});
  }
  return record;
}

void S3SharedMetadataStore::push_tag(const cache::TagKey& key, const cache::TagRecord& record) {
  auto put = client_.put_object(tag_object_key(key), cache::codec::encode(record), kJson);
  if (!put) logging::warn("s3_error", {{"error", put.error().message}});
}

void S3SharedMetadataStore::push_manifest(const cache::Digest& digest,
                                          const cache::ManifestRecord& record) {
  auto put = client_.put_object(manifest_object_key(digest), cache::codec::encode(record), kJson);
  if (!put) logging::warn("s3_error", {{"error", put.error().message}});
}

cache::Result<std::optional<cache::ManifestRecord>> S3SharedMetadataStore::get_manifest(
    const cache::Digest& digest) {
  auto local = local_.get_manifest(digest);
  if (!local || *local) return local;
  auto object = client_.get_object(manifest_object_key(digest), kMaxRecordBytes);
  if (!object) {
    logging::warn("s3_error", {{"error", object.error().message}});
    return local;
  }
  if (!*object) return local;
  auto record = cache::codec::decode_manifest(**object);
  if (!record) return cache::CacheErrc::kCorruptRecord;
  (void)local_.put_manifest(digest, *record);
  return std::optional<cache::ManifestRecord>(*record);
}

cache::Result<void> S3SharedMetadataStore::put_manifest(const cache::Digest& digest,
                                                        const cache::ManifestRecord& record) {
  auto local = local_.put_manifest(digest, record);
  if (!local) return local;
  push_manifest(digest, record);
  return {};
}

cache::Result<std::optional<cache::TagRecord>> S3SharedMetadataStore::get_tag(
    const cache::TagKey& key) {
  auto local = local_.get_tag(key);
  if (!local && local.error() != cache::CacheErrc::kCorruptRecord) return local;
  if (local && *local) {
    auto ttl = tag_ttl_.find(key.registry);
    if (ttl != tag_ttl_.end() && clock_() - (*local)->validated_at < ttl->second) return local;
  }
  auto shared = bucket_tag(key);
  if (!shared) return local;
  if (local && *local && (*local)->validated_at >= shared->validated_at) return local;
  // The bucket knows better (another replica validated it, or this replica never saw it).
  (void)local_.put_tag(key, *shared);
  return std::optional<cache::TagRecord>(*shared);
}

cache::Result<void> S3SharedMetadataStore::put_tag(const cache::TagKey& key,
                                                   const cache::TagRecord& record) {
  auto local = local_.put_tag(key, record);
  if (!local) return local;
  push_tag(key, record);
  return {};
}

cache::Result<void> S3SharedMetadataStore::delete_tag(const cache::TagKey& key) {
  auto local = local_.delete_tag(key);
  auto removed = client_.delete_object(tag_object_key(key));
  if (!removed) logging::warn("s3_error", {{"error", removed.error().message}});
  return local;
}

cache::Result<std::vector<std::string>> S3SharedMetadataStore::list_tags(
    const std::string& registry, const std::string& repository) {
  auto local = local_.list_tags(registry, repository);
  if (!local) return local;
  std::set<std::string> tags(local->begin(), local->end());
  const std::string base = prefix_ + "tags/" + registry + "/" + repository + "/";
  std::string token;
  do {
    auto page = client_.list(base, "/", token);
    if (!page) {
      logging::warn("s3_error", {{"error", page.error().message}});
      break;
    }
    for (const auto& object : page->objects) tags.insert(object.key.substr(base.size()));
    token = page->next_token;
  } while (!token.empty());
  return std::vector<std::string>(tags.begin(), tags.end());
}

cache::Result<std::vector<cache::TagEntry>> S3SharedMetadataStore::list_all_tags() {
  auto local = local_.list_all_tags();
  if (!local) return local;
  auto less = [](const cache::TagKey& a, const cache::TagKey& b) {
    return std::tie(a.registry, a.repository, a.tag) < std::tie(b.registry, b.repository, b.tag);
  };
  std::map<cache::TagKey, cache::TagRecord, decltype(less)> all(less);
  for (auto& entry : *local) all.emplace(entry.key, entry.record);
  const std::string base = prefix_ + "tags/";
  std::string token;
  do {
    auto page = client_.list(base, "", token);
    if (!page) {
      logging::warn("s3_error", {{"error", page.error().message}});
      break;
    }
    for (const auto& object : page->objects) {
      auto rest = object.key.substr(base.size());
      auto first = rest.find('/');
      auto last = rest.rfind('/');
      if (first == std::string::npos || last == first) continue;
      cache::TagKey key{rest.substr(0, first), rest.substr(first + 1, last - first - 1),
                        rest.substr(last + 1)};
      if (all.contains(key)) continue;
      if (auto record = bucket_tag(key)) all.emplace(key, *record);
    }
    token = page->next_token;
  } while (!token.empty());
  std::vector<cache::TagEntry> out;
  out.reserve(all.size());
  for (auto& [key, record] : all) out.push_back({key, record});
  return out;
}

cache::Result<std::optional<cache::PinRecord>> S3SharedMetadataStore::get_pin(const std::string& ref) {
  return local_.get_pin(ref);
}
cache::Result<void> S3SharedMetadataStore::put_pin(const std::string& ref,
                                                   const cache::PinRecord& record) {
  return local_.put_pin(ref, record);
}
cache::Result<void> S3SharedMetadataStore::delete_pin(const std::string& ref) {
  return local_.delete_pin(ref);
}
cache::Result<std::vector<std::pair<std::string, cache::PinRecord>>> S3SharedMetadataStore::list_pins() {
  return local_.list_pins();
}
cache::Result<std::optional<cache::BlobRecord>> S3SharedMetadataStore::get_blob_record(
    const cache::Digest& digest) {
  return local_.get_blob_record(digest);
}
cache::Result<void> S3SharedMetadataStore::put_blob_record(const cache::Digest& digest,
                                                           const cache::BlobRecord& record) {
  return local_.put_blob_record(digest, record);
}
cache::Result<void> S3SharedMetadataStore::record_access(
    const std::vector<std::pair<cache::Digest, std::int64_t>>& accesses) {
  return local_.record_access(accesses);
}
cache::Result<void> S3SharedMetadataStore::record_committed(const cache::Digest& digest,
                                                            std::uint64_t size, std::int64_t when) {
  return local_.record_committed(digest, size, when);
}
cache::Result<void> S3SharedMetadataStore::delete_blob_record(const cache::Digest& digest) {
  return local_.delete_blob_record(digest);
}
cache::Result<cache::BlobUsage> S3SharedMetadataStore::blob_usage() { return local_.blob_usage(); }
cache::Result<std::vector<std::pair<cache::Digest, cache::BlobRecord>>>
S3SharedMetadataStore::oldest_blob_records(const std::optional<cache::BlobAge>& after,
                                           std::size_t limit) {
  return local_.oldest_blob_records(after, limit);
}
cache::Result<std::vector<std::pair<cache::Digest, cache::BlobRecord>>>
S3SharedMetadataStore::list_blob_records(const std::string& after, std::size_t limit) {
  return local_.list_blob_records(after, limit);
}
cache::Result<std::vector<cache::TagEntry>> S3SharedMetadataStore::list_tag_entries(
    const std::optional<cache::TagKey>& after, std::size_t limit) {
  return local_.list_tag_entries(after, limit);
}

cache::Result<void> S3SharedMetadataStore::put_referrer(const cache::Referrer& referrer) {
  return local_.put_referrer(referrer);
}
cache::Result<std::vector<cache::Referrer>> S3SharedMetadataStore::list_referrers(
    const cache::Digest& subject) {
  return local_.list_referrers(subject);
}

cache::Result<void> S3SharedMetadataStore::record_repository_digests(
    const std::string& registry, const std::string& repository,
    const std::vector<cache::Digest>& digests) {
  return local_.record_repository_digests(registry, repository, digests);
}
cache::Result<bool> S3SharedMetadataStore::repository_has_digest(const std::string& registry,
                                                                 const std::string& repository,
                                                                 const cache::Digest& digest) {
  return local_.repository_has_digest(registry, repository, digest);
}

cache::Result<void> S3SharedMetadataStore::apply_import(const cache::ImportBatch& batch) {
  auto local = local_.apply_import(batch);
  if (!local) return local;
  for (const auto& [digest, record] : batch.manifests) push_manifest(digest, record);
  for (const auto& entry : batch.tags) push_tag(entry.key, entry.record);
  return {};
}

}  // namespace regmirror::proxy::s3
