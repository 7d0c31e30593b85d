// Offline bundle extraction (cache/tar_archive.hpp extract_tar): `regmirror import` reads an
// archive carried in from outside. Properties: never throws or crashes; whatever it reports,
// nothing is created outside the destination directory, and nothing extracted is a symlink;
// on success every listed entry exists under the destination with its size.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "cache/tar_archive.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace fs = std::filesystem;

namespace {

// One scratch tree per process: <tmp>/regmirror-fuzz-tar-<pid>/{archive.tar,dest/}.
const fs::path& scratch() {
  static const fs::path dir = [] {
    auto d = fs::temp_directory_path() / ("regmirror-fuzz-tar-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = scratch();
  const auto archive = dir / "archive.tar";
  const auto dest = dir / "dest";
  fs::remove_all(dest);
  fs::create_directories(dest);
  {
    std::ofstream out(archive, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::vector<regmirror::cache::TarEntry> entries;
  auto extracted = regmirror::cache::extract_tar(archive, dest, &entries);

  // Only archive.tar and dest/ may exist in the scratch directory, whatever happened.
  for (const auto& item : fs::directory_iterator(dir)) {
    FUZZ_CHECK(item.path() == archive || item.path() == dest);
  }
  for (const auto& item : fs::recursive_directory_iterator(dest)) {
    FUZZ_CHECK(!item.is_symlink());
    auto relative = fs::relative(item.path(), dest).string();
    FUZZ_CHECK(relative.find("..") != 0);
  }
  if (extracted) {
    for (const auto& entry : entries) {
      FUZZ_CHECK(!entry.name.empty() && entry.name.front() != '/');
      auto path = dest / entry.name;
      FUZZ_CHECK(fs::exists(path));
      if (!entry.directory && fs::is_regular_file(path)) {
        // A later entry may replace an earlier one of the same name; the last one wins.
        bool replaced = false;
        for (const auto& other : entries) replaced = replaced || (&other > &entry && other.name == entry.name);
        if (!replaced) FUZZ_CHECK(fs::file_size(path) == entry.size);
      }
    }
  }
  return 0;
}
