#include "cache/tar_archive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <system_error>
#include <fstream>
#include <optional>

namespace regmirror::cache {
namespace {

constexpr std::size_t kBlock = 512;
constexpr std::uint64_t kMaxOctalSize = 077777777777ULL;  // 11 octal digits

struct Header {
  std::array<char, kBlock> bytes{};
};

void put_octal(char* field, std::size_t width, std::uint64_t value) {
  // width - 1 digits and a NUL terminator
  std::string text(width - 1, '0');
  for (std::size_t i = width - 1; i-- > 0 && value > 0;) {
    text[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  std::memcpy(field, text.data(), width - 1);
  field[width - 1] = '\0';
}

unsigned checksum_of(const Header& header) {
  unsigned sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    bool in_checksum_field = i >= 148 && i < 156;
    sum += in_checksum_field ? ' ' : static_cast<unsigned char>(header.bytes[i]);
  }
  return sum;
}

// Octal (space/NUL terminated) or GNU base-256. nullopt for garbage.
std::optional<std::uint64_t> parse_number(const char* field, std::size_t width) {
  auto first = static_cast<unsigned char>(field[0]);
  if (first & 0x80) {
    std::uint64_t value = first & 0x7f;
    for (std::size_t i = 1; i < width; ++i) {
      if (value >> 56) return std::nullopt;
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  std::uint64_t value = 0;
  std::size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  bool any = false;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    value = (value << 3) | static_cast<std::uint64_t>(field[i] - '0');
    any = true;
  }
  for (; i < width; ++i) {
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  }
  if (!any) return std::nullopt;
  return value;
}

std::string field_string(const char* field, std::size_t width) {
  return std::string(field, strnlen(field, width));
}

bool safe_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    auto slash = name.find('/', start);
    auto part = name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

}  // namespace

TarWriter::~TarWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

std::string TarWriter::open(const std::filesystem::path& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) {
    return "cannot create " + path.string() + ": " + std::generic_category().message(errno);
  }
  return {};
}

std::string TarWriter::write_raw(const void* data, std::size_t size) {
  if (file_ == nullptr) return "archive not open";
  if (std::fwrite(data, 1, size, file_) != size) {
    return "writing " + path_.string() + ": " + std::generic_category().message(errno);
  }
  return {};
}

std::string TarWriter::pad(std::uint64_t size) {
  static const std::array<char, kBlock> kZeros{};
  auto rest = size % kBlock;
  if (rest == 0) return {};
  return write_raw(kZeros.data(), kBlock - rest);
}

std::string TarWriter::write_header(const std::string& name, std::uint64_t size, char type) {
  Header header;
  auto& b = header.bytes;
  // ustar splits long names at a '/' into prefix (155) and name (100).
  std::string prefix;
  std::string base = name;
  if (base.size() > 100) {
    auto split = name.rfind('/', 155);
    while (split != std::string::npos && name.size() - split - 1 > 100) split = std::string::npos;
    if (split == std::string::npos || split == 0) return "name too long for a tar entry: " + name;
    prefix = name.substr(0, split);
    base = name.substr(split + 1);
  }
  std::memcpy(b.data(), base.data(), base.size());
  put_octal(b.data() + 100, 8, type == '5' ? 0755 : 0644);
  put_octal(b.data() + 108, 8, 0);
  put_octal(b.data() + 116, 8, 0);
  if (size <= kMaxOctalSize) {
    put_octal(b.data() + 124, 12, size);
  } else {
    b[124] = static_cast<char>(0x80);
    for (int i = 11; i >= 1; --i) {
      b[124 + i] = static_cast<char>(size & 0xff);
      size >>= 8;
    }
  }
  put_octal(b.data() + 136, 12, 0);  // mtime 0: bundles of the same content are identical
  b[156] = type;
  std::memcpy(b.data() + 257, "ustar", 6);
  std::memcpy(b.data() + 263, "00", 2);
  std::memcpy(b.data() + 345, prefix.data(), prefix.size());
  auto sum = checksum_of(header);
  put_octal(b.data() + 148, 7, sum);
  b[155] = ' ';
  return write_raw(b.data(), kBlock);
}

std::string TarWriter::add_directory(const std::string& name) {
  auto dir = name.ends_with('/') ? name : name + "/";
  return write_header(dir, 0, '5');
}

std::string TarWriter::add_bytes(const std::string& name, std::string_view data) {
  if (auto error = write_header(name, data.size(), '0'); !error.empty()) return error;
  if (auto error = write_raw(data.data(), data.size()); !error.empty()) return error;
  return pad(data.size());
}

std::string TarWriter::add_file(const std::string& name, const std::filesystem::path& source) {
  std::FILE* in = std::fopen(source.c_str(), "rb");
  if (in == nullptr) {
    return "cannot read " + source.string() + ": " + std::generic_category().message(errno);
  }
  std::error_code ec;
  auto size = std::filesystem::file_size(source, ec);
  if (ec) {
    std::fclose(in);
    return "cannot stat " + source.string() + ": " + ec.message();
  }
  auto error = write_header(name, size, '0');
  std::vector<char> buffer(1 << 20);
  std::uint64_t copied = 0;
  while (error.empty() && copied < size) {
    auto n = std::fread(buffer.data(), 1, buffer.size(), in);
    if (n == 0) {
      error = "reading " + source.string() + ": file shrank while archiving";
      break;
    }
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size - copied));
    error = write_raw(buffer.data(), n);
    copied += n;
  }
  std::fclose(in);
  if (!error.empty()) return error;
  return pad(size);
}

