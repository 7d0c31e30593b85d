#pragma once
// Writes node files under a host root (a DaemonSet sees the node at /host) so that a crash or a
// concurrent reader never sees half a file, and an operator can always get the old one back.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

// What a changed file asks of the services that read it. regmirror only reports these.
enum class FileEffect {
  kNone,               // re-read on use (hosts.toml, logrotate policy, registries.conf for podman)
  kContainerdRestart,  // config.toml is read at start-up only
  kDockerReload,       // registry-mirrors is reloaded on SIGHUP (systemctl reload docker)
  kCrioReload,         // CRI-O re-reads registries.conf on SIGHUP (systemctl reload crio)
  kGrubRegenerate,     // grub.cfg must be regenerated, then the node rebooted
};

struct DesiredFile {
  std::string node_path;  // absolute path as the node sees it, e.g. /etc/docker/daemon.json
  std::string content;
  std::filesystem::perms mode = static_cast<std::filesystem::perms>(0644);  // for new files
  FileEffect effect = FileEffect::kNone;
};

enum class FileState { kUnchanged, kMissing, kDiffers, kCreated, kUpdated };

struct FileOutcome {
  std::string node_path;
  FileState state = FileState::kUnchanged;
  std::string old_sha256;  // hex; empty when the file did not exist
  std::string new_sha256;
  std::string backup_node_path;  // set when an existing file was replaced
  std::string diff;              // set by compare() when the file differs
};

// SHA-256 of bytes as lowercase hex.
std::string sha256_hex(std::string_view bytes);

class FileApplier {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // How many backups of one file are kept; a node whose file keeps being changed by someone
  // else must not fill /etc with copies.
  static constexpr int kBackupsKept = 5;

  explicit FileApplier(std::filesystem::path root, Clock clock = std::chrono::system_clock::now);

  // The host path of a node path (root + node path).
  std::filesystem::path host_path(std::string_view node_path) const;

  // Current content; nullopt when the file does not exist. Error when it exists but cannot be
  // read, or is not a regular file.
  NodeResult<std::optional<std::string>> read(std::string_view node_path) const;

  // Compares by SHA-256; kUnchanged, kMissing or kDiffers with a unified diff.
  NodeResult<FileOutcome> compare(const DesiredFile& file) const;

  // Writes only when the content differs: temp file in the same directory, fsync, rename over
  // the old file, fsync the directory. A replaced file is first copied to
  // `<name>.regmirror-<UTC time>~` (the `~` keeps logrotate from reading backups in
  // /etc/logrotate.d); its mode and owner carry over to the new file. Symlinks are refused
  // rather than replaced. Parent directories are created (0755).
  NodeResult<FileOutcome> write(const DesiredFile& file) const;

 private:
  NodeResult<std::string> backup(const std::filesystem::path& target,
                                 const std::string& content) const;
  void prune_backups(const std::filesystem::path& target) const;

  std::filesystem::path root_;
  Clock clock_;
};

}  // namespace regmirror::config::node
