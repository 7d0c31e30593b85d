#pragma once
// The suite every BlobStore implementation runs (blob_store_conformance_test.cpp holds the
// cases; the contract is cache/blob_store.hpp). Each test gets a fresh store from a factory:
// the local ones are listed here; a suite in a higher layer (the S3 tier) adds its own with
// add_blob_store() at static-initialisation time, before gtest expands the parameters.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cache/blob_store.hpp"
#include "tests/unit/cache/fresh_store_fixture.hpp"

namespace regmirror::cache::testing {

struct StoreFactory {
  const char* name;
  // A new, empty store that may use `dir` (fresh per test) for its files; nullptr on failure.
  std::function<std::unique_ptr<BlobStore>(const std::filesystem::path&)> make;
};

// Factories beyond fs and memory. Returns true so that it can initialise a namespace constant.
bool add_blob_store(StoreFactory factory);
// fs, memory, then every added one.
std::vector<StoreFactory> every_blob_store();

class BlobStoreConformance : public FreshStoreTest<BlobStore, StoreFactory> {};

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::string read_all(BlobReader& reader) {
  std::string out(reader.size(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    auto n = reader.read_at(done, std::as_writable_bytes(std::span(out.data() + done, out.size() - done)));
    if (!n || *n == 0) break;
    done += *n;
  }
  out.resize(done);
  return out;
}

}  // namespace regmirror::cache::testing
