#include "config/digest_blocklist.hpp"

#include <gtest/gtest.h>

namespace regmirror::config {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');

TEST(DigestBlocklistTest, ParsesDigestsCommentsAndBlankLines) {
  auto parsed = parse_digest_blocklist("# known bad\n\n" + kA + "  # CVE-x\r\n  " + kB + "\n", "f");
  EXPECT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.digests.size(), 2U);
  EXPECT_TRUE(parsed.digests.count(kA));
  EXPECT_TRUE(parsed.digests.count(kB));
}

TEST(DigestBlocklistTest, MalformedLineNamesItsNumber) {
  auto parsed = parse_digest_blocklist(kA + "\n# ok\nsha256:abc\n", "/etc/blocked");
  EXPECT_TRUE(parsed.digests.empty());
  EXPECT_EQ(parsed.error.rfind("/etc/blocked:3: ", 0), 0U) << parsed.error;
  EXPECT_NE(parse_digest_blocklist("md5:" + std::string(32, 'a'), "f").error.find("f:1: unknown"),
            std::string::npos);
  EXPECT_NE(parse_digest_blocklist("sha256:" + std::string(64, 'A'), "f").error, "");
  EXPECT_NE(parse_digest_blocklist("library/alpine", "f").error, "");
}

TEST(DigestBlocklistTest, MissingFileIsAnError) {
  EXPECT_NE(read_digest_blocklist("/nonexistent/blocked").error.find("cannot read"), std::string::npos);
}

TEST(DigestBlocklistTest, ReplaceSwapsTheWholeList) {
  DigestBlocklist list;
  EXPECT_FALSE(list.blocked(kA));
  list.replace({kA});
  EXPECT_TRUE(list.blocked(kA));
  EXPECT_FALSE(list.blocked(kB));
  list.replace({kB});
  EXPECT_FALSE(list.blocked(kA));
  EXPECT_TRUE(list.blocked(kB));
  EXPECT_EQ(list.size(), 1U);
}

}  // namespace
}  // namespace regmirror::config
