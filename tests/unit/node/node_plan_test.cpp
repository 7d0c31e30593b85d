// render_node_bundle (what `node render` writes) and change_effects (what a pass's changes ask
// of the services). build_node_plan is covered per containerd version in
// containerd_versions_test.cpp and end to end in node_command_test.cpp.
#include "config/node/node_plan.hpp"

#include <gtest/gtest.h>

namespace regmirror::config::node {
namespace {

MirrorEndpoint mirror() { return *parse_mirror_url("http://10.0.0.5:30500"); }

TEST(NodeBundle, HasEveryHostsTomlBothContainerdFragmentsAndTheOtherRuntimesFiles) {
  NodeOptions options;
  options.registries = {{"docker.io", "https://registry-1.docker.io"},
                        {"quay.io", "https://quay.io"}};
  auto files = render_node_bundle(options, mirror(), "");
  ASSERT_TRUE(files.has_value()) << files.error().message;
  std::vector<std::string> paths;
  for (const DesiredFile& f : *files) paths.push_back(f.node_path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{
                "/etc/containerd/certs.d/docker.io/hosts.toml",
                "/etc/containerd/certs.d/quay.io/hosts.toml", "/containerd-config-path-v2.toml",
                "/containerd-config-path-v3.toml", "/etc/docker/daemon.json",
                "/etc/containers/registries.conf.d/50-regmirror.conf", "/etc/logrotate.d/docker"}));
  EXPECT_NE((*files)[4].content.find("http://10.0.0.5:30500"), std::string::npos);
}

TEST(NodeBundle, AnInvalidDaemonJsonBaseRendersNothing) {
  auto files = render_node_bundle(NodeOptions{}, mirror(), "{\"debug\": true,,}");
  ASSERT_FALSE(files.has_value());
  EXPECT_NE(files.error().message.find("not valid JSON"), std::string::npos);
}

TEST(ChangeEffects, HostsTomlNeedsNothingAndEachServiceEffectIsNamedOnceInOrder) {
  NodeOptions options;
  DesiredFile hosts{"/etc/containerd/certs.d/quay.io/hosts.toml", ""};
  DesiredFile daemon{"/etc/docker/daemon.json", "", {}, FileEffect::kDockerReload};
  DesiredFile config{"/etc/containerd/config.toml", "", {}, FileEffect::kContainerdRestart};
  DesiredFile again{"/etc/docker/other.json", "", {}, FileEffect::kDockerReload};
  ChangeEffects effects = change_effects({&hosts, &daemon, &config, &again}, options);
  EXPECT_TRUE(effects.hosts_changed);
  EXPECT_EQ(effects.effects, (std::vector<FileEffect>{FileEffect::kNone, FileEffect::kDockerReload,
                                                      FileEffect::kContainerdRestart}));
  EXPECT_FALSE(change_effects({&daemon}, options).hosts_changed);
  EXPECT_TRUE(change_effects({}, options).effects.empty());
}

}  // namespace
}  // namespace regmirror::config::node
