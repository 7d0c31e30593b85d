#include "config/load.hpp"

#include <algorithm>

#include <arpa/inet.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "config/path_template.hpp"
#include "config/reference.hpp"
#include "config/repository_policy.hpp"

namespace regmirror::config {
namespace {

using nlohmann::json;

constexpr std::string_view kDefaultConfigJson = R"({
  "listen": "0.0.0.0:5000",
  "data_dir": "./regmirror-data",
  "max_cache_bytes": 107374182400,
  "default_registry": "docker.io",
  "offline": false,
  "registries": {
    "docker.io": {"upstreams": [{"url": "https://registry-1.docker.io"}]},
    "registry.k8s.io": {"aliases": ["k8s.gcr.io"], "upstreams": [{"url": "https://registry.k8s.io"}]},
    "gcr.io": {"upstreams": [{"url": "https://gcr.io"}]},
    "quay.io": {"upstreams": [{"url": "https://quay.io"}]},
    "ghcr.io": {"upstreams": [{"url": "https://ghcr.io"}]},
    "docker.pkg.github.com": {"upstreams": [{"url": "https://ghcr.io", "path": "{owner}/{basename}"}]}
  }
})";

// Key paths come from the file: control bytes are shown escaped so the message stays one
// readable line (found by fuzz_config: a NUL key made the message look empty).
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& key, const std::string& why) {
  throw ConfigError(printable(key) + ": " + why);
}

void reject_unknown_keys(const json& object, const std::string& where,
                         std::initializer_list<std::string_view> known) {
  for (const auto& [key, _] : object.items()) {
    bool found = false;
    for (auto k : known) found = found || k == key;
    if (!found) fail(where.empty() ? key : where + "." + key, "unknown key");
  }
}

const json& require_object(const json& value, const std::string& key) {
  if (!value.is_object()) fail(key, "must be an object");
  return value;
}

std::string get_string(const json& object, const std::string& where, const char* key,
                       std::string fallback) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_string()) fail(where + key, "must be a string");
  return it->get<std::string>();
}

bool get_bool(const json& object, const std::string& where, const char* key, bool fallback) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_boolean()) fail(where + key, "must be true or false");
  return it->get<bool>();
}

std::uint64_t get_uint(const json& object, const std::string& where, const char* key,
                       std::uint64_t fallback) {
  auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_number_unsigned()) fail(where + key, "must be a non-negative integer");
  return it->get<std::uint64_t>();
}

void check_listen(const std::string& value, const std::string& key) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) fail(key, "must be ADDR:PORT, got '" + value + "'");
  auto port = value.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    fail(key, "port must be 0-65535, got '" + port + "'");
  }
}

void check_url(const std::string& url, const std::string& key) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) fail(key, "must start with http:// or https://");
  auto scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") fail(key, "scheme must be http or https");
  auto rest = url.substr(scheme_end + 3);
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') fail(key, "has no host");
  if (rest.find_first_of(" \t\r\n?#@") != std::string::npos) {
    fail(key, "must be scheme://host[:port][/path] without credentials, query or fragment");
  }
}

UpstreamConfig parse_upstream(const json& value, const std::string& where) {
  require_object(value, where);
  reject_unknown_keys(value, where, {"url", "path", "username", "password_file", "password_env"});
  const auto prefix = where + ".";
  UpstreamConfig up;
  if (!value.contains("url")) fail(prefix + "url", "is required");
  up.url = get_string(value, prefix, "url", "");
  check_url(up.url, prefix + "url");
  while (!up.url.empty() && up.url.back() == '/') up.url.pop_back();
  up.path_template = get_string(value, prefix, "path", "");
  if (!up.path_template.empty()) {
    if (auto checked = check_path_template(up.path_template); !checked) {
      fail(prefix + "path", checked.error().message);
    }
  }
  up.username = get_string(value, prefix, "username", "");
  up.password_file = get_string(value, prefix, "password_file", "");
  up.password_env = get_string(value, prefix, "password_env", "");
  if (!up.password_file.empty() && !up.password_env.empty()) {
    fail(prefix + "password_file", "give password_file or password_env, not both");
  }
  if ((!up.password_file.empty() || !up.password_env.empty()) && up.username.empty()) {
    fail(prefix + "username", "is required when a password is given");
  }
  return up;
}

