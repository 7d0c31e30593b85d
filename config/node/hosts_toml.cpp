#include "config/node/hosts_toml.hpp"

#include "config/node/toml_text.hpp"

namespace regmirror::config::node {

std::string render_hosts_toml(const RegistryHost& registry, const MirrorEndpoint& mirror,
                              const HostsTomlOptions& options) {
  std::string out;
  out += "# Written by `regmirror node` for " + registry.name + "; local edits are replaced.\n";
  out += "# Pulls go to the mirror first; `server` is the fallback when the mirror fails.\n";
  out += "server = " + toml_quote(registry.server) + "\n\n";
  out += "[host." + toml_quote(mirror.url) + "]\n";
  out += "  capabilities = [\"pull\", \"resolve\"]\n";
  if (!mirror.ca_file.empty()) out += "  ca = " + toml_quote(mirror.ca_file) + "\n";
  if (mirror.skip_verify) out += "  skip_verify = true\n";
  if (!options.dial_timeout.empty()) {
    out +=
        "  # containerd 2.1+: a mirror that does not accept the connection in time is skipped.\n";
    out += "  dial_timeout = " + toml_quote(options.dial_timeout) + "\n";
  }
  return out;
}

std::string hosts_toml_relative_path(const RegistryHost& registry) {
  return registry.name + "/hosts.toml";
}

}  // namespace regmirror::config::node
