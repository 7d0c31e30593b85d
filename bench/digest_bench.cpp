// SHA-256 over the sizes the blob path feeds it: every downloaded byte goes through
// DigestHasher::update before a blob may be committed, so this bounds cold-pull throughput.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

#include "cache/digest.hpp"

namespace {

using regmirror::cache::DigestAlgorithm;
using regmirror::cache::DigestHasher;

std::vector<std::byte> pseudo_random_bytes(std::size_t n) {
  std::vector<std::byte> out(n);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return out;
}

// One 1 MiB update per iteration into a long-lived hasher (the download loop's shape).
void BM_DigestUpdate1MiB(benchmark::State& state) {
  const auto algorithm = static_cast<DigestAlgorithm>(state.range(0));
  const auto chunk = pseudo_random_bytes(1 << 20);
  DigestHasher hasher(algorithm);
  for (auto _ : state) {
    hasher.update(chunk);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(hasher.finish());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(chunk.size()));
}
BENCHMARK(BM_DigestUpdate1MiB)
    ->Arg(static_cast<int>(DigestAlgorithm::kSha256))
    ->Arg(static_cast<int>(DigestAlgorithm::kSha512));

// A whole small object (a manifest, ~1 KiB): construction + update + finish + hex formatting.
void BM_DigestOfManifest(benchmark::State& state) {
  const auto bytes = pseudo_random_bytes(static_cast<std::size_t>(state.range(0)));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  for (auto _ : state) {
    benchmark::DoNotOptimize(regmirror::cache::digest_of(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_DigestOfManifest)->Arg(1024)->Arg(16 * 1024);

void BM_DigestParse(benchmark::State& state) {
  const std::string text =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  for (auto _ : state) benchmark::DoNotOptimize(regmirror::cache::Digest::parse(text));
}
BENCHMARK(BM_DigestParse);

}  // namespace