std::vector<std::string> parse_globs(const json& object, const std::string& where, const char* key) {
  std::vector<std::string> globs;
  auto it = object.find(key);
  if (it == object.end()) return globs;
  if (!it->is_array()) fail(where + "." + key, "must be an array of repository globs");
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto item = where + "." + key + "[" + std::to_string(i) + "]";
    if (!(*it)[i].is_string()) fail(item, "must be a string");
    auto glob = (*it)[i].get<std::string>();
    if (auto checked = check_repository_glob(glob); !checked) {
      fail(item, "bad glob '" + printable(glob) + "': " + checked.error().message);
    }
    globs.push_back(std::move(glob));
  }
  return globs;
}

RegistryConfig parse_registry(const std::string& name, const json& value) {
  const std::string where = "registries." + name;
  require_object(value, where);
  reject_unknown_keys(value, where, {"aliases", "upstreams", "tag_ttl_seconds", "min_remaining",
                                     "revalidate_budget_ms", "on_upstream_not_found", "allow",
                                     "deny"});
  if (!is_valid_registry_host(name)) fail(where, "not a valid registry host name");
  RegistryConfig registry;
  registry.name = name;
  if (auto it = value.find("aliases"); it != value.end()) {
    if (!it->is_array()) fail(where + ".aliases", "must be an array of host names");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto key = where + ".aliases[" + std::to_string(i) + "]";
      if (!(*it)[i].is_string()) fail(key, "must be a string");
      auto alias = (*it)[i].get<std::string>();
      if (!is_valid_registry_host(alias)) fail(key, "not a valid registry host name");
      registry.aliases.push_back(std::move(alias));
    }
  }
  auto ups = value.find("upstreams");
  if (ups == value.end()) fail(where + ".upstreams", "is required");
  if (!ups->is_array() || ups->empty()) fail(where + ".upstreams", "must be a non-empty array");
  for (std::size_t i = 0; i < ups->size(); ++i) {
    registry.upstreams.push_back(
        parse_upstream((*ups)[i], where + ".upstreams[" + std::to_string(i) + "]"));
  }
  auto ttl = get_uint(value, where + ".", "tag_ttl_seconds", 300);
  if (ttl > 365ULL * 24 * 3600) fail(where + ".tag_ttl_seconds", "must be at most one year");
  registry.tag_ttl = std::chrono::seconds(ttl);
  registry.min_remaining = get_uint(value, where + ".", "min_remaining", 0);
  auto budget = get_uint(value, where + ".", "revalidate_budget_ms", 1500);
  if (budget < 10 || budget > 600000) {
    fail(where + ".revalidate_budget_ms", "must be between 10 and 600000 milliseconds");
  }
  registry.revalidate_budget = std::chrono::milliseconds(budget);
  auto policy = get_string(value, where + ".", "on_upstream_not_found", "serve_cached");
  if (policy == "serve_cached") {
    registry.on_upstream_not_found = NotFoundPolicy::kServeCached;
  } else if (policy == "forget") {
    registry.on_upstream_not_found = NotFoundPolicy::kForget;
  } else {
    fail(where + ".on_upstream_not_found",
         "must be \"serve_cached\" or \"forget\", got '" + printable(policy) + "'");
  }
  registry.allow = parse_globs(value, where, "allow");
  registry.deny = parse_globs(value, where, "deny");
  return registry;
}

