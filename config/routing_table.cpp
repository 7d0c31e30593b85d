#include "config/routing_table.hpp"

#include "config/reference.hpp"

namespace regmirror::config {

bool is_docker_hub(const RegistryConfig& registry) {
  if (registry.name == "docker.io") return true;
  for (const auto& alias : registry.aliases) {
    if (alias == "docker.io") return true;
  }
  return false;
}

RoutingTable::RoutingTable(const Config& config) {
  for (const auto& [name, registry] : config.registries) {
    by_host_.emplace(name, &registry);
    policies_.emplace(name, std::make_shared<const RepositoryPolicy>(registry.allow, registry.deny));
    for (const auto& alias : registry.aliases) by_host_.emplace(alias, &registry);
  }
  default_registry_ = find(config.default_registry);
}

const RegistryConfig* RoutingTable::find(std::string_view host) const {
  auto it = by_host_.find(host);
  return it == by_host_.end() ? nullptr : it->second;
}

Result<Route, RouteError> RoutingTable::route(std::string_view ns,
                                                             std::string_view name) const {
  const RegistryConfig* registry = nullptr;
  std::string repository;
  if (!ns.empty()) {
    registry = find(ns);
    if (registry == nullptr) return RouteError::kRegistryNotServed;
    repository = name;
  } else {
    auto slash = name.find('/');
    auto first = name.substr(0, slash);
    // Docker Hub namespaces never contain '.' or ':', so such a first segment is a registry host.
    bool looks_like_host =
        slash != std::string_view::npos && is_valid_registry_host(first) &&
        (first.find_first_of(".:") != std::string_view::npos || first == "localhost");
    if (looks_like_host) {
      registry = find(first);
      if (registry == nullptr) return RouteError::kRegistryNotServed;
      repository = name.substr(slash + 1);
    } else {
      registry = default_registry_;
      repository = name;
    }
  }
  if (registry == nullptr) return RouteError::kRegistryNotServed;
  if (is_docker_hub(*registry) && repository.find('/') == std::string::npos) {
    repository.insert(0, "library/");
  }
  if (!is_valid_repository(repository)) return RouteError::kNameInvalid;
  std::shared_ptr<const RepositoryPolicy> policy;
  {
    std::lock_guard lock(policies_mutex_);
    policy = policies_.at(registry->name);
  }
  return Route{registry, std::move(repository), std::move(policy)};
}

std::size_t RoutingTable::replace_policies(const Config& config) {
  std::size_t replaced = 0;
  for (const auto& [name, registry] : config.registries) {
    auto next = std::make_shared<const RepositoryPolicy>(registry.allow, registry.deny);
    std::lock_guard lock(policies_mutex_);
    auto it = policies_.find(name);
    if (it == policies_.end()) continue;
    it->second = std::move(next);
    ++replaced;
  }
  return replaced;
}

}  // namespace regmirror::config