std::string TarWriter::finish() {
  static const std::array<char, 2 * kBlock> kTrailer{};
  if (auto error = write_raw(kTrailer.data(), kTrailer.size()); !error.empty()) return error;
  if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0) {
    return "writing " + path_.string() + ": " + std::generic_category().message(errno);
  }
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    return "closing " + path_.string() + ": " + std::generic_category().message(errno);
  }
  file_ = nullptr;
  return {};
}

std::string extract_tar(const std::filesystem::path& archive,
                        const std::filesystem::path& destination, std::vector<TarEntry>* entries) {
  std::ifstream in(archive, std::ios::binary);
  if (!in) return "cannot open " + archive.string();
  std::string previous = "(start of archive)";
  std::string long_name;  // from a pax 'x' or GNU 'L' entry, for the next header
  std::vector<char> buffer(1 << 20);
  while (true) {
    Header header;
    in.read(header.bytes.data(), kBlock);
    if (in.gcount() != static_cast<std::streamsize>(kBlock)) {
      return "truncated bundle: archive ends after entry " + previous +
             " without an end-of-archive marker";
    }
    bool all_zero =
        std::all_of(header.bytes.begin(), header.bytes.end(), [](char c) { return c == 0; });
    if (all_zero) return {};  // end of archive (the second zero block is optional to readers)
    auto stored_sum = parse_number(header.bytes.data() + 148, 8);
    if (!stored_sum || *stored_sum != checksum_of(header)) {
      return "corrupt bundle: bad tar header checksum after entry " + previous;
    }
    auto size = parse_number(header.bytes.data() + 124, 12);
    if (!size) return "corrupt bundle: bad size field after entry " + previous;
    char type = header.bytes[156];
    std::string name = field_string(header.bytes.data(), 100);
    if (std::memcmp(header.bytes.data() + 257, "ustar", 5) == 0) {
      auto prefix = field_string(header.bytes.data() + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (!long_name.empty()) {
      name = long_name;
      long_name.clear();
    }
    while (name.starts_with("./")) name = name.substr(2);
    auto data_blocks = (*size + kBlock - 1) / kBlock * kBlock;

    if (type == 'x' || type == 'L' || type == 'g') {
      if (*size > (1 << 20))
        return "corrupt bundle: oversized extended header after entry " + previous;
      std::string extended(data_blocks, '\0');
      in.read(extended.data(), static_cast<std::streamsize>(data_blocks));
      if (in.gcount() != static_cast<std::streamsize>(data_blocks)) {
        return "truncated bundle: archive ends inside an extended header after entry " + previous;
      }
      extended.resize(*size);
      if (type == 'L') {
        long_name = extended.substr(0, extended.find('\0'));
      } else if (type == 'x') {
        // records: "<len> key=value\n"
        std::size_t pos = 0;
        while (pos < extended.size()) {
          auto space = extended.find(' ', pos);
          if (space == std::string::npos) break;
          auto length = std::strtoull(extended.c_str() + pos, nullptr, 10);
          if (length == 0 || pos + length > extended.size()) break;
          auto record = extended.substr(space + 1, pos + length - space - 2);
          if (record.starts_with("path=")) long_name = record.substr(5);
          pos += length;
        }
      }
      continue;
    }
    while (name.ends_with('/') && type == '5') name.pop_back();
    if (!safe_name(name)) return "corrupt bundle: unsafe entry name '" + name + "'";
    auto target = destination / name;
    if (type == '5') {
      std::error_code ec;
      std::filesystem::create_directories(target, ec);
      if (ec) return "cannot create " + target.string() + ": " + ec.message();
      if (entries != nullptr) entries->push_back({name, true, 0});
      previous = name;
      continue;
    }
    if (type != '0' && type != '\0') {
      return "unsupported tar entry type '" + std::string(1, type) + "' for " + name;
    }
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return "cannot create " + target.parent_path().string() + ": " + ec.message();
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (!out) return "cannot create " + target.string();
    std::uint64_t remaining = data_blocks;
    std::uint64_t content_left = *size;
    while (remaining > 0) {
      auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(remaining, buffer.size()));
      in.read(buffer.data(), want);
      auto got = in.gcount();
      auto keep = static_cast<std::streamsize>(
          std::min<std::uint64_t>(content_left, static_cast<std::uint64_t>(got)));
      out.write(buffer.data(), keep);
      content_left -= static_cast<std::uint64_t>(keep);
      remaining -= static_cast<std::uint64_t>(got);
      if (got != want) {
        return "truncated bundle: archive ends inside entry " + name + " (" +
               std::to_string(*size - content_left) + " of " + std::to_string(*size) + " bytes)";
      }
    }
    if (!out.flush()) return "writing " + target.string() + " failed";
    if (entries != nullptr) entries->push_back({name, false, *size});
    previous = name;
  }
}

}  // namespace regmirror::cache