StorageConfig parse_storage(const json& value) {
  require_object(value, "storage");
  reject_unknown_keys(value, "storage", {"s3"});
  StorageConfig storage;
  if (auto it = value.find("s3"); it != value.end()) {
    require_object(*it, "storage.s3");
    reject_unknown_keys(*it, "storage.s3",
                        {"endpoint", "bucket", "region", "prefix", "access_key_file",
                         "secret_key_file", "path_style", "redirect_blobs",
                         "redirect_expiry_seconds", "lease_ttl_seconds", "lease_wait_seconds",
                         "part_size_bytes"});
    S3Config s3;
    const std::string p = "storage.s3.";
    s3.endpoint = get_string(*it, p, "endpoint", "");
    s3.bucket = get_string(*it, p, "bucket", "");
    s3.region = get_string(*it, p, "region", "us-east-1");
    s3.prefix = get_string(*it, p, "prefix", "");
    s3.access_key_file = get_string(*it, p, "access_key_file", "");
    s3.secret_key_file = get_string(*it, p, "secret_key_file", "");
    s3.path_style = get_bool(*it, p, "path_style", false);
    if (s3.endpoint.empty()) fail(p + "endpoint", "is required");
    check_url(s3.endpoint, p + "endpoint");
    if (s3.bucket.empty()) fail(p + "bucket", "is required");
    s3.redirect_blobs = get_bool(*it, p, "redirect_blobs", false);
    s3.redirect_expiry_seconds = get_uint(*it, p, "redirect_expiry_seconds", 300);
    if (s3.redirect_expiry_seconds == 0 || s3.redirect_expiry_seconds > 604800) {
      fail(p + "redirect_expiry_seconds", "must be between 1 and 604800 (SigV4's 7-day limit)");
    }
    s3.lease_ttl_seconds = get_uint(*it, p, "lease_ttl_seconds", 30);
    if (s3.lease_ttl_seconds < 3 || s3.lease_ttl_seconds > 3600) {
      fail(p + "lease_ttl_seconds", "must be between 3 and 3600");
    }
    s3.lease_wait_seconds = get_uint(*it, p, "lease_wait_seconds", 120);
    if (s3.lease_wait_seconds > 86400) fail(p + "lease_wait_seconds", "must be at most 86400");
    s3.part_size_bytes = get_uint(*it, p, "part_size_bytes", 8ULL << 20);
    if (s3.part_size_bytes < (5ULL << 20) || s3.part_size_bytes > (5ULL << 30)) {
      fail(p + "part_size_bytes", "must be between 5 MiB and 5 GiB (S3 part limits)");
    }
    storage.s3 = std::move(s3);
  }
  return storage;
}

std::chrono::seconds get_seconds(const json& object, const std::string& where, const char* key,
                                std::chrono::seconds fallback) {
  auto value = get_uint(object, where, key, static_cast<std::uint64_t>(fallback.count()));
  if (value == 0 || value > 86400) fail(where + key, "must be between 1 and 86400 seconds");
  return std::chrono::seconds(value);
}

LimitsConfig parse_limits(const json& value) {
  require_object(value, "limits");
  reject_unknown_keys(value, "limits",
                      {"max_connections", "header_limit_bytes", "max_header_fields",
                       "header_timeout_seconds",
                       "idle_timeout_seconds", "write_timeout_seconds",
                       "upstream_connect_timeout_seconds", "upstream_stall_timeout_seconds",
                       "upstream_request_timeout_seconds", "max_upstream_transfers",
                       "upstream_failures_to_open", "upstream_open_seconds",
                       "upstream_resume_attempts"});
  LimitsConfig limits;
  const std::string p = "limits.";
  limits.max_connections = get_uint(value, p, "max_connections", limits.max_connections);
  if (limits.max_connections == 0 || limits.max_connections > 1000000) {
    fail(p + "max_connections", "must be between 1 and 1000000");
  }
  limits.header_limit_bytes = get_uint(value, p, "header_limit_bytes", limits.header_limit_bytes);
  if (limits.header_limit_bytes < 1024 || limits.header_limit_bytes > (1 << 20)) {
    fail(p + "header_limit_bytes", "must be between 1024 and 1048576");
  }
  limits.max_header_fields = get_uint(value, p, "max_header_fields", limits.max_header_fields);
  if (limits.max_header_fields < 8 || limits.max_header_fields > 10000) {
    fail(p + "max_header_fields", "must be between 8 and 10000");
  }
  limits.header_timeout = get_seconds(value, p, "header_timeout_seconds", limits.header_timeout);
  limits.idle_timeout = get_seconds(value, p, "idle_timeout_seconds", limits.idle_timeout);
  limits.write_timeout = get_seconds(value, p, "write_timeout_seconds", limits.write_timeout);
  limits.upstream_connect_timeout =
      get_seconds(value, p, "upstream_connect_timeout_seconds", limits.upstream_connect_timeout);
  limits.upstream_stall_timeout =
      get_seconds(value, p, "upstream_stall_timeout_seconds", limits.upstream_stall_timeout);
  limits.upstream_request_timeout =
      get_seconds(value, p, "upstream_request_timeout_seconds", limits.upstream_request_timeout);
  limits.max_upstream_transfers =
      get_uint(value, p, "max_upstream_transfers", limits.max_upstream_transfers);
  if (limits.max_upstream_transfers == 0 || limits.max_upstream_transfers > 100000) {
    fail(p + "max_upstream_transfers", "must be between 1 and 100000");
  }
  auto failures = get_uint(value, p, "upstream_failures_to_open", limits.upstream_failures_to_open);
  if (failures == 0 || failures > 1000) fail(p + "upstream_failures_to_open", "must be between 1 and 1000");
  limits.upstream_failures_to_open = static_cast<unsigned>(failures);
  limits.upstream_open_seconds =
      get_seconds(value, p, "upstream_open_seconds", limits.upstream_open_seconds);
  auto resumes = get_uint(value, p, "upstream_resume_attempts", limits.upstream_resume_attempts);
  if (resumes > 100) fail(p + "upstream_resume_attempts", "must be at most 100");
  limits.upstream_resume_attempts = static_cast<unsigned>(resumes);
  return limits;
}

