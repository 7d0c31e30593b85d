#include "proxy/registry/hot_manifest_cache.hpp"

namespace regmirror::proxy::registry {

namespace {
constexpr std::size_t kMaxTags = 100000;
}

std::shared_ptr<const HotManifest> HotManifestCache::by_digest(const std::string& digest) {
  std::lock_guard lock(mutex_);
  auto it = manifests_.find(digest);
  if (it == manifests_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.manifest;
}

void HotManifestCache::put(std::shared_ptr<const HotManifest> manifest) {
  if (!manifest || manifest->body.size() > max_bytes_ / 8) return;
  std::lock_guard lock(mutex_);
  auto it = manifests_.find(manifest->digest);
  if (it != manifests_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  std::string key = manifest->digest;  // before the move below
  lru_.push_front(key);
  bytes_ += manifest->body.size();
  manifests_.emplace(std::move(key), Entry{std::move(manifest), lru_.begin()});
  evict_locked();
}

void HotManifestCache::evict_locked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    auto it = manifests_.find(lru_.back());
    bytes_ -= it->second.manifest->body.size();
    manifests_.erase(it);
    lru_.pop_back();
  }
}

std::optional<HotManifestCache::TagHit> HotManifestCache::by_tag(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto tag = tags_.find(key);
  if (tag == tags_.end()) return std::nullopt;
  auto it = manifests_.find(tag->second.first);
  if (it == manifests_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return TagHit{it->second.manifest, tag->second.second};
}

void HotManifestCache::put_tag(const std::string& key, const std::string& digest,
                               std::int64_t validated_at) {
  std::lock_guard lock(mutex_);
  if (tags_.size() >= kMaxTags && !tags_.contains(key)) tags_.clear();  // crude but bounded
  tags_[key] = {digest, validated_at};
}

void HotManifestCache::drop_tag(const std::string& key) {
  std::lock_guard lock(mutex_);
  tags_.erase(key);
}

}  // namespace regmirror::proxy::registry
