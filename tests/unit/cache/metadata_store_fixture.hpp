#pragma once
// The fixture every MetadataStore suite runs on: each test gets a fresh store of each kind
// (RocksDB in a temporary directory, and the in-memory one), removed afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "cache/memory_metadata_store.hpp"
#include "cache/rocks_metadata_store.hpp"

namespace regmirror::cache::testing {

struct MetadataFactory {
  const char* name;
  std::function<std::unique_ptr<MetadataStore>(const std::filesystem::path&)> make;
};

class MetadataStoreTest : public ::testing::TestWithParam<MetadataFactory> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("regmirror-meta-" + std::to_string(std::random_device{}()) + GetParam().name);
    store_ = GetParam().make(dir_);
    ASSERT_TRUE(store_);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<MetadataStore> store_;
};

inline auto every_metadata_store() {
  return ::testing::Values(
      MetadataFactory{"rocks",
                      [](const std::filesystem::path& dir) -> std::unique_ptr<MetadataStore> {
                        auto store = RocksMetadataStore::open_at(dir, nullptr);
                        return store ? std::move(*store) : nullptr;
                      }},
      MetadataFactory{"memory", [](const std::filesystem::path&) -> std::unique_ptr<MetadataStore> {
                        return std::make_unique<MemoryMetadataStore>();
                      }});
}

inline std::string store_name(const ::testing::TestParamInfo<MetadataFactory>& info) {
  return info.param.name;
}

}  // namespace regmirror::cache::testing
