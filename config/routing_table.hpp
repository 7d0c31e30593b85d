#pragma once
// Which registry a request is for: ?ns= first, then a registry-host first path segment, then
// default_registry (where one-segment Docker Hub names get "library/").
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/repository_policy.hpp"
#include "config/result.hpp"

namespace regmirror::config {

struct Route {
  const RegistryConfig* registry = nullptr;
  std::string repository;  // the client's repository within that registry, already validated
  // That registry's allow/deny rules as they were when routed (a reload swaps in new ones).
  std::shared_ptr<const RepositoryPolicy> policy;
};

enum class RouteError {
  kNameInvalid,          // the repository fails the grammar
  kRegistryNotServed,    // ns or the path prefix names a registry that is not configured
};

class RoutingTable {
 public:
  explicit RoutingTable(const Config& config);

  // Canonical registry for a host or alias, or nullptr.
  const RegistryConfig* find(std::string_view host) const;

  // `ns`: the already URL-decoded ?ns= value, empty when absent. `name`: the repository part of
  // the request path (everything between /v2/ and /manifests|blobs|tags|referrers).
  Result<Route, RouteError> route(std::string_view ns, std::string_view name) const;

  // Replaces the allow/deny rules of every registry `config` shares with this table (globs
  // already validated by load.hpp); registries only one of them has are left alone. Returns
  // how many registries got new rules. Safe while other threads route.
  std::size_t replace_policies(const Config& config);

 private:
  std::map<std::string, const RegistryConfig*, std::less<>> by_host_;
  const RegistryConfig* default_registry_ = nullptr;
  mutable std::mutex policies_mutex_;
  std::map<std::string, std::shared_ptr<const RepositoryPolicy>, std::less<>> policies_;  // by name
};

// Docker Hub is the one registry whose one-segment names live under "library/".
bool is_docker_hub(const RegistryConfig& registry);

}  // namespace regmirror::config
