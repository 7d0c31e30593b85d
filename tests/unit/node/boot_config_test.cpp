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

}  // namespace
}  // namespace regmirror::config::node
