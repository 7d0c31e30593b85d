#pragma once
// The configuration model: plain structs, filled and validated by load.hpp.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace regmirror::config {

// One upstream of a registry's chain. `path_template` maps the client's repository to the
// upstream's (see path_template.hpp); empty means "{repo}".
struct UpstreamConfig {
  std::string url;  // scheme://host[:port], no trailing slash
  std::string path_template;
  std::string username;
  std::string password_file;  // read at start-up; never logged
  std::string password_env;
};

struct RegistryConfig {
  std::string name;  // canonical host, e.g. "registry.k8s.io"
  std::vector<std::string> aliases;
  std::vector<UpstreamConfig> upstreams;
  std::chrono::seconds tag_ttl{300};
  // Below this many pulls left in the upstream's rate-limit window, tags are no longer
  // revalidated (served STALE) so the rest of the quota goes to content never seen.
  std::uint64_t min_remaining = 0;
};

struct S3Config {
  std::string endpoint;
  std::string bucket;
  std::string region;
  std::string prefix;
  std::string access_key_file;
  std::string secret_key_file;
  bool path_style = false;
};

struct StorageConfig {
  std::optional<S3Config> s3;
};

enum class LogFormat { kText, kJson };

struct Config {
  std::string listen = "0.0.0.0:5000";
  // Cache administration (pins, gc, verify, import); loopback only by default.
  std::string admin_listen = "127.0.0.1:5001";
  std::string data_dir = "./regmirror-data";
  std::uint64_t max_cache_bytes = 100ULL << 30;
  std::string default_registry = "docker.io";
  bool offline = false;
  LogFormat log_format = LogFormat::kText;
  std::map<std::string, RegistryConfig> registries;  // by canonical name
  StorageConfig storage;
};

}  // namespace regmirror::config
