#pragma once
// The fixture of every store suite (blob stores, metadata stores): each test gets a fresh store
// from its parameter's factory, in a fresh temporary directory removed afterwards.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

namespace regmirror::cache::testing {

// Factory: { const char* name; std::function<std::unique_ptr<Store>(const path&)> make; }.
template <class Store, class Factory>
class FreshStoreTest : public ::testing::TestWithParam<Factory> {
 protected:
  void SetUp() override {
    const Factory& factory = this->GetParam();
    dir_ = std::filesystem::temp_directory_path() /
           ("regmirror-store-" + std::to_string(std::random_device{}()) + "-" + factory.name);
    std::filesystem::create_directories(dir_);
    store_ = factory.make(dir_);
    ASSERT_TRUE(store_) << "could not make a " << factory.name << " store";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace regmirror::cache::testing
