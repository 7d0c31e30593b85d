#pragma once
// JSON -> Config. Unknown keys and bad values are rejected with the key's path in the message.
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace regmirror::config {

// Thrown only at start-up; the message names the offending key ("registries.quay.io.upstreams[0].url: ...").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

Config parse_config(std::string_view json_text);
Config load_config_file(const std::string& path);

// The embedded default: docker.io, registry.k8s.io (alias k8s.gcr.io), gcr.io, quay.io, ghcr.io
// and docker.pkg.github.com (read from ghcr.io as {owner}/{basename}).
Config default_config();
std::string_view default_config_json();

}  // namespace regmirror::config
