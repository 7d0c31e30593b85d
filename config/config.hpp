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

// What a cached tag becomes when every upstream says it no longer exists (404).
enum class NotFoundPolicy {
  kServeCached,  // keep serving the last known manifest (X-Cache: STALE); the default
  kForget,       // drop the tag from the cache and answer 404, as the upstream does
};

struct RegistryConfig {
  std::string name;  // canonical host, e.g. "registry.k8s.io"
  std::vector<std::string> aliases;
  std::vector<UpstreamConfig> upstreams;
  std::chrono::seconds tag_ttl{300};
  // Below this many pulls left in the upstream's rate-limit window, tags are no longer
  // revalidated (served STALE) so the rest of the quota goes to content never seen.
  std::uint64_t min_remaining = 0;
  // A stale tag is revalidated for at most this long while the client waits; past it the
  // cached manifest is answered (STALE) and the revalidation finishes in the background.
  std::chrono::milliseconds revalidate_budget{1500};
  // Pinned tags are always served as cached (frozen), whatever this says.
  NotFoundPolicy on_upstream_not_found = NotFoundPolicy::kServeCached;
  // Repository globs of the client's names (repository_policy.hpp); deny wins, and a
  // non-empty allow list refuses every repository it does not match.
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};

struct S3Config {
  std::string endpoint;
  std::string bucket;
  std::string region;
  std::string prefix;
  std::string access_key_file;
  std::string secret_key_file;
  bool path_style = false;
  // Cached blob GETs answered with a 307 to a presigned bucket URL valid this long.
  bool redirect_blobs = false;
  std::uint64_t redirect_expiry_seconds = 300;
  // Cross-replica fetch lease: renewed every ttl/3 by its holder; others wait at most
  // lease_wait_seconds for the blob to appear in the bucket before fetching it themselves.
  std::uint64_t lease_ttl_seconds = 30;
  std::uint64_t lease_wait_seconds = 120;
  std::uint64_t part_size_bytes = 8ULL << 20;  // multipart part size (S3 minimum 5 MiB)
};

struct StorageConfig {
  std::optional<S3Config> s3;
};

enum class LogFormat { kText, kJson };

// Protection against slow, greedy or hostile clients and upstreams.
struct LimitsConfig {
  std::size_t max_connections = 4096;       // past it: 503 and close
  std::size_t header_limit_bytes = 16384;   // request line + headers; past it: 431
  std::size_t max_header_fields = 100;      // past it: 431
  std::chrono::seconds header_timeout{30};  // to receive a whole request head (slowloris)
  std::chrono::seconds idle_timeout{120};   // keep-alive connection with no request
  std::chrono::seconds write_timeout{120};  // a client that accepts no bytes for this long
  std::chrono::seconds upstream_connect_timeout{10};
  std::chrono::seconds upstream_stall_timeout{30};  // < 1 byte/s for this long aborts
  std::chrono::seconds upstream_request_timeout{60};  // whole buffered request (manifests)
  std::size_t max_upstream_transfers = 512;  // running at once on the transfer thread
  // Circuit breaker per upstream: this many failures in a row (connect errors, resets, 5xx)
  // open it, a timeout at once; it is skipped for the cool-down, then probed by one request
  // at a time.
  unsigned upstream_failures_to_open = 3;
  std::chrono::seconds upstream_open_seconds{5};  // first cool-down; doubles per failed probe
  unsigned upstream_resume_attempts = 5;  // Range requests to continue one broken blob transfer
};

// HTTPS for clients. Files are re-read when they change (cert-manager renewals).
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
};

// Who may pull. Empty lists and files mean "everyone".
struct AccessConfig {
  std::vector<std::string> allow_cidrs;  // e.g. "10.0.0.0/8", "127.0.0.1/32", "::1/128"
  std::string htpasswd_file;             // user:bcrypt-hash lines (Basic auth)
  std::string tokens_file;               // one bearer token per line, optionally "TOKEN NAME"
  // Peers whose X-Forwarded-For is believed: the client is the rightmost address in it that
  // is not itself a trusted proxy (used for allow_cidrs and the request log's client=).
  std::vector<std::string> trusted_proxies;
  // What each named client (htpasswd user, token name) may pull: "REGISTRY/GLOB" entries
  // (client_scopes.hpp), registry canonicalised at load. A client not named here is unlimited.
  std::map<std::string, std::vector<std::string>> scopes;
};

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
  LimitsConfig limits;
  std::optional<TlsConfig> tls;
  AccessConfig access;
  std::string metrics_listen;  // empty: /metrics on the main listener
  // Manifest and blob digests never served (digest_blocklist.hpp); empty: none. Read at
  // start-up (a malformed line is a config error naming it).
  std::string blocked_digests_file;
};

}  // namespace regmirror::config