TlsConfig parse_tls(const json& value) {
  require_object(value, "tls");
  reject_unknown_keys(value, "tls", {"cert", "key"});
  TlsConfig tls{get_string(value, "tls.", "cert", ""), get_string(value, "tls.", "key", "")};
  if (tls.cert_file.empty()) fail("tls.cert", "is required");
  if (tls.key_file.empty()) fail("tls.key", "is required");
  return tls;
}

// "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128).
bool is_valid_cidr(const std::string& text) {
  auto slash = text.find('/');
  auto address = text.substr(0, slash);
  unsigned char raw[16];
  bool v4 = ::inet_pton(AF_INET, address.c_str(), raw) == 1;
  if (!v4 && ::inet_pton(AF_INET6, address.c_str(), raw) != 1) return false;
  if (slash == std::string::npos) return true;
  auto bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != bits.npos) {
    return false;
  }
  return std::stoul(bits) <= (v4 ? 32u : 128u);
}

AccessConfig parse_access(const json& value) {
  require_object(value, "access");
  reject_unknown_keys(value, "access",
                      {"allow_cidrs", "trusted_proxies", "htpasswd_file", "tokens_file", "scopes"});
  AccessConfig access;
  for (auto [name, out] : {std::pair{"allow_cidrs", &access.allow_cidrs},
                           std::pair{"trusted_proxies", &access.trusted_proxies}}) {
    auto it = value.find(name);
    if (it == value.end()) continue;
    const std::string where = std::string("access.") + name;
    if (!it->is_array()) fail(where, "must be an array of CIDRs");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto key = where + "[" + std::to_string(i) + "]";
      if (!(*it)[i].is_string() || !is_valid_cidr((*it)[i].get<std::string>())) {
        fail(key, "must be an address or ADDRESS/BITS");
      }
      out->push_back((*it)[i].get<std::string>());
    }
  }
  access.htpasswd_file = get_string(value, "access.", "htpasswd_file", "");
  access.tokens_file = get_string(value, "access.", "tokens_file", "");
  if (auto it = value.find("scopes"); it != value.end()) {
    if (!it->is_object()) fail("access.scopes", "must map a user or token name to REGISTRY/GLOB entries");
    for (const auto& [client, entries] : it->items()) {
      const auto where = "access.scopes." + printable(client);
      if (client.empty()) fail("access.scopes", "a client name must not be empty");
      if (!entries.is_array()) fail(where, "must be an array of REGISTRY/GLOB strings");
      auto& out = access.scopes[client];
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto item = where + "[" + std::to_string(i) + "]";
        if (!entries[i].is_string()) fail(item, "must be a string");
        auto entry = entries[i].get<std::string>();
        auto slash = entry.find('/');
        if (slash == std::string::npos || !is_valid_registry_host(entry.substr(0, slash))) {
          fail(item, "'" + printable(entry) + "' must be REGISTRY/GLOB, e.g. docker.io/library/*");
        }
        if (auto checked = check_repository_glob(entry.substr(slash + 1)); !checked) {
          fail(item, "bad glob '" + printable(entry.substr(slash + 1)) +
                         "': " + checked.error().message);
        }
        out.push_back(std::move(entry));
      }
    }
  }
  return access;
}

}  // namespace

