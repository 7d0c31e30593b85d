#pragma once
// Which registries and repositories each named client may pull (access.scopes): an htpasswd
// user or a token name maps to "REGISTRY/GLOB" entries (globs as in repository_policy.hpp,
// registry already canonical). A client with no entry is not limited; a client with entries may
// pull only what one of them matches. Thread-safe; replace() swaps the rules while serving.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/repository_policy.hpp"

namespace regmirror::config {

class ClientScopes {
 public:
  explicit ClientScopes(const std::map<std::string, std::vector<std::string>>& scopes);

  // Whether any client is limited (then blobs and manifests by digest are served only to
  // repositories known to hold them: see the registry handler).
  bool empty() const;
  // Whether `client` has an entry (is limited at all).
  bool limits(std::string_view client) const;
  // nullopt when `client` may pull `repository` of `registry` (by `tag`, "" for digests);
  // otherwise why not, naming the client.
  std::optional<std::string> refusal(std::string_view client, std::string_view registry,
                                     std::string_view repository, std::string_view tag) const;
  void replace(const std::map<std::string, std::vector<std::string>>& scopes);

 private:
  // client -> registry -> the allow rules of that client in that registry
  using Table = std::map<std::string, std::map<std::string, RepositoryPolicy, std::less<>>, std::less<>>;
  static std::shared_ptr<const Table> build(const std::map<std::string, std::vector<std::string>>& scopes);
  std::shared_ptr<const Table> table() const;

  mutable std::mutex mutex_;
  std::shared_ptr<const Table> table_;
  // Read on every manifest answer (whether to record which repository holds it): no lock.
  std::atomic<bool> empty_{true};
};

}  // namespace regmirror::config
