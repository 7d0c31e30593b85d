#pragma once
// CRI-O / podman / skopeo: a drop-in for /etc/containers/registries.conf.d/.
#include <string>
#include <vector>

#include "config/node/mirror_endpoint.hpp"

namespace regmirror::config::node {

// The file name sorts late on purpose: drop-ins are read in order and a later file's entry for
// the same prefix replaces an earlier one.
inline constexpr std::string_view kRegistriesConfDropIn = "50-regmirror.conf";

// One `[[registry]]` per registry with the mirror as `[[registry.mirror]]`. These clients do
// not send `?ns=`, so the mirror location carries the registry as the first path segment
// (`mirror/docker.io`), which regmirror routes on. The registry itself stays the location, so
// it is still tried when the mirror fails. Needs the v2 (TOML) registries.conf format.
std::string render_registries_conf(const std::vector<RegistryHost>& registries,
                                   const MirrorEndpoint& mirror);

}  // namespace regmirror::config::node