Config parse_config(std::string_view json_text) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for numbers no double holds ("1e400").
    throw ConfigError(std::string("config is not valid JSON: ") + e.what());
  }
  require_object(root, "(top level)");
  reject_unknown_keys(root, "",
                      {"listen", "admin_listen", "data_dir", "max_cache_bytes", "default_registry", "offline",
                       "log_format", "registries", "storage", "limits", "tls", "access",
                       "metrics_listen", "blocked_digests_file"});
  Config config;
  config.listen = get_string(root, "", "listen", config.listen);
  check_listen(config.listen, "listen");
  config.admin_listen = get_string(root, "", "admin_listen", config.admin_listen);
  if (!config.admin_listen.empty()) check_listen(config.admin_listen, "admin_listen");
  config.data_dir = get_string(root, "", "data_dir", config.data_dir);
  if (config.data_dir.empty()) fail("data_dir", "must not be empty");
  config.max_cache_bytes = get_uint(root, "", "max_cache_bytes", config.max_cache_bytes);
  if (config.max_cache_bytes < (16ULL << 20)) fail("max_cache_bytes", "must be at least 16 MiB");
  config.offline = get_bool(root, "", "offline", false);
  auto format = get_string(root, "", "log_format", "text");
  if (format == "text") {
    config.log_format = LogFormat::kText;
  } else if (format == "json") {
    config.log_format = LogFormat::kJson;
  } else {
    fail("log_format", "must be \"text\" or \"json\", got '" + format + "'");
  }
  if (auto it = root.find("registries"); it != root.end()) {
    require_object(*it, "registries");
    for (const auto& [name, value] : it->items()) {
      config.registries.emplace(name, parse_registry(name, value));
    }
  }
  if (config.registries.empty()) fail("registries", "at least one registry is required");
  // Every host and alias must name exactly one registry, or routing would be ambiguous.
  std::set<std::string> hosts;
  for (const auto& [name, registry] : config.registries) hosts.insert(name);
  for (const auto& [name, registry] : config.registries) {
    for (const auto& alias : registry.aliases) {
      if (!hosts.insert(alias).second) {
        fail("registries." + name + ".aliases", "'" + alias + "' already names another registry");
      }
    }
  }
  config.default_registry = get_string(root, "", "default_registry", config.default_registry);
  if (!hosts.contains(config.default_registry)) {
    fail("default_registry", "'" + config.default_registry + "' is not a configured registry");
  }
  if (auto it = root.find("storage"); it != root.end()) config.storage = parse_storage(*it);
  if (auto it = root.find("limits"); it != root.end()) config.limits = parse_limits(*it);
  if (auto it = root.find("tls"); it != root.end()) config.tls = parse_tls(*it);
  if (auto it = root.find("access"); it != root.end()) config.access = parse_access(*it);
  // Scopes name registries as clients do (a name or an alias); keep the canonical name.
  for (auto& [client, entries] : config.access.scopes) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto host = entries[i].substr(0, entries[i].find('/'));
      std::string canonical;
      for (const auto& [name, registry] : config.registries) {
        bool alias = std::find(registry.aliases.begin(), registry.aliases.end(), host) !=
                     registry.aliases.end();
        if (name == host || alias) canonical = name;
      }
      if (canonical.empty()) {
        fail("access.scopes." + printable(client) + "[" + std::to_string(i) + "]",
             "'" + host + "' is not a configured registry");
      }
      entries[i] = canonical + entries[i].substr(host.size());
    }
  }
  config.metrics_listen = get_string(root, "", "metrics_listen", "");
  if (!config.metrics_listen.empty()) check_listen(config.metrics_listen, "metrics_listen");
  config.blocked_digests_file = get_string(root, "", "blocked_digests_file", "");
  return config;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse_config(text.str());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
}

Config default_config() { return parse_config(kDefaultConfigJson); }

std::string_view default_config_json() { return kDefaultConfigJson; }

}  // namespace regmirror::config
