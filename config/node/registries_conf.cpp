#include "config/node/registries_conf.hpp"

#include "config/node/toml_text.hpp"

namespace regmirror::config::node {

std::string render_registries_conf(const std::vector<RegistryHost>& registries,
                                   const MirrorEndpoint& mirror) {
  std::string out;
  out += "# Written by `regmirror node`; local edits are replaced.\n";
  out += "# Pulls try " + mirror.url + " first, then the registry itself.\n";
  for (const RegistryHost& registry : registries) {
    out += "\n[[registry]]\n";
    out += "prefix = " + toml_quote(registry.name) + "\n";
    out += "location = " + toml_quote(registry.name) + "\n";
    out += "\n[[registry.mirror]]\n";
    out += "location = " + toml_quote(mirror.host_port() + "/" + registry.name) + "\n";
    // containers/image speaks plain HTTP to a registry only when it is marked insecure.
    if (mirror.plain_http() || mirror.skip_verify) out += "insecure = true\n";
  }
  return out;
}

}  // namespace regmirror::config::node
