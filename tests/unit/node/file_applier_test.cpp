#include "config/node/file_applier.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::slurp;
using testing::spit;
using testing::TempDir;

// A clock that advances one second per call, so backups get distinct names.
FileApplier::Clock ticking_clock() {
  auto t = std::make_shared<std::chrono::system_clock::time_point>(
      std::chrono::sys_days{std::chrono::year{2025} / 1 / 2} + std::chrono::hours{3});
  return [t] { return *t += std::chrono::seconds(1); };
}

std::vector<std::string> backups_in(const std::filesystem::path& dir, const std::string& name) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string f = e.path().filename().string();
    if (f.starts_with(name + ".regmirror-")) found.push_back(f);
  }
  std::sort(found.begin(), found.end());
  return found;
}

TEST(FileApplier, Sha256OfKnownInput) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileApplier, CreatesFileWithParentsAndModeThenLeavesItAlone) {
  TempDir root;
  FileApplier applier(root.path(), ticking_clock());
  DesiredFile file{"/etc/containerd/certs.d/docker.io/hosts.toml", "server = \"x\"\n"};
  auto first = applier.write(file);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->state, FileState::kCreated);
  const auto host = root.path() / "etc/containerd/certs.d/docker.io/hosts.toml";
  EXPECT_EQ(slurp(host), file.content);
  struct stat st {};
  ASSERT_EQ(::stat(host.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  auto second = applier.write(file);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->state, FileState::kUnchanged);
  EXPECT_TRUE(backups_in(host.parent_path(), "hosts.toml").empty());
  // No temp file is left next to the target.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(host.parent_path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(FileApplier, ReplacingKeepsABackupAndTheOldModeNamedWithTilde) {
  TempDir root;
  const auto host = root.path() / "etc/logrotate.d/docker";
  spit(host, "old\n");
  ::chmod(host.c_str(), 0640);
  FileApplier applier(root.path(), ticking_clock());
  auto outcome = applier.write({"/etc/logrotate.d/docker", "new\n"});
  ASSERT_TRUE(outcome.has_value()) << outcome.error().message;
  EXPECT_EQ(outcome->state, FileState::kUpdated);
  EXPECT_EQ(outcome->old_sha256, sha256_hex("old\n"));
  EXPECT_EQ(slurp(host), "new\n");
  EXPECT_EQ(outcome->backup_node_path, "/etc/logrotate.d/docker.regmirror-20250102T030001Z~");
  EXPECT_EQ(slurp(applier.host_path(outcome->backup_node_path)), "old\n");
  struct stat st {};
  ASSERT_EQ(::stat(host.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(FileApplier, KeepsOnlyTheNewestBackups) {
  TempDir root;
  FileApplier applier(root.path(), ticking_clock());
  for (int i = 0; i < FileApplier::kBackupsKept + 4; ++i) {
    std::string content = std::string(1, 'v').append(std::to_string(i)).append(1, '\n');
    ASSERT_TRUE(applier.write({"/etc/f", content}).has_value());
  }
  auto backups = backups_in(root.path() / "etc", "f");
  ASSERT_EQ(backups.size(), static_cast<size_t>(FileApplier::kBackupsKept));
  // The oldest kept backup holds the version written kBackupsKept+4-1-kBackupsKept = 3rd.
  EXPECT_EQ(slurp(root.path() / "etc" / backups.front()), "v3\n");
  EXPECT_EQ(slurp(root.path() / "etc" / backups.back()), "v7\n");
}

TEST(FileApplier, CompareReportsMissingAndDiffers) {
  TempDir root;
  FileApplier applier(root.path());
  auto missing = applier.compare({"/etc/x", "a\n"});
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->state, FileState::kMissing);
  EXPECT_NE(missing->diff.find("+a"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(root.path() / "etc/x"));

  spit(root.path() / "etc/x", "b\n");
  auto differs = applier.compare({"/etc/x", "a\n"});
  ASSERT_TRUE(differs.has_value());
  EXPECT_EQ(differs->state, FileState::kDiffers);
  EXPECT_EQ(differs->diff, "--- a/etc/x\n+++ b/etc/x\n@@ -1 +1 @@\n-b\n+a\n");
  EXPECT_EQ(slurp(root.path() / "etc/x"), "b\n");
}

TEST(FileApplier, RefusesToReplaceASymlink) {
  TempDir root;
  spit(root.path() / "elsewhere", "x\n");
  std::filesystem::create_directories(root.path() / "etc");
  std::filesystem::create_symlink(root.path() / "elsewhere", root.path() / "etc/daemon.json");
  FileApplier applier(root.path());
  auto outcome = applier.write({"/etc/daemon.json", "{}\n"});
  ASSERT_FALSE(outcome.has_value());
  EXPECT_NE(outcome.error().message.find("symlink"), std::string::npos);
  EXPECT_EQ(slurp(root.path() / "elsewhere"), "x\n");
}

TEST(FileApplier, ParentThatIsAFileIsAnError) {
  TempDir root;
  spit(root.path() / "etc", "not a dir\n");
  FileApplier applier(root.path());
  auto outcome = applier.write({"/etc/x", "a\n"});
  ASSERT_FALSE(outcome.has_value());
  EXPECT_NE(outcome.error().message.find((root.path() / "etc").string()), std::string::npos)
      << outcome.error().message;
}

}  // namespace
}  // namespace regmirror::config::node
