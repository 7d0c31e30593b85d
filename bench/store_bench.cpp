// The cache lookups on the request path: RocksDB index records (every manifest/tag request)
// and FsBlobStore open/stat (every blob request), on real files in a temp dir.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cache/digest.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/rocks_metadata_store.hpp"

namespace {

namespace fs = std::filesystem;
using regmirror::cache::Digest;

constexpr int kRecords = 10000;

// A temp dir that lives as long as the process (google-benchmark reruns setup per repetition,
// so the fixtures below are built once and shared).
fs::path make_temp_dir(const char* prefix) {
  std::string pattern = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  return pattern;
}

struct TempDir {
  fs::path path;
  explicit TempDir(const char* prefix) : path(make_temp_dir(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

Digest digest_for(int i) { return regmirror::cache::digest_of("record-" + std::to_string(i)); }

regmirror::cache::TagKey tag_for(int i) {
  return {"docker.io", "library/image-" + std::to_string(i % 500), "v" + std::to_string(i)};
}

struct MetadataFixture {
  TempDir dir{"regmirror-bench-index-"};
  std::unique_ptr<regmirror::cache::RocksMetadataStore> store;
  std::vector<Digest> digests;
  std::vector<regmirror::cache::TagKey> tags;

  MetadataFixture() {
    std::string detail;
    auto opened = regmirror::cache::RocksMetadataStore::open_at(dir.path / "index", &detail);
    if (!opened) std::abort();
    store = std::move(*opened);
    for (int i = 0; i < kRecords; ++i) {
      digests.push_back(digest_for(i));
      tags.push_back(tag_for(i));
      regmirror::cache::ManifestRecord manifest{"application/vnd.oci.image.manifest.v1+json",
                                                static_cast<std::uint64_t>(1000 + i)};
      regmirror::cache::TagRecord tag{digests.back().str(), manifest.media_type, manifest.size,
                                      1700000000, 1700000000};
      if (!store->put_manifest(digests.back(), manifest) || !store->put_tag(tags.back(), tag)) {
        std::abort();
      }
    }
  }
};

MetadataFixture& metadata_fixture() {
  static MetadataFixture fixture;
  return fixture;
}

void BM_RocksGetManifest(benchmark::State& state) {
  auto& f = metadata_fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    auto record = f.store->get_manifest(f.digests[i++ % f.digests.size()]);
    if (!record || !*record) {
      state.SkipWithError("manifest record missing");
      break;
    }
    benchmark::DoNotOptimize(record);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RocksGetManifest);

void BM_RocksGetTag(benchmark::State& state) {
  auto& f = metadata_fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    auto record = f.store->get_tag(f.tags[i++ % f.tags.size()]);
    if (!record || !*record) {
      state.SkipWithError("tag record missing");
      break;
    }
    benchmark::DoNotOptimize(record);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RocksGetTag);

void BM_RocksGetTagMiss(benchmark::State& state) {
  auto& f = metadata_fixture();
  const regmirror::cache::TagKey missing{"docker.io", "library/absent", "latest"};
  for (auto _ : state) benchmark::DoNotOptimize(f.store->get_tag(missing));
}
BENCHMARK(BM_RocksGetTagMiss);

struct BlobFixture {
  static constexpr int kBlobs = 256;
  TempDir dir{"regmirror-bench-blobs-"};
  std::unique_ptr<regmirror::cache::FsBlobStore> store;
  std::vector<Digest> digests;

  BlobFixture() {
    auto opened = regmirror::cache::FsBlobStore::open_at(dir.path);
    if (!opened) std::abort();
    store = std::move(*opened);
    for (int i = 0; i < kBlobs; ++i) {
      const std::string body = "blob body " + std::to_string(i) + std::string(4096, 'x');
      auto digest = regmirror::cache::digest_of(body);
      auto writer = store->begin_write(digest, body.size());
      if (!writer || !(*writer)->write(std::as_bytes(std::span(body))) || !(*writer)->commit()) {
        std::abort();
      }
      digests.push_back(digest);
    }
  }
};

BlobFixture& blob_fixture() {
  static BlobFixture fixture;
  return fixture;
}

void BM_FsBlobOpen(benchmark::State& state) {
  auto& f = blob_fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    auto reader = f.store->open(f.digests[i++ % f.digests.size()]);
    if (!reader) {
      state.SkipWithError("blob missing");
      break;
    }
    benchmark::DoNotOptimize((*reader)->size());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_FsBlobOpen);

void BM_FsBlobStat(benchmark::State& state) {
  auto& f = blob_fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    auto info = f.store->stat(f.digests[i++ % f.digests.size()]);
    if (!info) {
      state.SkipWithError("blob missing");
      break;
    }
    benchmark::DoNotOptimize(info->size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_FsBlobStat);

void BM_FsBlobStatMiss(benchmark::State& state) {
  auto& f = blob_fixture();
  const auto missing = digest_for(-1);
  for (auto _ : state) benchmark::DoNotOptimize(f.store->stat(missing));
}
BENCHMARK(BM_FsBlobStatMiss);

}  // namespace
