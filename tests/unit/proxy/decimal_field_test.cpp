#include "proxy/server/decimal_field.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::server {
namespace {

TEST(DecimalField, AcceptsPlainDigitsUpToTheLimit) {
  EXPECT_EQ(parse_decimal_field("0"), 0U);
  EXPECT_EQ(parse_decimal_field("268435456"), 268435456U);
  EXPECT_EQ(parse_decimal_field("9999999999999999999"), 9999999999999999999ULL);  // 19 digits
  EXPECT_EQ(parse_decimal_field("000120", 6), 120U);
}

TEST(DecimalField, RefusesEverythingElse) {
  // What an upstream or a client may send instead of a Content-Length / Retry-After / ?n=.
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "12a", "1.5",
                          "18446744073709551616", "99999999999999999999"}) {
    EXPECT_FALSE(parse_decimal_field(bad)) << "'" << bad << "'";
  }
  EXPECT_FALSE(parse_decimal_field("1234567", 6));  // more digits than the caller allows
  EXPECT_FALSE(parse_decimal_field("1", 20));        // a limit that could overflow is refused
}

}  // namespace
}  // namespace regmirror::proxy::server
