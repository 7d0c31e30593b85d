#include "config/node/hosts_toml.hpp"

#include <gtest/gtest.h>

#include "config/node/registries_conf.hpp"
#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::matches_golden;

MirrorEndpoint mirror(const std::string& url) { return *parse_mirror_url(url); }

TEST(HostsToml, EveryDefaultRegistryMatchesItsGoldenFile) {
  for (const RegistryHost& registry : default_registry_hosts()) {
    EXPECT_TRUE(matches_golden("render/etc/containerd/certs.d/" + registry.name + "/hosts.toml",
                               render_hosts_toml(registry, mirror("http://10.0.0.5:30500"))))
        << registry.name;
  }
}

TEST(HostsToml, HttpsMirrorWithCaAndSkipVerifyMatchesGolden) {
  MirrorEndpoint m = mirror("https://mirror.internal.example:5443");
  m.ca_file = "/etc/regmirror/ca.crt";
  m.skip_verify = true;
  EXPECT_TRUE(matches_golden("hosts_toml/quay.io-https.toml",
                             render_hosts_toml({"quay.io", "https://quay.io"}, m)));
}

TEST(HostsToml, DockerPkgGithubFallsBackToGhcr) {
  for (const RegistryHost& registry : default_registry_hosts()) {
    if (registry.name != "docker.pkg.github.com") continue;
    EXPECT_NE(render_hosts_toml(registry, mirror("http://127.0.0.1:5000"))
                  .find("server = \"https://ghcr.io\""),
              std::string::npos);
    return;
  }
  FAIL() << "docker.pkg.github.com missing from the default registries";
}

TEST(HostsToml, MirrorHostHasPullAndResolveAndNoServerDuplicate) {
  const std::string text =
      render_hosts_toml({"docker.io", "https://registry-1.docker.io"}, mirror("http://m:1/"));
  EXPECT_NE(text.find("[host.\"http://m:1\"]\n  capabilities = [\"pull\", \"resolve\"]"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("skip_verify"), std::string::npos);
}

TEST(HostsToml, PathKeepsPortInDirectoryName) {
  EXPECT_EQ(hosts_toml_relative_path({"127.0.0.1:5000", "http://127.0.0.1:5000"}),
            "127.0.0.1:5000/hosts.toml");
}

TEST(RegistriesConf, DropInMatchesGolden) {
  EXPECT_TRUE(matches_golden(
      "render/etc/containers/registries.conf.d/50-regmirror.conf",
      render_registries_conf(default_registry_hosts(), mirror("http://10.0.0.5:30500"))));
}

TEST(RegistriesConf, HttpsMirrorIsNotMarkedInsecure) {
  const std::string text =
      render_registries_conf({{"quay.io", "https://quay.io"}}, mirror("https://m.example"));
  EXPECT_EQ(text.find("insecure"), std::string::npos);
  EXPECT_NE(text.find("location = \"m.example/quay.io\""), std::string::npos) << text;
}

TEST(MirrorEndpoint, AcceptsHostPortAndStripsTrailingSlash) {
  auto m = parse_mirror_url("HTTP://Mirror.Example:5000/");
  ASSERT_FALSE(m.has_value());  // scheme is case-sensitive on purpose: one spelling in files
  auto ok = parse_mirror_url("http://Mirror.Example:5000/");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->url, "http://mirror.example:5000");
  EXPECT_EQ(ok->host_port(), "mirror.example:5000");
  EXPECT_TRUE(ok->plain_http());
}

TEST(MirrorEndpoint, RefusesPathsQueriesCredentialsAndBadPorts) {
  for (const char* bad : {"mirror:5000", "ftp://m", "http://m/v2", "http://m?x=1", "http://u@m",
                          "http://m:99999999", "http://", "http://m:port", "http://m n"}) {
    auto m = parse_mirror_url(bad);
    EXPECT_FALSE(m.has_value()) << bad;
    if (!m) {
      EXPECT_NE(m.error().message.find("mirror URL"), std::string::npos) << bad;
    }
  }
}

TEST(MirrorEndpoint, RegistrySpecWithAndWithoutServer) {
  auto plain = parse_registry_spec("quay.io");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->server, "https://quay.io");
  auto custom = parse_registry_spec("127.0.0.1:5001=http://127.0.0.1:9");
  ASSERT_TRUE(custom.has_value()) << custom.error().message;
  EXPECT_EQ(custom->name, "127.0.0.1:5001");
  EXPECT_EQ(custom->server, "http://127.0.0.1:9");
  EXPECT_FALSE(parse_registry_spec("bad name").has_value());
  EXPECT_FALSE(parse_registry_spec("x.io=notaurl").has_value());
}

}  // namespace
}  // namespace regmirror::config::node
