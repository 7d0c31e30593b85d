#include "proxy/registry/hot_manifest_cache.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::registry {
namespace {

std::shared_ptr<const HotManifest> manifest(const std::string& digest, std::size_t size) {
  return std::make_shared<const HotManifest>(
      HotManifest{digest, "application/vnd.oci.image.manifest.v1+json", std::string(size, 'x')});
}

TEST(HotManifestCache, ServesDigestsAndTagsItWasGiven) {
  HotManifestCache cache(1 << 20);
  EXPECT_FALSE(cache.by_digest("sha256:a"));
  cache.put(manifest("sha256:a", 100));
  ASSERT_TRUE(cache.by_digest("sha256:a"));
  EXPECT_EQ(cache.by_digest("sha256:a")->body.size(), 100u);
  auto key = HotManifestCache::tag_key("docker.io", "library/alpine", "3.19");
  EXPECT_FALSE(cache.by_tag(key));
  cache.put_tag(key, "sha256:a", 42);
  auto hit = cache.by_tag(key);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->validated_at, 42);
  EXPECT_EQ(hit->manifest->digest, "sha256:a");
  cache.drop_tag(key);
  EXPECT_FALSE(cache.by_tag(key));
}

TEST(HotManifestCache, EvictsLeastRecentlyUsedPastItsBudget) {
  HotManifestCache cache(8000);  // entries up to 1000 bytes are kept
  for (int i = 0; i < 8; ++i) cache.put(manifest("sha256:" + std::to_string(i), 1000));
  ASSERT_TRUE(cache.by_digest("sha256:0"));  // now most recent
  cache.put(manifest("sha256:new", 1000));
  EXPECT_TRUE(cache.by_digest("sha256:0"));
  EXPECT_FALSE(cache.by_digest("sha256:1"));  // the least recently used went
  EXPECT_TRUE(cache.by_digest("sha256:new"));
  // A tag whose manifest was evicted is a miss, not a dangling answer.
  cache.put_tag("k", "sha256:2", 1);
  for (int i = 10; i < 20; ++i) cache.put(manifest("sha256:" + std::to_string(i), 1000));
  EXPECT_FALSE(cache.by_tag("k"));
  // Oversized entries are not cached at all.
  cache.put(manifest("sha256:huge", 5000));
  EXPECT_FALSE(cache.by_digest("sha256:huge"));
}

}  // namespace
}  // namespace regmirror::proxy::registry
