#include "cache/tar_archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

// Read and write unit: file contents move through buffers of this size (libarchive's read-ahead
// and write blocks, our copy buffer), whatever the entry's size.
constexpr std::size_t kChunk = std::size_t{1} << 20;
constexpr std::size_t kBlock = 512;  // tar's record size: headers, padding, end-of-archive marker

std::string errno_text(int error) { return std::generic_category().message(error); }

std::string archive_text(archive* handle) {
  const char* text = archive_error_string(handle);
  return text != nullptr && *text != '\0' ? text : "unknown libarchive error";
}

// An entry name fit for a one-line message: a hostile archive's names may hold control bytes.
std::string printable(std::string_view name) {
  static constexpr std::array<char, 17> kHex{"0123456789abcdef"};
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

struct ReadDeleter {
  void operator()(archive* handle) const { archive_read_free(handle); }
};
struct EntryDeleter {
  void operator()(archive_entry* entry) const { archive_entry_free(entry); }
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting what close(2) says (errno on failure).
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// Relative, no empty name, no leading '/', no ".." component.
bool safe_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  std::size_t start = 0;
  while (true) {
    auto slash = name.find('/', start);
    auto part = std::string_view(name).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

// What an entry that is neither a regular file nor a directory is, for the message.
std::string kind_of(archive_entry* entry) {
  if (const char* target = archive_entry_hardlink(entry); target != nullptr) {
    return "a hard link to '" + printable(target) + "'";
  }
  switch (archive_entry_filetype(entry)) {
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(entry);
      return "a symbolic link to '" + printable(target != nullptr ? target : "") + "'";
    }
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a fifo";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "of an unknown type";
  }
}

// libarchive ends an archive quietly both at an end-of-archive marker and at a plain end of file
// on a 512-byte boundary (some writers omit the marker). Only the first is a whole bundle.
bool end_marker_at(int fd, std::uint64_t offset) {
  std::array<char, kBlock> block{};
  std::size_t got = 0;
  while (got < block.size()) {
    auto n = ::pread(fd, block.data() + got, block.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return std::all_of(block.begin(), block.end(), [](char c) { return c == 0; });
}

// The message for a failed archive_read_next_header. libarchive says "Truncated tar archive"
// for a short header block, nothing at all when an extended header's body is cut off, and
// "Damaged tar archive" for a bad checksum (ARCHIVE_RETRY at the top level) or an extended
// header that reaches the end of the file instead of its entry.
MessageError header_error(archive* handle, int status, const std::string& previous,
                          std::uint64_t archive_size) {
  const char* raw = archive_error_string(handle);
  std::string text = raw != nullptr ? raw : "";
  auto consumed = archive_filter_bytes(handle, 0);
  bool at_end = consumed >= 0 && static_cast<std::uint64_t>(consumed) >= archive_size;
  if (text.empty() || text.starts_with("Truncated") || (text == "Damaged tar archive" && at_end)) {
    return message_error("truncated bundle: archive ends inside the header of the entry after " +
                         previous);
  }
  if (status == ARCHIVE_RETRY || text == "Damaged tar archive") {
    return message_error("corrupt bundle: damaged tar header after entry " + previous +
                         " (header checksum mismatch)");
  }
  return message_error("corrupt bundle: bad tar header after entry " + previous + ": " +
                       printable(text));
}

// Copies the current entry's data to `target`; `size` is what its header promised.
Result<void, MessageError> extract_file(archive* handle, const fs::path& target,
                                        const std::string& name, std::uint64_t size) {
  Fd out(::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (out.get() < 0)
    return message_error("cannot create " + target.string() + ": " + errno_text(errno));
  std::uint64_t written = 0;
  while (true) {
    const void* block = nullptr;
    std::size_t length = 0;
    la_int64_t offset = 0;
    int status = archive_read_data_block(handle, &block, &length, &offset);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK) {
      auto text = archive_text(handle);
      return message_error((text.starts_with("Truncated")
                                ? "truncated bundle: archive ends inside entry "
                                : "corrupt bundle: reading entry ") +
                           printable(name) + ": " + text);
    }
    // Sparse entries are refused before this; a gap would mean one slipped through.
    if (offset < 0 || static_cast<std::uint64_t>(offset) != written) {
      return message_error("corrupt bundle: entry " + printable(name) +
                           " has holes (sparse files are refused)");
    }
    if (!write_all(out.get(), static_cast<const char*>(block), length)) {
      return message_error("writing " + target.string() + ": " + errno_text(errno));
    }
    written += length;
  }
  if (written != size) {
    return message_error("corrupt bundle: entry " + printable(name) + " holds " +
                         std::to_string(written) + " bytes, its header says " +
                         std::to_string(size));
  }
  if (!out.close()) return message_error("writing " + target.string() + ": " + errno_text(errno));
  return {};
}

}  // namespace

struct TarWriter::State {
  archive* handle = nullptr;
  int fd = -1;
  fs::path path;
  std::vector<char> buffer;  // add_file's copy buffer, kChunk bytes once used
  // Set when the writer is dropped unfinished: what libarchive still writes (its buffered
  // block and the end-of-archive marker) is discarded, so the file stays truncated.
  bool discard = false;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (handle != nullptr) {
      // Closed, not failed: archive_write_free() of a failed archive skips the close path and
      // leaks libarchive's block buffer. With `discard` the close writes nothing.
      discard = true;
      archive_write_close(handle);
      archive_write_free(handle);
    }
    if (fd >= 0) ::close(fd);
  }

  // libarchive's write callback: every byte to `fd`, or -1 with the reason on the archive.
  static la_ssize_t write_block(archive* a, void* client, const void* data, std::size_t size) {
    auto* self = static_cast<State*>(client);
    if (self->discard) return static_cast<la_ssize_t>(size);
    const char* p = static_cast<const char*>(data);
    std::size_t left = size;
    while (left > 0) {
      ssize_t n = ::write(self->fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        archive_set_error(a, errno, "%s", errno_text(errno).c_str());
        return -1;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return static_cast<la_ssize_t>(size);
  }
};

TarWriter::TarWriter() = default;
TarWriter::~TarWriter() = default;

Result<void, MessageError> TarWriter::open(const fs::path& path) {
  state_.reset();
  auto state = std::make_unique<State>();
  state->path = path;
  state->fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (state->fd < 0)
    return message_error("cannot create " + path.string() + ": " + errno_text(errno));
  state->handle = archive_write_new();
  if (state->handle == nullptr)
    return message_error("cannot create " + path.string() + ": out of memory");
  // Whole 1 MiB writes to the file, and no padding of the last one beyond tar's own records.
  if (archive_write_set_format_pax_restricted(state->handle) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(state->handle, static_cast<int>(kChunk)) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(state->handle, 1) != ARCHIVE_OK ||
      archive_write_open(state->handle, state.get(), nullptr, &State::write_block, nullptr) !=
          ARCHIVE_OK) {
    return message_error("cannot create " + path.string() + ": " + archive_text(state->handle));
  }
  state_ = std::move(state);
  return {};
}

Result<void, MessageError> TarWriter::write_header(const std::string& name, bool directory,
                                                   std::uint64_t size) {
  if (state_ == nullptr) return message_error("archive not open");
  std::unique_ptr<archive_entry, EntryDeleter> entry(archive_entry_new());
  if (entry == nullptr)
    return message_error("writing " + state_->path.string() + ": out of memory");
  archive_entry_copy_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), directory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), directory ? 0755 : 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  archive_entry_set_mtime(entry.get(), 0, 0);  // bundles of the same content are identical
  // A warning means libarchive had to change something (a name it could not encode): refused,
  // so a bundle never holds other names than the ones asked for.
  if (archive_write_header(state_->handle, entry.get()) != ARCHIVE_OK) {
    return message_error("writing " + state_->path.string() + ": entry " + printable(name) + ": " +
                         archive_text(state_->handle));
  }
  return {};
}

Result<void, MessageError> TarWriter::write_data(const std::string& name, const char* data,
                                                 std::size_t size) {
  auto written = archive_write_data(state_->handle, data, size);
  if (written < 0 || static_cast<std::size_t>(written) != size) {
    return message_error("writing " + state_->path.string() + ": entry " + printable(name) + ": " +
                         archive_text(state_->handle));
  }
  return {};
}

Result<void, MessageError> TarWriter::add_directory(const std::string& name) {
  return write_header(name.ends_with('/') ? name : name + "/", true, 0);
}

Result<void, MessageError> TarWriter::add_bytes(const std::string& name, std::string_view data) {
  if (auto header = write_header(name, false, data.size()); !header) return header;
  if (data.empty()) return {};
  return write_data(name, data.data(), data.size());
}

Result<void, MessageError> TarWriter::add_file(const std::string& name, const fs::path& source) {
  if (state_ == nullptr) return message_error("archive not open");
  Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    return message_error("cannot read " + source.string() + ": " + errno_text(errno));
  struct stat info {};
  if (::fstat(in.get(), &info) != 0)
    return message_error("cannot stat " + source.string() + ": " + errno_text(errno));
  if (!S_ISREG(info.st_mode))
    return message_error("cannot archive " + source.string() + ": not a regular file");
  auto size = static_cast<std::uint64_t>(info.st_size);
  if (auto header = write_header(name, false, size); !header) return header;
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  auto& buffer = state_->buffer;
  buffer.resize(kChunk);
  std::uint64_t copied = 0;
  while (copied < size) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - copied));
    auto n = ::read(in.get(), buffer.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return message_error("reading " + source.string() + ": " + errno_text(errno));
    if (n == 0)
      return message_error("reading " + source.string() + ": file shrank while archiving");
    if (auto chunk = write_data(name, buffer.data(), static_cast<std::size_t>(n)); !chunk) {
      return chunk;
    }
    copied += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void, MessageError> TarWriter::finish() {
  if (state_ == nullptr) return message_error("archive not open");
  auto state = std::move(state_);
  const auto where = state->path.string();
  // Pads the last entry, writes the end-of-archive marker and flushes libarchive's block.
  if (archive_write_close(state->handle) != ARCHIVE_OK) {
    return message_error("writing " + where + ": " + archive_text(state->handle));
  }
  archive_write_free(state->handle);
  state->handle = nullptr;
  if (::fsync(state->fd) != 0) return message_error("writing " + where + ": " + errno_text(errno));
  int fd = state->fd;
  state->fd = -1;
  if (::close(fd) != 0) return message_error("closing " + where + ": " + errno_text(errno));
  return {};
}

Result<void, MessageError> extract_tar(const fs::path& archive_path, const fs::path& destination,
                                       std::vector<TarEntry>* entries) {
  Fd in(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0)
    return message_error("cannot open " + archive_path.string() + ": " + errno_text(errno));
  struct stat info {};
  if (::fstat(in.get(), &info) != 0) {
    return message_error("cannot stat " + archive_path.string() + ": " + errno_text(errno));
  }
  const auto archive_size = static_cast<std::uint64_t>(info.st_size);
  std::unique_ptr<archive, ReadDeleter> reader(archive_read_new());
  if (reader == nullptr)
    return message_error("reading " + archive_path.string() + ": out of memory");
  archive* handle = reader.get();
  // Tar only (ustar, pax, GNU, v7), no compression filters: a bundle is a plain tarball.
  if (archive_read_support_format_tar(handle) != ARCHIVE_OK) {
    return message_error("reading " + archive_path.string() + ": " + archive_text(handle));
  }
  // Opening reads the first header to recognise the format; libarchive's errno for "not this
  // format" differs between platforms, its message does not.
  if (archive_read_open_fd(handle, in.get(), kChunk) != ARCHIVE_OK) {
    if (archive_text(handle) != "Unrecognized archive format") {
      return message_error("reading " + archive_path.string() + ": " + archive_text(handle));
    }
    if (archive_size == 0) return message_error("truncated bundle: the archive is empty");
    if (archive_size < kBlock) {
      return message_error("truncated bundle: archive ends inside its first header (" +
                           std::to_string(archive_size) + " bytes)");
    }
    return message_error(
        "corrupt bundle: not a tar archive (the first header is damaged: header checksum "
        "mismatch or not a tar header)");
  }

  std::string previous = "(start of archive)";
  std::uint64_t next_header = 0;  // where the header after the last entry's data must start
  while (true) {
    archive_entry* entry = nullptr;
    int status = archive_read_next_header(handle, &entry);
    if (status == ARCHIVE_EOF) {
      if (!end_marker_at(in.get(), next_header)) {
        return message_error("truncated bundle: archive ends after entry " + previous +
                             " without an end-of-archive marker");
      }
      return {};
    }
    // A warning is something libarchive could not represent (a name it could not convert, a
    // malformed extended attribute): refused like any other damage.
    if (status != ARCHIVE_OK) return header_error(handle, status, previous, archive_size);
    const auto data_start = static_cast<std::uint64_t>(archive_filter_bytes(handle, 0));

    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) {
      return message_error("corrupt bundle: the entry after " + previous +
                           " has a name that cannot be read");
    }
    std::string name = raw_name;
    while (name.starts_with("./")) name.erase(0, 2);
    const bool directory =
        archive_entry_filetype(entry) == AE_IFDIR && archive_entry_hardlink(entry) == nullptr;
    if (directory) {
      while (name.ends_with('/')) name.pop_back();
    }
    if (directory && (name.empty() || name == ".")) {
      // "./", as `tar -C layout -cf bundle.tar .` writes first: the destination itself.
    } else if (!safe_name(name)) {
      return message_error("corrupt bundle: unsafe entry name '" + printable(name) +
                           "' (absolute or with '..': it would land outside the destination)");
    } else if (directory) {
      auto target = destination / name;
      std::error_code ec;
      fs::create_directories(target, ec);
      if (ec) return message_error("cannot create " + target.string() + ": " + ec.message());
      if (entries != nullptr) entries->push_back({name, true, 0});
      previous = printable(name);
    } else if (archive_entry_filetype(entry) != AE_IFREG ||
               archive_entry_hardlink(entry) != nullptr) {
      return message_error("corrupt bundle: entry " + printable(name) + " is " + kind_of(entry) +
                           "; a bundle may hold only regular files and directories");
    } else if (archive_entry_sparse_count(entry) > 0) {
      return message_error(
          "corrupt bundle: entry " + printable(name) +
          " is a sparse file; a bundle may hold only plain regular files and directories");
    } else {
      const auto size = static_cast<std::uint64_t>(archive_entry_size(entry));
      // The data and its padding to the next 512-byte record must all be there.
      const auto present = archive_size - std::min(data_start, archive_size);
      if (size > present) {
        return message_error("truncated bundle: archive ends inside entry " + printable(name) +
                             " (" + std::to_string(present) + " of " + std::to_string(size) +
                             " bytes)");
      }
      if ((size + kBlock - 1) / kBlock * kBlock > present) {
        return message_error("truncated bundle: archive ends inside the padding after entry " +
                             printable(name));
      }
      auto target = destination / name;
      std::error_code ec;
      fs::create_directories(target.parent_path(), ec);
      if (ec)
        return message_error("cannot create " + target.parent_path().string() + ": " +
                             ec.message());
      if (auto file = extract_file(handle, target, name, size); !file) return file;
      if (entries != nullptr) entries->push_back({name, false, size});
      previous = printable(name);
    }
    // Past the rest of the entry (a directory's body, if any) and its padding.
    if (archive_read_data_skip(handle) != ARCHIVE_OK) {
      return message_error("truncated bundle: archive ends inside entry " + printable(name) + ": " +
                           archive_text(handle));
    }
    next_header = static_cast<std::uint64_t>(archive_filter_bytes(handle, 0));
  }
}

}  // namespace regmirror::cache
