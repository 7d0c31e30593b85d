#include "config/client_scopes.hpp"

namespace regmirror::config {

ClientScopes::ClientScopes(const std::map<std::string, std::vector<std::string>>& scopes)
    : table_(build(scopes)), empty_(scopes.empty()) {}

std::shared_ptr<const ClientScopes::Table> ClientScopes::build(
    const std::map<std::string, std::vector<std::string>>& scopes) {
  auto table = std::make_shared<Table>();
  for (const auto& [client, entries] : scopes) {
    std::map<std::string, std::vector<std::string>> globs;  // registry -> globs
    for (const auto& entry : entries) {
      auto slash = entry.find('/');
      globs[entry.substr(0, slash)].push_back(entry.substr(slash + 1));
    }
    auto& registries = (*table)[client];  // present even with no entries: allowed nothing
    for (const auto& [registry, allow] : globs) {
      registries.emplace(registry, RepositoryPolicy(allow, {}));
    }
  }
  return table;
}

std::shared_ptr<const ClientScopes::Table> ClientScopes::table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

bool ClientScopes::empty() const { return empty_.load(std::memory_order_relaxed); }

bool ClientScopes::limits(std::string_view client) const {
  auto current = table();
  return current->find(client) != current->end();
}

std::optional<std::string> ClientScopes::refusal(std::string_view client, std::string_view registry,
                                                 std::string_view repository,
                                                 std::string_view tag) const {
  auto current = table();
  auto scoped = current->find(client);
  if (scoped == current->end()) return std::nullopt;
  auto rules = scoped->second.find(registry);
  if (rules == scoped->second.end()) {
    return "client " + std::string(client) + " may not pull from " + std::string(registry) +
           " (access.scopes)";
  }
  if (auto why = rules->second.refusal(repository, tag)) {
    return "client " + std::string(client) + " may not pull " + std::string(registry) + "/" +
           std::string(repository) + " (access.scopes: " + *why + ")";
  }
  return std::nullopt;
}

void ClientScopes::replace(const std::map<std::string, std::vector<std::string>>& scopes) {
  auto fresh = build(scopes);
  std::lock_guard lock(mutex_);
  table_ = std::move(fresh);
  empty_.store(scopes.empty(), std::memory_order_relaxed);
}

}  // namespace regmirror::config
