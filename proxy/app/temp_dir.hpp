#pragma once
// A private temporary directory removed with everything in it when the object goes away.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace regmirror::app {

class TempDir {
 public:
  // Under `parent` (default: $TMPDIR or /tmp). path() is empty when creation failed.
  explicit TempDir(const std::string& prefix, std::filesystem::path parent = {}) {
    if (parent.empty()) {
      const char* env = std::getenv("TMPDIR");
      parent = env != nullptr && *env != '\0' ? env : "/tmp";
    }
    std::string pattern = (parent / (prefix + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace regmirror::app
