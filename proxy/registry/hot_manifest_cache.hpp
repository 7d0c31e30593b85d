#pragma once
// Manifests and tag records that were just served, in memory, so the common requests (a
// manifest by digest, a tag within its TTL) are answered on the network thread without a
// hop to the worker pool or a RocksDB read. Bounded by bytes, least recently used out.
// Digest entries are immutable; tag entries carry their validation time and the caller
// decides freshness. Thread-safe; every call holds the lock only for a map operation.
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace regmirror::proxy::registry {

struct HotManifest {
  std::string digest;
  std::string media_type;
  std::string body;
};

class HotManifestCache {
 public:
  explicit HotManifestCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  std::shared_ptr<const HotManifest> by_digest(const std::string& digest);
  void put(std::shared_ptr<const HotManifest> manifest);

  struct TagHit {
    std::shared_ptr<const HotManifest> manifest;
    std::int64_t validated_at = 0;
  };
  // The manifest a tag pointed to when last validated (key: registry, repository, tag).
  std::optional<TagHit> by_tag(const std::string& key);
  void put_tag(const std::string& key, const std::string& digest, std::int64_t validated_at);
  void drop_tag(const std::string& key);

  static std::string tag_key(const std::string& registry, const std::string& repository,
                             const std::string& tag) {
    return registry + '\0' + repository + '\0' + tag;
  }

 private:
  struct Entry {
    std::shared_ptr<const HotManifest> manifest;
    std::list<std::string>::iterator lru;
  };
  void evict_locked();

  std::size_t max_bytes_;
  std::mutex mutex_;
  std::size_t bytes_ = 0;
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, Entry> manifests_;
  std::unordered_map<std::string, std::pair<std::string, std::int64_t>> tags_;  // -> digest, time
};

}  // namespace regmirror::proxy::registry
