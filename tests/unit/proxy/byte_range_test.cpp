#include "proxy/registry/byte_range.hpp"

#include <gtest/gtest.h>

namespace regmirror::proxy::registry {
namespace {

using Kind = ByteRange::Kind;

TEST(ByteRange, NoHeaderMeansWhole) { EXPECT_EQ(parse_byte_range("", 100).kind, Kind::kWhole); }

TEST(ByteRange, ClosedOpenAndSuffixRanges) {
  auto closed = parse_byte_range("bytes=10-19", 100);
  EXPECT_EQ(closed.kind, Kind::kPartial);
  EXPECT_EQ(closed.first, 10u);
  EXPECT_EQ(closed.last, 19u);
  EXPECT_EQ(closed.length(), 10u);
  auto open = parse_byte_range("bytes=90-", 100);  // containerd 2.1 parallel chunks
  EXPECT_EQ(open.kind, Kind::kPartial);
  EXPECT_EQ(open.first, 90u);
  EXPECT_EQ(open.last, 99u);
  auto suffix = parse_byte_range("bytes=-5", 100);
  EXPECT_EQ(suffix.first, 95u);
  EXPECT_EQ(suffix.last, 99u);
  auto clamped = parse_byte_range("bytes=50-1000", 100);
  EXPECT_EQ(clamped.last, 99u);
  auto whole_suffix = parse_byte_range("bytes=-1000", 100);
  EXPECT_EQ(whole_suffix.first, 0u);
}

TEST(ByteRange, UnsatisfiableRanges) {
  EXPECT_EQ(parse_byte_range("bytes=100-", 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=200-300", 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=-0", 100).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(parse_byte_range("bytes=0-", 0).kind, Kind::kUnsatisfiable);
}

TEST(ByteRange, MalformedRanges) {
  for (const char* header : {"bytes=abc", "bytes=5-1", "items=0-1", "bytes=", "bytes=-", "bytes=1",
                             "bytes=+1-2", "bytes=1-2x", "bytes=99999999999999999999-",
                             "bytes=-1-2", "bytes 0-1"}) {
    EXPECT_EQ(parse_byte_range(header, 100).kind, Kind::kMalformed) << header;
  }
}

TEST(ByteRange, SeveralRangesAreServedWhole) {
  EXPECT_EQ(parse_byte_range("bytes=0-1,5-6", 100).kind, Kind::kWhole);
}

}  // namespace
}  // namespace regmirror::proxy::registry
