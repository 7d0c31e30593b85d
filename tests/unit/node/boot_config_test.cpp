#include "config/node/boot_config.hpp"

#include <gtest/gtest.h>

#include "config/node/grub_defaults.hpp"
#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::spit;
using testing::TempDir;

void make_executable(const std::filesystem::path& p) {
  spit(p, "#!/bin/sh\nexit 0\n");
  std::filesystem::permissions(p, std::filesystem::perms::owner_all);
}

TEST(BootConfig, NoToolUnderAnEmptyRoot) {
  TempDir root;
  EXPECT_FALSE(find_grub_tool(root.path()).has_value());
}

TEST(BootConfig, PrefersUpdateGrubAndChrootsIntoAForeignRoot) {
  TempDir root;
  make_executable(root.path() / "usr/sbin/grub2-mkconfig");
  auto rhel = find_grub_tool(root.path());
  ASSERT_TRUE(rhel.has_value());
  EXPECT_EQ(rhel->argv,
            (std::vector<std::string>{"chroot", root.path().string(), "/usr/sbin/grub2-mkconfig",
                                      "-o", "/boot/grub2/grub.cfg"}));
  make_executable(root.path() / "usr/sbin/update-grub");
  auto debian = find_grub_tool(root.path());
  ASSERT_TRUE(debian.has_value());
  EXPECT_EQ(debian->display, "update-grub");
}

TEST(BootConfig, GrubCfgLinuxLinesDecideWhetherTheArgIsConfigured) {
  TempDir root;
  EXPECT_FALSE(boot_config_has_arg(root.path(), kNokmemArg).has_value());
  spit(root.path() / "boot/grub/grub.cfg",
       "menuentry 'Debian' {\n\tlinux\t/vmlinuz root=UUID=1 ro quiet\n}\n");
  EXPECT_EQ(boot_config_has_arg(root.path(), kNokmemArg), std::optional<bool>(false));
  spit(root.path() / "boot/grub/grub.cfg",
       "menuentry 'Debian' {\n\tlinux\t/vmlinuz root=UUID=1 ro cgroup.memory=nokmem quiet\n}\n");
  EXPECT_EQ(boot_config_has_arg(root.path(), kNokmemArg), std::optional<bool>(true));
}

TEST(BootConfig, RunningKernelArgIsReadFromProcCmdlineAndAnUnreadableFileIsAnError) {
  TempDir dir;
  spit(dir.path() / "cmdline", "BOOT_IMAGE=/vmlinuz ro cgroup.memory=nosocket,nokmem\n");
  auto has = running_kernel_has_arg(dir.path() / "cmdline", kNokmemArg);
  ASSERT_TRUE(has.has_value());
  EXPECT_TRUE(*has);
  spit(dir.path() / "cmdline", "BOOT_IMAGE=/vmlinuz ro\n");
  EXPECT_FALSE(*running_kernel_has_arg(dir.path() / "cmdline", kNokmemArg));
  auto missing = running_kernel_has_arg(dir.path() / "nope", kNokmemArg);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().message, "cannot read " + (dir.path() / "nope").string());
}

TEST(BootConfig, GrubRegenerationRunsTheToolOnlyWhenNeededAndAllowed) {
  TempDir root;
  spit(root.path() / "boot/grub/grub.cfg", "linux /vmlinuz ro cgroup.memory=nokmem\n");
  EXPECT_EQ(plan_grub_regeneration(root.path(), kNokmemArg, false, true).step, GrubStep::kNone);
  EXPECT_EQ(plan_grub_regeneration(root.path(), kNokmemArg, true, true).step, GrubStep::kNoTool);
  EXPECT_EQ(plan_grub_regeneration(root.path(), kNokmemArg, true, false).step,
            GrubStep::kNotAllowed);
  spit(root.path() / "boot/grub/grub.cfg", "linux /vmlinuz ro\n");
  make_executable(root.path() / "usr/sbin/update-grub");
  auto run = plan_grub_regeneration(root.path(), kNokmemArg, false, true);
  EXPECT_EQ(run.step, GrubStep::kRunTool);
  EXPECT_EQ(run.tool.display, "update-grub");
}

}  // namespace
}  // namespace regmirror::config::node
