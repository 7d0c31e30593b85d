#pragma once
// Who may pull: an allow-list of CIDRs (checked per connection) and, optionally, credentials
// (Basic against an htpasswd file with bcrypt hashes, or bearer tokens from a file, which
// containerd's hosts.toml can send as a header). Files are re-read when they change.
// Thread-safe.
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"

namespace regmirror::proxy::server {

class AccessPolicy {
 public:
  // Throws config::ConfigError at start-up when a CIDR or a file is unusable.
  explicit AccessPolicy(const config::AccessConfig& config);

  bool address_allowed(const boost::asio::ip::address& address) const;
  bool requires_credentials() const;
  // `authorization`: the request's Authorization header ("" when absent).
  bool credentials_valid(std::string_view authorization) { return authenticate(authorization).has_value(); }
  // Who the credentials name: the htpasswd user, the token's name ("TOKEN NAME" line; else
  // "token:" and 8 hex digits of its SHA-256), "" when no credentials are required;
  // nullopt when they are required and missing or wrong.
  std::optional<std::string> authenticate(std::string_view authorization);
  // The client behind trusted proxies: `peer` unless it is a trusted proxy and
  // `forwarded_for` (X-Forwarded-For) names someone behind it.
  boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                          std::string_view forwarded_for) const;

 private:
  struct Network {
    boost::asio::ip::address base;
    unsigned bits;
  };
  void reload_if_changed();

  static std::vector<Network> parse_networks(const std::vector<std::string>& cidrs, const std::string& key);
  bool trusted(const boost::asio::ip::address& address) const;

  std::vector<Network> networks_;
  std::vector<Network> trusted_proxies_;
  std::string htpasswd_file_;
  std::string tokens_file_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point next_check_{};
  std::int64_t htpasswd_mtime_ = -1;
  std::int64_t tokens_mtime_ = -1;
  std::unordered_map<std::string, std::string> users_;  // user -> bcrypt hash
  std::unordered_map<std::string, std::string> tokens_;  // token -> name
  // Verified "user:password" pairs, so bcrypt (deliberately slow) runs once per credential.
  std::unordered_set<std::string> verified_;
};

}  // namespace regmirror::proxy::server
