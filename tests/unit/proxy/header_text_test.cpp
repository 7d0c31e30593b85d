#include "proxy/upstream/header_text.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::upstream {
namespace {

TEST(HeaderText, FollowsStatusLinesFieldsAndTheEndOfTheHead) {
  long status = 0;
  HeaderFields fields;
  EXPECT_EQ(apply_header_line("HTTP/1.1 100 Continue\r\n", status, fields), HeaderLine::kStatus);
  EXPECT_EQ(status, 100);
  EXPECT_EQ(apply_header_line("\r\n", status, fields), HeaderLine::kEndOfHead);
  EXPECT_EQ(apply_header_line("HTTP/1.1 307 Temporary Redirect\r\n", status, fields),
            HeaderLine::kStatus);
  EXPECT_EQ(apply_header_line("Location:  https://cdn/x \r\n", status, fields), HeaderLine::kField);
  EXPECT_EQ(apply_header_line("X-Weird\r\n", status, fields), HeaderLine::kField);  // ignored
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"location", "https://cdn/x"}));
  // The next hop's status line forgets the previous hop's fields.
  EXPECT_EQ(apply_header_line("HTTP/2 200\r\n", status, fields), HeaderLine::kStatus);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(fields.empty());
  EXPECT_EQ(apply_header_line("HTTP/garbage", status, fields), HeaderLine::kStatus);
  EXPECT_EQ(status, 0);
}

}  // namespace
}  // namespace regmirror::proxy::upstream
