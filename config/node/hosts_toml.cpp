#include "config/node/hosts_toml.hpp"

#include "config/node/toml_text.hpp"

namespace regmirror::config::node {

std::string render_hosts_toml(const RegistryHost& registry, const MirrorEndpoint& mirror) {
  std::string out;
  out += "# Written by `regmirror node` for " + registry.name + "; local edits are replaced.\n";
  out += "# Pulls go to the mirror first; `server` is the fallback when the mirror fails.\n";
  out += "server = " + toml_quote(registry.server) + "\n\n";
  out += "[host." + toml_quote(mirror.url) + "]\n";
  out += "  capabilities = [\"pull\", \"resolve\"]\n";
  if (!mirror.ca_file.empty()) out += "  ca = " + toml_quote(mirror.ca_file) + "\n";
  if (mirror.skip_verify) out += "  skip_verify = true\n";
  return out;
}

std::string hosts_toml_relative_path(const RegistryHost& registry) {
  return registry.name + "/hosts.toml";
}

}  // namespace regmirror::config::node
