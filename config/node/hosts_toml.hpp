#pragma once
// containerd registry host configuration: `<config_path>/<registry>/hosts.toml`.
#include <string>

#include "config/node/mirror_endpoint.hpp"

namespace regmirror::config::node {

// The mirror as the first host with pull+resolve, and the real registry as `server`, which
// containerd tries last: when the mirror is down (or answers 404) nodes still pull directly.
// containerd re-reads these files on every pull, so changing one needs no restart.
std::string render_hosts_toml(const RegistryHost& registry, const MirrorEndpoint& mirror);

// Relative location under a certs.d directory, e.g. "docker.io/hosts.toml". A port is kept
// as-is ("127.0.0.1:5000/hosts.toml") because that is the directory name containerd looks up.
std::string hosts_toml_relative_path(const RegistryHost& registry);

}  // namespace regmirror::config::node
