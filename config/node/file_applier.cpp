#include "config/node/file_applier.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <system_error>
#include <vector>

#include "config/node/unified_diff.hpp"

namespace regmirror::config::node {
namespace {

std::string errno_text(int err) { return std::generic_category().message(err); }

// Closes a file descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

NodeResult<void> write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return node_error("cannot write " + what + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

NodeResult<void> fsync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return node_error("cannot fsync directory " + dir.string() + ": " + errno_text(errno));
  }
  return {};
}

// Writes data to a new file next to target and renames it over target.
NodeResult<void> atomic_replace(const std::filesystem::path& target, std::string_view data,
                                mode_t mode, std::optional<std::pair<uid_t, gid_t>> owner) {
  const std::filesystem::path dir = target.parent_path();
  // Hidden and ending in `~`: nothing that scans these directories reads a leftover temp file.
  std::string tmp_name(1, '.');
  tmp_name += target.filename().string();
  tmp_name += ".regmirror-tmp-";
  tmp_name += std::to_string(::getpid());
  tmp_name += '~';
  const std::filesystem::path tmp = dir / tmp_name;
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return node_error("cannot create " + tmp.string() + ": " + errno_text(errno));
  }
  auto fail = [&](NodeError e) -> NodeResult<void> {
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto w = write_all(fd.get(), data, tmp.string()); !w) return fail(w.error());
  // fchmod after creation: the umask must not narrow 0644 to 0600 on a root-owned node file.
  if (::fchmod(fd.get(), mode) != 0) {
    return fail(node_error("cannot chmod " + tmp.string() + ": " + errno_text(errno)));
  }
  if (owner && ::fchown(fd.get(), owner->first, owner->second) != 0 && errno != EPERM) {
    return fail(node_error("cannot chown " + tmp.string() + ": " + errno_text(errno)));
  }
  if (::fsync(fd.get()) != 0) {
    return fail(node_error("cannot fsync " + tmp.string() + ": " + errno_text(errno)));
  }
  if (::close(fd.release()) != 0) {
    return fail(node_error("cannot close " + tmp.string() + ": " + errno_text(errno)));
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    return fail(node_error("cannot rename " + tmp.string() + " to " + target.string() + ": " +
                           errno_text(errno)));
  }
  return fsync_dir(dir);
}

std::string utc_stamp(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{len} * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

FileApplier::FileApplier(std::filesystem::path root, Clock clock)
    : root_(std::move(root)), clock_(std::move(clock)) {}

std::filesystem::path FileApplier::host_path(std::string_view node_path) const {
  return root_ / std::filesystem::path(node_path).relative_path();
}

NodeResult<std::optional<std::string>> FileApplier::read(std::string_view node_path) const {
  const std::filesystem::path path = host_path(node_path);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::string>();
    return node_error("cannot stat " + path.string() + ": " + errno_text(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    return node_error(path.string() + " is a symlink; regmirror does not replace symlinks");
  }
  if (!S_ISREG(st.st_mode)) return node_error(path.string() + " is not a regular file");
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return node_error("cannot open " + path.string() + ": " + errno_text(errno));
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return node_error("cannot read " + path.string() + ": " + errno_text(errno));
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
  }
  return std::optional<std::string>(std::move(content));
}

NodeResult<FileOutcome> FileApplier::compare(const DesiredFile& file) const {
  auto current = read(file.node_path);
  if (!current) return current.error();
  FileOutcome outcome;
  outcome.node_path = file.node_path;
  outcome.new_sha256 = sha256_hex(file.content);
  if (!*current) {
    outcome.state = FileState::kMissing;
    outcome.diff = unified_diff("", file.content, file.node_path, /*old_exists=*/false);
    return outcome;
  }
  outcome.old_sha256 = sha256_hex(**current);
  if (outcome.old_sha256 == outcome.new_sha256) {
    outcome.state = FileState::kUnchanged;
    return outcome;
  }
  outcome.state = FileState::kDiffers;
  outcome.diff = unified_diff(**current, file.content, file.node_path);
  return outcome;
}

NodeResult<FileOutcome> FileApplier::write(const DesiredFile& file) const {
  auto current = read(file.node_path);
  if (!current) return current.error();
  FileOutcome outcome;
  outcome.node_path = file.node_path;
  outcome.new_sha256 = sha256_hex(file.content);
  const std::filesystem::path target = host_path(file.node_path);
  mode_t mode = static_cast<mode_t>(file.mode);
  std::optional<std::pair<uid_t, gid_t>> owner;
  if (*current) {
    outcome.old_sha256 = sha256_hex(**current);
    if (outcome.old_sha256 == outcome.new_sha256) return outcome;
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0) {
      mode = st.st_mode & 07777;
      owner = std::make_pair(st.st_uid, st.st_gid);
    }
    auto saved = backup(target, **current);
    if (!saved) return saved.error();
    outcome.backup_node_path =
        "/" + std::filesystem::path(*saved).lexically_relative(root_).generic_string();
    outcome.state = FileState::kUpdated;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return node_error("cannot create directory " + target.parent_path().string() + ": " +
                        ec.message());
    }
    outcome.state = FileState::kCreated;
  }
  if (auto w = atomic_replace(target, file.content, mode, owner); !w) return w.error();
  if (outcome.state == FileState::kUpdated) prune_backups(target);
  return outcome;
}

NodeResult<std::string> FileApplier::backup(const std::filesystem::path& target,
                                            const std::string& content) const {
  const std::string base = target.filename().string() + ".regmirror-" + utc_stamp(clock_());
  std::filesystem::path path = target.parent_path() / (base + "~");
  for (int n = 1; std::filesystem::exists(path); ++n) {
    path = target.parent_path() / (base + "." + std::to_string(n) + "~");
  }
  // Copying (instead of hard-linking the old inode) keeps the backup intact even if some other
  // tool later edits the live file in place.
  struct stat st {};
  mode_t mode = ::stat(target.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
  if (auto w = atomic_replace(path, content, mode, std::nullopt); !w) {
    return node_error("cannot back up " + target.string() + ": " + w.error().message);
  }
  return path.string();
}

void FileApplier::prune_backups(const std::filesystem::path& target) const {
  const std::string prefix = target.filename().string() + ".regmirror-";
  std::vector<std::filesystem::path> backups;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(target.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix) && name.ends_with("~")) backups.push_back(entry.path());
  }
  if (backups.size() <= static_cast<size_t>(kBackupsKept)) return;
  // Oldest first: by UTC stamp, then by the `.N` suffix added within one second.
  auto key = [&](const std::filesystem::path& p) {
    std::string rest = p.filename().string().substr(prefix.size());
    rest.pop_back();  // '~'
    auto dot = rest.find('.');
    int n = dot == std::string::npos ? 0 : std::atoi(rest.c_str() + dot + 1);
    return std::make_pair(rest.substr(0, dot), n);
  };
  std::sort(backups.begin(), backups.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  for (size_t i = 0; i + kBackupsKept < backups.size(); ++i) {
    std::filesystem::remove(backups[i], ec);
  }
}

}  // namespace regmirror::config::node
