#include "config/node/grub_defaults.hpp"

#include <gtest/gtest.h>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

std::string add(const std::string& text) {
  auto edit = add_grub_kernel_arg(text, kNokmemArg);
  EXPECT_TRUE(edit.has_value()) << edit.error().message;
  if (!edit) return {};
  EXPECT_EQ(edit->changed, edit->text != text);
  // Never twice: a second pass is a no-op.
  auto again = add_grub_kernel_arg(edit->text, kNokmemArg);
  EXPECT_TRUE(again.has_value());
  if (again) {
    EXPECT_FALSE(again->changed) << edit->text;
    EXPECT_EQ(again->text, edit->text);
  }
  return edit->text;
}

TEST(GrubDefaults, DebianFileWithoutTheArgGetsItAppendedInsideTheQuotes) {
  const std::string input = testing::read_golden("grub/debian.in");
  ASSERT_FALSE(input.empty());
  EXPECT_TRUE(testing::matches_golden("grub/debian.out", add(input)));
}

TEST(GrubDefaults, EmptyValueGetsTheArgWithoutLeadingSpace) {
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"\"\n"), "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n");
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\n"), "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n");
}

TEST(GrubDefaults, ArgAlreadyPresentChangesNothing) {
  const std::string text =
      "GRUB_CMDLINE_LINUX=\"crashkernel=auto cgroup.memory=nokmem rhgb quiet\"\n";
  auto edit = add_grub_kernel_arg(text, kNokmemArg);
  ASSERT_TRUE(edit.has_value());
  EXPECT_FALSE(edit->changed);
  EXPECT_EQ(edit->text, text);
}

TEST(GrubDefaults, ArgInsideACommaListCounts) {
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"cgroup.memory=nosocket,nokmem\"\n"),
            "GRUB_CMDLINE_LINUX=\"cgroup.memory=nosocket,nokmem\"\n");
  // A different option of the same key is not ours: add ours as its own argument.
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"cgroup.memory=nosocket\"\n"),
            "GRUB_CMDLINE_LINUX=\"cgroup.memory=nosocket cgroup.memory=nokmem\"\n");
}

TEST(GrubDefaults, ArgInCmdlineDefaultCountsAsPresent) {
  const std::string text =
      "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet cgroup.memory=nokmem\"\nGRUB_CMDLINE_LINUX=\"\"\n";
  EXPECT_EQ(add(text), text);
}

TEST(GrubDefaults, SingleQuotesAndUnquotedValuesKeepTheirMeaning) {
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX='console=ttyS0,115200n8 quiet'\n"),
            "GRUB_CMDLINE_LINUX='console=ttyS0,115200n8 quiet cgroup.memory=nokmem'\n");
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=quiet\n"),
            "GRUB_CMDLINE_LINUX=\"quiet cgroup.memory=nokmem\"\n");
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"a \\\"b c\\\"\" # quoted quotes\n"),
            "GRUB_CMDLINE_LINUX=\"a \\\"b c\\\" cgroup.memory=nokmem\" # quoted quotes\n");
  EXPECT_EQ(add("  export GRUB_CMDLINE_LINUX=\"quiet\"\n"),
            "  export GRUB_CMDLINE_LINUX=\"quiet cgroup.memory=nokmem\"\n");
}

TEST(GrubDefaults, MissingLineIsAppended) {
  EXPECT_EQ(add("GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n#GRUB_CMDLINE_LINUX=\"x\"\n"),
            "GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n#GRUB_CMDLINE_LINUX=\"x\"\n"
            "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n");
  EXPECT_EQ(add("GRUB_TIMEOUT=5"), "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n");
  EXPECT_EQ(add(""), "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n");
}

TEST(GrubDefaults, CrlfFileKeepsCrlfAndTheArgStaysInsideTheQuotes) {
  EXPECT_EQ(add("GRUB_TIMEOUT=5\r\nGRUB_CMDLINE_LINUX=\"quiet splash\"\r\nGRUB_X=1\r\n"),
            "GRUB_TIMEOUT=5\r\nGRUB_CMDLINE_LINUX=\"quiet splash cgroup.memory=nokmem\"\r\n"
            "GRUB_X=1\r\n");
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=quiet\r\n"),
            "GRUB_CMDLINE_LINUX=\"quiet cgroup.memory=nokmem\"\r\n");
  EXPECT_EQ(add("GRUB_TIMEOUT=5\r\n"),
            "GRUB_TIMEOUT=5\r\nGRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\r\n");
}

TEST(GrubDefaults, LastAssignmentWinsAndSelfReferencesAreFollowed) {
  // The shell keeps the last value: edit that one.
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"b\"\n"),
            "GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"b cgroup.memory=nokmem\"\n");
  // An earlier value carried on by $GRUB_CMDLINE_LINUX is still in effect.
  const std::string carried =
      "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n"
      "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX quiet\"\n";
  EXPECT_EQ(add(carried), carried);
  // Overwritten without the self-reference: no longer in effect.
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\nGRUB_CMDLINE_LINUX=\"quiet\"\n"),
            "GRUB_CMDLINE_LINUX=\"cgroup.memory=nokmem\"\n"
            "GRUB_CMDLINE_LINUX=\"quiet cgroup.memory=nokmem\"\n");
}

TEST(GrubDefaults, MultiLineQuotedValue) {
  EXPECT_EQ(add("GRUB_CMDLINE_LINUX=\"quiet\n  splash\"\nGRUB_X=1\n"),
            "GRUB_CMDLINE_LINUX=\"quiet\n  splash cgroup.memory=nokmem\"\nGRUB_X=1\n");
}

TEST(GrubDefaults, UnterminatedQuoteIsRefused) {
  auto edit = add_grub_kernel_arg("GRUB_CMDLINE_LINUX=\"quiet\nGRUB_X=1\n", kNokmemArg);
  ASSERT_FALSE(edit.has_value());
  EXPECT_NE(edit.error().message.find("unterminated"), std::string::npos);
}

TEST(GrubDefaults, CmdlineHasArg) {
  EXPECT_TRUE(cmdline_has_arg("BOOT_IMAGE=/vmlinuz ro cgroup.memory=nokmem quiet\n", kNokmemArg));
  EXPECT_TRUE(cmdline_has_arg("cgroup.memory=nosocket,nokmem", kNokmemArg));
  EXPECT_FALSE(cmdline_has_arg("BOOT_IMAGE=/vmlinuz ro quiet\n", kNokmemArg));
  EXPECT_FALSE(cmdline_has_arg("xcgroup.memory=nokmem", kNokmemArg));
  EXPECT_FALSE(cmdline_has_arg("cgroup.memory=nokmemx", kNokmemArg));
  EXPECT_TRUE(cmdline_has_arg("a quiet b", "quiet"));
}

}  // namespace
}  // namespace regmirror::config::node
