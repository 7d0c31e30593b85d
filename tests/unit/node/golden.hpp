#pragma once
// Golden-file comparison for rendered node files. REGMIRROR_UPDATE_GOLDEN=1 rewrites the files
// from the current output (review the diff before committing it); otherwise a mismatch fails
// with both texts shown.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace regmirror::config::node::testing {

inline std::filesystem::path golden_path(const std::string& name) {
  return std::filesystem::path(REGMIRROR_NODE_GOLDEN_DIR) / name;
}

inline std::string read_golden(const std::string& name) {
  std::ifstream in(golden_path(name), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline ::testing::AssertionResult matches_golden(const std::string& name,
                                                 const std::string& actual) {
  const char* update = std::getenv("REGMIRROR_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(golden_path(name).parent_path());
    std::ofstream(golden_path(name), std::ios::binary) << actual;
    return ::testing::AssertionSuccess();
  }
  if (!std::filesystem::exists(golden_path(name))) {
    return ::testing::AssertionFailure() << "missing golden file " << golden_path(name);
  }
  const std::string expected = read_golden(name);
  if (expected == actual) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "differs from " << golden_path(name) << "\n--- want\n"
                                       << expected << "\n--- got\n"
                                       << actual;
}

// A fresh directory under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "regmirror-node-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void spit(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

}  // namespace regmirror::config::node::testing
