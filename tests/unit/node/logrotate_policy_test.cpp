#include "config/node/logrotate_policy.hpp"

#include <gtest/gtest.h>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::matches_golden;

TEST(LogrotatePolicy, DefaultPolicyMatchesGolden) {
  LogrotatePolicy policy;
  ASSERT_TRUE(validate(policy).has_value());
  EXPECT_TRUE(matches_golden("render/etc/logrotate.d/docker", render_logrotate_policy(policy)));
}

TEST(LogrotatePolicy, ValuesAreConfigurable) {
  LogrotatePolicy policy;
  policy.rotate = 3;
  policy.maxsize = "50M";
  policy.frequency = "hourly";
  policy.compress = false;
  ASSERT_TRUE(validate(policy).has_value());
  const std::string text = render_logrotate_policy(policy);
  EXPECT_NE(text.find("    rotate 3\n"), std::string::npos);
  EXPECT_NE(text.find("    maxsize 50M\n"), std::string::npos);
  EXPECT_NE(text.find("    hourly\n"), std::string::npos);
  EXPECT_EQ(text.find("compress\n    copytruncate"), std::string::npos);
  EXPECT_NE(text.find("copytruncate"), std::string::npos);
}

TEST(LogrotatePolicy, RejectsValuesLogrotateWouldNotAccept) {
  // Values are assigned as std::string: assigning a literal to a std::string member here trips
  // GCC 12's false -Wrestrict at -O3 (operator=(const char*) inlined into the lambda).
  using S = std::string;
  auto bad = [](auto mutate) {
    LogrotatePolicy p;
    mutate(p);
    return validate(p);
  };
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.frequency = S("often"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.maxsize = S("100 M"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.maxsize = S("0"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.rotate = -1; }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.path_glob = S("relative/*.log"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.path_glob = S("/a b/*.log"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.create_mode = S("0999"); }));
  EXPECT_FALSE(bad([](LogrotatePolicy& p) { p.dateformat = S("-%Y }"); }));
  auto message = bad([](LogrotatePolicy& p) { p.frequency = S("often"); });
  EXPECT_NE(message.error().message.find("often"), std::string::npos);
}

}  // namespace
}  // namespace regmirror::config::node
