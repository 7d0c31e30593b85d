#pragma once
// containerd registry host configuration: `<config_path>/<registry>/hosts.toml`.
#include <string>
#include <string_view>

#include "config/node/mirror_endpoint.hpp"

namespace regmirror::config::node {

struct HostsTomlOptions {
  // `dial_timeout` of the mirror host (a Go duration, e.g. "3s"); empty: not written.
  // containerd 2.1+ parses it (core/remotes/docker/config/hosts.go, parseHostConfig) and
  // dials the mirror with that timeout, so a black-holed mirror falls back to `server` in
  // seconds instead of the default dialer's 30 s per request. Older versions ignore the key
  // (their TOML decoding is not strict), but node_plan writes it only for containerd 2.x.
  std::string dial_timeout;
};

// The dial timeout node_plan writes for containerd 2.x: the mirror runs inside the cluster,
// where a connect that takes longer than this means the mirror is gone.
inline constexpr std::string_view kMirrorDialTimeout = "3s";

// The mirror as the first host with pull+resolve, and the real registry as `server`, which
// containerd tries last: when the mirror is down (or answers 404) nodes still pull directly.
// containerd re-reads these files on every pull, so changing one needs no restart.
std::string render_hosts_toml(const RegistryHost& registry, const MirrorEndpoint& mirror,
                              const HostsTomlOptions& options = {});

// Relative location under a certs.d directory, e.g. "docker.io/hosts.toml". A port is kept
// as-is ("127.0.0.1:5000/hosts.toml") because that is the directory name containerd looks up.
std::string hosts_toml_relative_path(const RegistryHost& registry);

}  // namespace regmirror::config::node
