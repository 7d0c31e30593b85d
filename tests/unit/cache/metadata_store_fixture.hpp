#pragma once
// The fixture every MetadataStore suite runs on: each test gets a fresh store of each kind
// (RocksDB in a temporary directory, the in-memory one, and any a higher layer added with
// add_metadata_store() at static-initialisation time, such as the S3-shared store), removed
// afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/memory_metadata_store.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "tests/unit/cache/fresh_store_fixture.hpp"

namespace regmirror::cache::testing {

struct MetadataFactory {
  const char* name;
  std::function<std::unique_ptr<MetadataStore>(const std::filesystem::path&)> make;
};

class MetadataStoreTest : public FreshStoreTest<MetadataStore, MetadataFactory> {};

inline std::vector<MetadataFactory>& added_metadata_stores() {
  static std::vector<MetadataFactory> added;
  return added;
}

// Returns true so that it can initialise a namespace constant.
inline bool add_metadata_store(MetadataFactory factory) {
  added_metadata_stores().push_back(std::move(factory));
  return true;
}

inline auto every_metadata_store() {
  std::vector<MetadataFactory> all{
      {"rocks",
       [](const std::filesystem::path& dir) -> std::unique_ptr<MetadataStore> {
         auto store = RocksMetadataStore::open_at(dir, nullptr);
         return store ? std::move(*store) : nullptr;
       }},
      {"memory", [](const std::filesystem::path&) -> std::unique_ptr<MetadataStore> {
         return std::make_unique<MemoryMetadataStore>();
       }}};
  all.insert(all.end(), added_metadata_stores().begin(), added_metadata_stores().end());
  return ::testing::ValuesIn(all);
}

inline std::string store_name(const ::testing::TestParamInfo<MetadataFactory>& info) {
  return info.param.name;
}

}  // namespace regmirror::cache::testing
