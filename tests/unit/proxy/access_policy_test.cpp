#include "proxy/server/access_policy.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace regmirror::proxy::server {
namespace {

namespace ip = boost::asio::ip;

TEST(AccessPolicyTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  config::AccessConfig config;
  config.trusted_proxies = {"10.0.0.0/8"};
  AccessPolicy policy(config);
  auto proxy = ip::make_address("10.1.2.3");
  auto stranger = ip::make_address("192.0.2.1");
  EXPECT_EQ(policy.client_address(stranger, "198.51.100.7").to_string(), "192.0.2.1");
  EXPECT_EQ(policy.client_address(proxy, "").to_string(), "10.1.2.3");
  EXPECT_EQ(policy.client_address(proxy, "198.51.100.7").to_string(), "198.51.100.7");
  // Rightmost untrusted hop wins; what the client claims left of it is ignored.
  EXPECT_EQ(policy.client_address(proxy, "1.1.1.1, 198.51.100.7, 10.9.9.9").to_string(),
            "198.51.100.7");
  // Garbage stops the walk at the last good hop.
  EXPECT_EQ(policy.client_address(proxy, "junk, 10.9.9.9").to_string(), "10.9.9.9");
}

TEST(AccessPolicyTest, NoTrustedProxiesMeansThePeer) {
  AccessPolicy policy(config::AccessConfig{});
  auto peer = ip::make_address("127.0.0.1");
  EXPECT_EQ(policy.client_address(peer, "198.51.100.7").to_string(), "127.0.0.1");
  EXPECT_EQ(policy.authenticate(""), std::optional<std::string>(""));
}

TEST(AccessPolicyTest, TokensHaveNamesOrAHashLabel) {
  auto path = ::testing::TempDir() + "/regmirror-tokens-test";
  {
    std::ofstream out(path);
    out << "# tokens\nsecret-one ci-bot\nsecret-two\n";
  }
  config::AccessConfig config;
  config.tokens_file = path;
  AccessPolicy policy(config);
  EXPECT_EQ(policy.authenticate("Bearer secret-one"), std::optional<std::string>("ci-bot"));
  auto unnamed = policy.authenticate("Bearer secret-two");
  ASSERT_TRUE(unnamed);
  EXPECT_EQ(unnamed->rfind("token:", 0), 0U);
  EXPECT_EQ(unnamed->size(), 14U);
  EXPECT_EQ(unnamed->find("secret"), std::string::npos);  // never the token itself
  EXPECT_FALSE(policy.authenticate("Bearer ci-bot"));
  EXPECT_FALSE(policy.authenticate(""));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace regmirror::proxy::server
