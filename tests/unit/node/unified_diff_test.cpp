#include "config/node/unified_diff.hpp"

#include <gtest/gtest.h>

namespace regmirror::config::node {
namespace {

TEST(UnifiedDiff, EqualTextsGiveNothing) { EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "/f"), ""); }

TEST(UnifiedDiff, OneChangedLineWithContext) {
  EXPECT_EQ(unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nfive\n6\n7\n8\n", "/etc/x"),
            "--- a/etc/x\n+++ b/etc/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(UnifiedDiff, NewFileIsAllAdditions) {
  EXPECT_EQ(unified_diff("", "a\nb\n", "/etc/new", /*old_exists=*/false),
            "--- /dev/null\n+++ b/etc/new\n@@ -0,0 +1,2 @@\n+a\n+b\n");
}

TEST(UnifiedDiff, DistantChangesMakeTwoHunks) {
  std::string a;
  std::string b;
  for (int i = 1; i <= 20; ++i) {
    a += std::to_string(i) + "\n";
    b += (i == 2 || i == 18 ? "x" : std::to_string(i)) + "\n";
  }
  const std::string diff = unified_diff(a, b, "/f");
  EXPECT_NE(diff.find("@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+x\n 19\n 20\n"), std::string::npos)
      << diff;
}

TEST(UnifiedDiff, MissingFinalNewlineIsShown) {
  EXPECT_EQ(unified_diff("a", "a\n", "/f"),
            "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n");
}

}  // namespace
}  // namespace regmirror::config::node
