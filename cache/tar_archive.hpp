#pragma once
// POSIX ustar archives, just enough for offline bundles (OCI image layouts): regular files and
// directories, names up to 255 bytes (prefix + name), sizes beyond 8 GiB in base-256.
// Reading is strict: every header checksum is verified, a name that would escape the target
// directory is refused, and an archive that ends before its end-of-archive marker is reported
// as truncated, naming the entry it was in.
//
// Errors are returned as one-line messages (empty string = success).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::cache {

class TarWriter {
 public:
  TarWriter() = default;
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Creates (truncates) the archive file.
  std::string open(const std::filesystem::path& path);
  std::string add_directory(const std::string& name);
  std::string add_bytes(const std::string& name, std::string_view data);
  std::string add_file(const std::string& name, const std::filesystem::path& source);
  // Writes the end-of-archive marker and makes the file durable. Required: an unfinished
  // archive reads as truncated.
  std::string finish();

 private:
  std::string write_header(const std::string& name, std::uint64_t size, char type);
  std::string write_raw(const void* data, std::size_t size);
  std::string pad(std::uint64_t size);
  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
};

struct TarEntry {
  std::string name;  // relative, '/'-separated, no "..", no leading '/'
  bool directory = false;
  std::uint64_t size = 0;
};

// Extracts every entry under `destination` (which must exist). Lists what it extracted in
// `entries` when not null.
std::string extract_tar(const std::filesystem::path& archive,
                        const std::filesystem::path& destination, std::vector<TarEntry>* entries);

}  // namespace regmirror::cache
