#pragma once
// Which registries a node sends through the mirror, and how the mirror is reached.
#include <string>
#include <string_view>
#include <vector>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

// How a node reaches the mirror: scheme://host[:port], plus TLS settings for containerd.
struct MirrorEndpoint {
  std::string url;      // normalised, no trailing slash, e.g. "http://10.0.0.5:30500"
  std::string ca_file;  // node path of a CA bundle for an https mirror; empty = system roots
  bool skip_verify = false;

  bool plain_http() const { return url.starts_with("http://"); }
  // host[:port] without the scheme, as registries.conf wants it.
  std::string host_port() const;
};

// A registry name as clients write it ("docker.io") and the server containerd falls back to
// when the mirror is down.
struct RegistryHost {
  std::string name;
  std::string server;
};

// Validates and normalises a mirror URL. The mirror serves /v2/ at its root and Docker refuses
// mirrors with a path, so only scheme://host[:port] is accepted.
NodeResult<MirrorEndpoint> parse_mirror_url(std::string_view url);

// The registries of DESIGN.md's default config. k8s.gcr.io falls back to registry.k8s.io (it is
// frozen and redirects there) and docker.pkg.github.com to ghcr.io (containerd >= 1.24 clusters
// cannot pull from it at all).
std::vector<RegistryHost> default_registry_hosts();

// "name" (server https://name) or "name=server-url"; used to point tests and closed networks
// at other servers.
NodeResult<RegistryHost> parse_registry_spec(std::string_view spec);

}  // namespace regmirror::config::node
