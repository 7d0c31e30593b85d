#include "config/node/mirror_endpoint.hpp"

#include <algorithm>
#include <cctype>

namespace regmirror::config::node {
namespace {

bool valid_host_port(std::string_view hp) {
  if (hp.empty()) return false;
  std::string_view host = hp;
  if (hp.front() == '[') {  // IPv6 literal
    auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    host = hp.substr(1, close - 1);
    std::string_view rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) return false;
      return std::all_of(rest.begin() + 1, rest.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
             std::all_of(host.begin(), host.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
             });
    }
    return !host.empty();
  }
  auto colon = hp.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view port = hp.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
    host = hp.substr(0, colon);
  }
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

NodeResult<std::string> normalise_url(std::string_view url, std::string_view what) {
  std::string_view rest;
  std::string scheme;
  if (url.starts_with("http://")) {
    scheme = "http://";
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    scheme = "https://";
    rest = url.substr(8);
  } else {
    return node_error(std::string(what) + " '" + std::string(url) +
                      "' must start with http:// or https://");
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@ \t") != std::string_view::npos) {
    return node_error(std::string(what) + " '" + std::string(url) +
                      "' must be scheme://host[:port] with no path, query or credentials");
  }
  if (!valid_host_port(rest)) {
    return node_error(std::string(what) + " '" + std::string(url) +
                      "' has an invalid host or port");
  }
  std::string lowered(rest);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return scheme + lowered;
}

}  // namespace

std::string MirrorEndpoint::host_port() const {
  auto pos = url.find("://");
  return pos == std::string::npos ? url : url.substr(pos + 3);
}

NodeResult<MirrorEndpoint> parse_mirror_url(std::string_view url) {
  auto normalised = normalise_url(url, "mirror URL");
  if (!normalised) return normalised.error();
  MirrorEndpoint mirror;
  mirror.url = std::move(*normalised);
  return mirror;
}

std::vector<RegistryHost> default_registry_hosts() {
  return {
      {"docker.io", "https://registry-1.docker.io"},
      {"registry.k8s.io", "https://registry.k8s.io"},
      {"k8s.gcr.io", "https://registry.k8s.io"},
      {"gcr.io", "https://gcr.io"},
      {"quay.io", "https://quay.io"},
      {"ghcr.io", "https://ghcr.io"},
      {"docker.pkg.github.com", "https://ghcr.io"},
  };
}

NodeResult<RegistryHost> parse_registry_spec(std::string_view spec) {
  auto eq = spec.find('=');
  std::string_view name = spec.substr(0, eq);
  if (!valid_host_port(name) || name.find('_') != std::string_view::npos) {
    return node_error("registry '" + std::string(name) + "' is not a host[:port] name");
  }
  RegistryHost host;
  host.name = std::string(name);
  if (eq == std::string_view::npos) {
    host.server = "https://" + host.name;
    return host;
  }
  auto server = normalise_url(spec.substr(eq + 1), "server URL of " + host.name);
  if (!server) return server.error();
  host.server = std::move(*server);
  return host;
}

}  // namespace regmirror::config::node
