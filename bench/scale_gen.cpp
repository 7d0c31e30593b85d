// Fills a data dir with a large cache for bench/scale.sh, straight into the layout regmirror
// serves (blob files under blobs/sha256/<2 hex>/<hex>, records and tags in the RocksDB index),
// without going through HTTP: a million blobs would otherwise take hours to pull.
//
//   regmirror_scale_gen DATA_DIR BLOBS TAGS
//
// The oldest 1,000 blobs are 256 KiB each, the rest 2 KiB (max_cache_bytes must be >= 16 MiB); 1,000 image manifests each use a
// config and a layer among the small blobs, and TAGS tags point at them. Prints one JSON line:
// the bytes written and the max_cache_bytes under which one eviction pass removes exactly the
// 1,000 oldest blobs (low watermark 0.9).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "cache/digest.hpp"
#include "cache/metadata_store.hpp"
#include "cache/rocks_metadata_store.hpp"

namespace fs = std::filesystem;
using regmirror::cache::Digest;

namespace {

constexpr std::size_t kBig = 1000;
constexpr std::size_t kBigSize = 256 * 1024;
constexpr std::size_t kSmallSize = 2048;
constexpr std::size_t kManifests = 1000;

std::string blob_bytes(std::size_t i, std::size_t size) {
  std::string bytes = "regmirror scale blob " + std::to_string(i) + "\n";
  bytes.resize(size, '.');
  return bytes;
}

bool write_blob(const fs::path& root, const Digest& digest, const std::string& bytes) {
  auto hex = std::string(digest.hex());
  auto dir = root / "blobs" / "sha256" / hex.substr(0, 2);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(dir / hex, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: regmirror_scale_gen DATA_DIR BLOBS TAGS\n";
    return 2;
  }
  fs::path root = argv[1];
  std::size_t blobs = std::stoul(argv[2]);
  std::size_t tags = std::stoul(argv[3]);
  if (blobs < kBig + 2 * kManifests) {
    std::cerr << "regmirror_scale_gen: BLOBS must be at least " << kBig + 2 * kManifests << "\n";
    return 2;
  }
  std::error_code made;
  fs::create_directories(root / "tmp", made);
  std::string error;
  auto opened = regmirror::cache::RocksMetadataStore::open_at(root / "index", &error);
  if (!opened) {
    std::cerr << "regmirror_scale_gen: index: " << error << "\n";
    return 1;
  }
  auto& index = **opened;
  const auto started = std::chrono::steady_clock::now();
  // Last uses a day and more in the past, the big blobs oldest, so min_idle never spares one.
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t base = now - 86400 - static_cast<std::int64_t>(blobs);
  std::uint64_t total = 0, big_total = 0;
  std::vector<std::pair<Digest, std::size_t>> layer_pool;  // small blobs the manifests use
  for (std::size_t i = 0; i < blobs; ++i) {
    auto size = i < kBig ? kBigSize : kSmallSize;
    auto bytes = blob_bytes(i, size);
    auto digest = regmirror::cache::digest_of(bytes);
    if (!write_blob(root, digest, bytes)) {
      std::cerr << "regmirror_scale_gen: writing blob " << i << " failed\n";
      return 1;
    }
    if (!index.put_blob_record(digest, {size, base + static_cast<std::int64_t>(i)})) {
      std::cerr << "regmirror_scale_gen: index write failed at blob " << i << "\n";
      return 1;
    }
    total += size;
    if (i < kBig) big_total += size;
    if (i >= blobs - 2 * kManifests) layer_pool.emplace_back(digest, size);
  }
  std::vector<Digest> manifests;
  for (std::size_t m = 0; m < kManifests; ++m) {
    const auto& config = layer_pool[2 * m];
    const auto& layer = layer_pool[2 * m + 1];
    std::string body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                       R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                       config.first.str() + R"(","size":)" + std::to_string(config.second) +
                       R"(},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                       layer.first.str() + R"(","size":)" + std::to_string(layer.second) + "}]}";
    auto digest = regmirror::cache::digest_of(body);
    if (!write_blob(root, digest, body) ||
        !index.put_manifest(digest, {"application/vnd.oci.image.manifest.v1+json", body.size()}) ||
        !index.put_blob_record(digest, {body.size(), now - 3600})) {
      std::cerr << "regmirror_scale_gen: writing manifest " << m << " failed\n";
      return 1;
    }
    total += body.size();
    manifests.push_back(digest);
  }
  for (std::size_t t = 0; t < tags; ++t) {
    const auto& digest = manifests[t % kManifests];
    regmirror::cache::TagKey key{"docker.io", "scale/repo" + std::to_string(t / 100),
                                 "v" + std::to_string(t % 100)};
    if (!index.put_tag(key, {digest.str(), "application/vnd.oci.image.manifest.v1+json", 0, now, now})) {
      std::cerr << "regmirror_scale_gen: writing tag " << t << " failed\n";
      return 1;
    }
  }
  auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // After the 1,000 big blobs go, usage must be at or under max * 0.9.
  auto rest = total - big_total;
  auto max_bytes = static_cast<std::uint64_t>(static_cast<double>(rest) / 0.9) + 4096;
  std::printf(
      "{\"blobs\":%zu,\"tags\":%zu,\"bytes\":%llu,\"evictable_bytes\":%llu,"
      "\"max_cache_bytes\":%llu,\"seconds\":%.1f}\n",
      blobs + kManifests, tags, static_cast<unsigned long long>(total),
      static_cast<unsigned long long>(big_total), static_cast<unsigned long long>(max_bytes),
      seconds);
  return 0;
}
