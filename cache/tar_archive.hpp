#pragma once
// Tar archives for offline bundles (OCI image layouts), written and read with libarchive.
//
// Writing: restricted pax, i.e. plain ustar headers plus a pax extended header only for what
// ustar cannot hold (names over 100 bytes, sizes of 8 GiB and more), so GNU tar, skopeo and
// Python's tarfile all read it. Every entry has mtime 0, uid/gid 0 and fixed modes: bundles of
// the same content are byte-identical. File contents are streamed in fixed-size chunks.
//
// Reading: ustar, pax and GNU tar. Strict: only regular files and directories (symlinks, hard
// links, devices, fifos, sockets and sparse files are refused), a name that would escape the
// target directory is refused, an archive that ends before its end-of-archive marker is reported
// as truncated naming the entry it was in, and a damaged header is reported as corrupt naming
// the entry before it. Contents are streamed to disk in chunks: memory does not grow with the
// size of an entry.
//
// Errors are one-line messages (config/result.hpp's MessageError); they name the entry and the
// reason, and callers add which archive.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/result.hpp"

namespace regmirror::cache {

class TarWriter {
 public:
  TarWriter();
  // Without finish(), the file is closed as it is: it has no end-of-archive marker and reads
  // as truncated.
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  // Creates (truncates) the archive file.
  Result<void, MessageError> open(const std::filesystem::path& path);
  Result<void, MessageError> add_directory(const std::string& name);
  Result<void, MessageError> add_bytes(const std::string& name, std::string_view data);
  // Streams `source` in fixed-size chunks; fails if it shrinks while being copied (bytes past
  // its size when the entry was started are not copied).
  Result<void, MessageError> add_file(const std::string& name, const std::filesystem::path& source);
  // Writes the end-of-archive marker, then fsyncs and closes the file. Required: an unfinished
  // archive reads as truncated.
  Result<void, MessageError> finish();

 private:
  struct State;  // the libarchive handle and the file; libarchive stays inside cache/
  Result<void, MessageError> write_header(const std::string& name, bool directory,
                                          std::uint64_t size);
  Result<void, MessageError> write_data(const std::string& name, const char* data,
                                        std::size_t size);
  std::unique_ptr<State> state_;
};

struct TarEntry {
  std::string name;  // relative, '/'-separated, no "..", no leading '/' or "./"
  bool directory = false;
  std::uint64_t size = 0;
};

// Extracts every entry under `destination` (which must exist). Lists what it extracted in
// `entries` when not null (a "./" entry naming the destination itself is accepted, not listed).
// A later entry of the same name replaces an earlier one. On error, what was extracted so far
// stays: callers extract into a scratch directory they remove.
Result<void, MessageError> extract_tar(const std::filesystem::path& archive,
                                       const std::filesystem::path& destination,
                                       std::vector<TarEntry>* entries);

}  // namespace regmirror::cache
