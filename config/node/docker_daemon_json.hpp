#pragma once
// Docker's /etc/docker/daemon.json: the mirror in `registry-mirrors`, everything else untouched.
#include <string>
#include <string_view>

#include "config/node/mirror_endpoint.hpp"
#include "config/node/node_error.hpp"

namespace regmirror::config::node {

// Puts the mirror first in `registry-mirrors` (other mirrors stay, after it) and keeps every
// other key and the key order. Empty text means no file yet. When the mirror is already first
// the input is returned byte for byte, so a node whose file only differs in formatting is not
// rewritten. Invalid JSON, a non-object document or a non-array `registry-mirrors` is refused:
// dockerd would not start with the first, and overwriting an operator's file we cannot read is
// worse than leaving it. Docker consults mirrors for Docker Hub only.
NodeResult<std::string> merge_docker_daemon_json(std::string_view existing,
                                                 const MirrorEndpoint& mirror);

}  // namespace regmirror::config::node
