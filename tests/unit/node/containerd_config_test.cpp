#include "config/node/containerd_config.hpp"

#include <gtest/gtest.h>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::matches_golden;
using testing::read_golden;

constexpr std::string_view kCerts = "/etc/containerd/certs.d";

TEST(ContainerdConfig, FragmentsMatchGolden) {
  EXPECT_TRUE(matches_golden("render/containerd-config-path-v2.toml",
                             render_containerd_fragment(ContainerdConfigVersion::kV2, kCerts)));
  EXPECT_TRUE(matches_golden("render/containerd-config-path-v3.toml",
                             render_containerd_fragment(ContainerdConfigVersion::kV3, kCerts)));
}

// Each case: golden input config.toml -> golden output; applying twice changes nothing more.
class ContainerdConfigEditCase : public ::testing::TestWithParam<std::string> {};

TEST_P(ContainerdConfigEditCase, EditMatchesGoldenAndIsIdempotent) {
  const std::string input = read_golden("containerd/" + GetParam() + ".in.toml");
  ASSERT_FALSE(input.empty() && GetParam() != "empty");
  auto edit = enable_config_path(input, kCerts);
  ASSERT_TRUE(edit.has_value()) << edit.error().message;
  EXPECT_TRUE(edit->changed);
  EXPECT_TRUE(matches_golden("containerd/" + GetParam() + ".out.toml", edit->text));
  auto again = enable_config_path(edit->text, kCerts);
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->text, edit->text);
}

INSTANTIATE_TEST_SUITE_P(Cases, ContainerdConfigEditCase,
                         ::testing::Values("debian-1.6", "default-empty-config-path",
                                           "other-config-path", "v3", "empty", "crlf"));

TEST(ContainerdConfig, DetectsVersionThree) {
  auto edit = enable_config_path("version = 3\n", kCerts);
  ASSERT_TRUE(edit.has_value());
  EXPECT_EQ(edit->version, ContainerdConfigVersion::kV3);
  EXPECT_NE(edit->text.find(R"([plugins."io.containerd.cri.v1.images".registry])"),
            std::string::npos);
}

TEST(ContainerdConfig, RefusesMirrorsTablesThatContainerdRejectsWithConfigPath) {
  const std::string text =
      "version = 2\n"
      "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n"
      "  endpoint = [\"https://mirror.gcr.io\"]\n";
  auto edit = enable_config_path(text, kCerts);
  ASSERT_FALSE(edit.has_value());
  EXPECT_NE(edit.error().message.find("mirrors"), std::string::npos);
}

TEST(ContainerdConfig, AcceptsEmptyMirrorsTableAsWrittenByConfigDefault) {
  const std::string text =
      "version = 2\n"
      "[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
      "  config_path = \"\"\n"
      "  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors]\n";
  auto edit = enable_config_path(text, kCerts);
  ASSERT_TRUE(edit.has_value()) << edit.error().message;
  EXPECT_NE(edit->text.find("config_path = \"/etc/containerd/certs.d\""), std::string::npos);
}

TEST(ContainerdConfig, RefusesRegistryTlsConfigs) {
  auto edit = enable_config_path(
      "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.io\".tls]\n"
      "  insecure_skip_verify = true\n",
      kCerts);
  ASSERT_FALSE(edit.has_value());
  EXPECT_NE(edit.error().message.find("TLS"), std::string::npos);
}

TEST(ContainerdConfig, RefusesVersionOneAndUnknownVersions) {
  EXPECT_FALSE(enable_config_path("[plugins.cri]\n  sandbox_image = \"x\"\n", kCerts));
  EXPECT_FALSE(enable_config_path("version = 7\n", kCerts));
}

TEST(ContainerdConfig, DottedConfigPathInPluginTableIsUpdatedInPlace) {
  const std::string text =
      "version = 2\n"
      "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
      "  registry.config_path = \"\"  # set by regmirror\n";
  auto edit = enable_config_path(text, kCerts);
  ASSERT_TRUE(edit.has_value()) << edit.error().message;
  EXPECT_EQ(edit->text,
            "version = 2\n"
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
            "  registry.config_path = \"/etc/containerd/certs.d\"  # set by regmirror\n");
}

}  // namespace
}  // namespace regmirror::config::node
