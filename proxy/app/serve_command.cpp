#include "proxy/app/serve_command.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>

#include "cache/access_tracker.hpp"
#include "cache/evictor.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "config/digest_blocklist.hpp"
#include "config/load.hpp"
#include "config/routing_table.hpp"
#include "proxy/admin/admin_handler.hpp"
#include "proxy/app/cli_options.hpp"
#include "proxy/app/policy_reloader.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/blob_fetcher.hpp"
#include "proxy/registry/blob_service.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/registry_handler.hpp"
#include "proxy/registry/repository_scope.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/server/access_policy.hpp"
#include "proxy/server/http_server.hpp"
#include "proxy/server/tls_context_provider.hpp"
#include "proxy/server/unix_time.hpp"
#include "proxy/upstream/curl_multi.hpp"
#include "proxy/upstream/upstream_client.hpp"

namespace regmirror::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kServeUsage = R"(Usage: regmirror serve [options]

Serve the OCI pull API as a pull-through cache.

Options:
  --config FILE       JSON config (default: the embedded default, which mirrors docker.io,
                      registry.k8s.io/k8s.gcr.io, gcr.io, quay.io, ghcr.io, docker.pkg.github.com)
  --listen ADDR:PORT  overrides "listen" (default 0.0.0.0:5000; port 0 picks a free port)
  --data-dir DIR      overrides "data_dir" (default ./regmirror-data)
  --check-config      validate the config, print a summary and exit (0 valid, 2 invalid)
  --print-default-config
                      print the embedded default config and exit
  --help              this text
)";

struct ServeArgs {
  std::string config_path;
  std::string listen;
  std::string data_dir;
  bool check_only = false;
  bool print_default = false;
};

// Reads a secret named by the config; the secret itself never appears in messages.
std::string read_secret(const config::UpstreamConfig& upstream, const std::string& where) {
  if (!upstream.password_file.empty()) {
    std::ifstream in(upstream.password_file, std::ios::binary);
    if (!in) throw config::ConfigError(where + ".password_file: cannot read " + upstream.password_file);
    std::ostringstream text;
    text << in.rdbuf();
    auto secret = text.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    return secret;
  }
  if (!upstream.password_env.empty()) {
    // Start-up, before any thread exists: getenv cannot race a setenv.
    const char* value = std::getenv(upstream.password_env.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) {
      throw config::ConfigError(where + ".password_env: variable " + upstream.password_env +
                                " is not set");
    }
    return value;
  }
  return {};
}

std::vector<proxy::upstream::Endpoint> endpoints_for(const config::RegistryConfig& registry) {
  std::vector<proxy::upstream::Endpoint> out;
  for (std::size_t i = 0; i < registry.upstreams.size(); ++i) {
    const auto& upstream = registry.upstreams[i];
    proxy::upstream::Endpoint endpoint{upstream.url, std::nullopt};
    if (!upstream.username.empty()) {
      auto where = "registries." + registry.name + ".upstreams[" + std::to_string(i) + "]";
      endpoint.credentials = proxy::upstream::Credentials{upstream.username, read_secret(upstream, where)};
    }
    out.push_back(std::move(endpoint));
  }
  return out;
}

// Ready when the data directory takes a write; never probes upstreams.
std::string check_ready(const fs::path& data_dir) {
  auto probe = data_dir / "tmp" / ".readyz-probe";
  int fd = ::open(probe.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "data dir not writable: " + std::generic_category().message(errno);
  bool wrote = ::write(fd, "ok", 2) == 2;
  ::close(fd);
  ::unlink(probe.c_str());
  return wrote ? std::string() : "data dir not writable (write failed)";
}

// The exit status when the command stops after parsing; nullopt to go on.
std::optional<int> parse_args(const std::vector<std::string>& args, ServeArgs& out) {
  CliOptions options("serve", kServeUsage);
  options.value({"--config"}, out.config_path)
      .value({"--listen"}, out.listen)
      .value({"--data-dir"}, out.data_dir)
      .flag({"--check-config"}, out.check_only)
      .flag({"--print-default-config"}, out.print_default);
  return CliOptions::exit_code(options.parse(args));
}

}  // namespace

int run_serve_command(const std::vector<std::string>& args) {
  ServeArgs parsed;
  if (auto code = parse_args(args, parsed)) return *code;
  if (parsed.print_default) {
    std::cout << config::default_config_json() << "\n";
    return 0;
  }

  config::Config cfg;
  config::DigestBlocklist blocklist;
  std::map<std::string, std::vector<proxy::upstream::Endpoint>> endpoints;
  try {
    cfg = parsed.config_path.empty() ? config::default_config()
                                     : config::load_config_file(parsed.config_path);
    // Command-line overrides go through the same validation as the file.
    if (!parsed.listen.empty() || !parsed.data_dir.empty()) {
      auto patched = cfg;
      if (!parsed.listen.empty()) patched.listen = parsed.listen;
      if (!parsed.data_dir.empty()) patched.data_dir = parsed.data_dir;
      auto colon = patched.listen.rfind(':');
      if (colon == std::string::npos || colon + 1 == patched.listen.size() ||
          patched.listen.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
        throw config::ConfigError("--listen: must be ADDR:PORT, got '" + patched.listen + "'");
      }
      cfg = std::move(patched);
    }
    for (const auto& [name, registry] : cfg.registries) endpoints[name] = endpoints_for(registry);
    if (!cfg.blocked_digests_file.empty()) {
      auto parsed_list = config::read_digest_blocklist(cfg.blocked_digests_file);
      if (!parsed_list.error.empty()) throw config::ConfigError("blocked_digests_file: " + parsed_list.error);
      blocklist.replace(std::move(parsed_list.digests));
    }
  } catch (const config::ConfigError& e) {
    std::cerr << "regmirror serve: invalid config: " << e.what() << "\n";
    return 2;
  }
  if (parsed.check_only) {
    std::cout << "config OK: " << cfg.registries.size() << " registries, listen " << cfg.listen
              << ", data_dir " << cfg.data_dir << "\n";
    return 0;
  }

  namespace logging = proxy::logging;
  // Thousands of kept-alive node connections need descriptors: take the hard limit (what an
  // operator grants with LimitNOFILE or ulimit -Hn), not the 1024 soft default.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  logging::set_format(cfg.log_format == config::LogFormat::kJson ? logging::Format::kJson
                                                                 : logging::Format::kText);
  const fs::path data_dir = cfg.data_dir;
  auto blobs = cache::FsBlobStore::open_at(data_dir);
  if (!blobs) {
    logging::error("startup_failed", {{"what", "open blob store"}, {"path", data_dir.string()},
                                      {"error", blobs.error().message()}});
    return 1;
  }
  if ((*blobs)->removed_temp_files() > 0) {
    logging::info("recovered_partial_writes",
                  {{"removed_temp_files", std::to_string((*blobs)->removed_temp_files())}});
  }
  std::string index_error;
  auto metadata = cache::RocksMetadataStore::open_at(data_dir / "index", &index_error);
  if (!metadata) {
    // Left exactly as it was: an operator decides what to do with a damaged index.
    logging::error("startup_failed", {{"what", "open index (RocksDB)"},
                                      {"path", (data_dir / "index").string()},
                                      {"error", index_error}});
    return 1;
  }

  // The shared bucket tier: ManifestService and the handler's metadata go through it; the
  // network-thread fast path keeps opening the local store (a miss never blocks on S3 there).
  std::unique_ptr<proxy::s3::S3Tier> tier;
  if (cfg.storage.s3) {
    std::string s3_error;
    tier = proxy::s3::make_s3_tier(cfg, **blobs, **metadata, &s3_error);
    if (!tier) {
      logging::error("startup_failed", {{"what", "open S3 tier"}, {"error", s3_error}});
      return 1;
    }
  }
  cache::BlobStore& shared_blobs = tier ? static_cast<cache::BlobStore&>(*tier->blobs) : **blobs;
  cache::MetadataStore& shared_metadata =
      tier ? static_cast<cache::MetadataStore&>(*tier->metadata) : **metadata;

  proxy::metrics::Metrics metrics;
  // Every upstream transfer runs on one transfer thread (libcurl multi): a miss costs a
  // handle, not a thread, and the index work below cannot be starved by transfers.
  proxy::upstream::CurlMultiOptions transfer_options;
  transfer_options.max_transfers = cfg.limits.max_upstream_transfers;
  proxy::upstream::CurlMulti transfers(transfer_options);
  proxy::upstream::ClientOptions client_options;
  client_options.connect_timeout = cfg.limits.upstream_connect_timeout;
  client_options.stall_timeout = cfg.limits.upstream_stall_timeout;
  client_options.request_timeout = cfg.limits.upstream_request_timeout;
  proxy::upstream::UpstreamClient client(transfers, client_options);
  proxy::upstream::CircuitOptions circuit;
  circuit.failure_threshold = cfg.limits.upstream_failures_to_open;
  circuit.open_for = cfg.limits.upstream_open_seconds;
  config::RoutingTable routes(cfg);
  std::map<std::string, std::unique_ptr<proxy::registry::UpstreamChain>> chains;
  for (const auto& [name, registry] : cfg.registries) {
    chains.emplace(name, std::make_unique<proxy::registry::UpstreamChain>(
                             registry, std::move(endpoints[name]), client, metrics, circuit));
  }

  std::unique_ptr<proxy::server::AccessPolicy> access_policy;
  std::unique_ptr<proxy::server::TlsContextProvider> tls;
  try {
    if (!cfg.access.allow_cidrs.empty() || !cfg.access.htpasswd_file.empty() ||
        !cfg.access.tokens_file.empty() || !cfg.access.trusted_proxies.empty()) {
      access_policy = std::make_unique<proxy::server::AccessPolicy>(cfg.access);
    }
    if (cfg.tls) {
      tls = std::make_unique<proxy::server::TlsContextProvider>(cfg.tls->cert_file,
                                                                cfg.tls->key_file);
    }
  } catch (const std::exception& e) {
    std::cerr << "regmirror serve: invalid config: " << e.what() << "\n";
    return 2;
  }

  auto unix_now = [] { return proxy::unix_now(); };
  // Blocking work never runs on the network threads: index reads and writes (RocksDB, small
  // files) on one pool, blob writes and bucket transfers on another, so neither waits behind
  // the other.
  boost::asio::thread_pool index_pool(8);
  boost::asio::thread_pool disk_pool(16);
  cache::AccessTracker access;
  cache::Evictor evictor(**blobs, **metadata, access,
                         cache::EvictorOptions{cfg.max_cache_bytes, 0.9, 60}, unix_now);
  std::atomic<bool> eviction_queued{false};
  auto run_eviction = [&] {
    auto started = std::chrono::steady_clock::now();
    auto report = evictor.run_once();
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics.cache_size(report.bytes_after, report.blob_count);
    if (!report.error.empty()) {
      logging::error("eviction_failed", {{"error", report.error}});
    } else if (!report.removed.empty()) {
      logging::info("evicted", {{"blobs", std::to_string(report.removed.size())},
                                {"bytes_before", std::to_string(report.bytes_before)},
                                {"bytes_after", std::to_string(report.bytes_after)},
                                {"records_read", std::to_string(report.records_read)},
                                {"seconds", std::to_string(seconds)}});
    }
  };
  auto queue_eviction = [&] {
    if (eviction_queued.exchange(true)) return;
    boost::asio::post(index_pool, [&] {
      run_eviction();
      eviction_queued = false;
    });
  };

  proxy::registry::HotManifestCache hot_manifests(64ULL << 20);
  proxy::registry::ManifestService manifests(shared_blobs, shared_metadata, metrics, index_pool,
                                             unix_now, cfg.offline, &hot_manifests);
  proxy::registry::BlobFetcherOptions fetcher_options;
  fetcher_options.resume_attempts = cfg.limits.upstream_resume_attempts;
  proxy::registry::BlobFetcher fetcher(**blobs, metrics, disk_pool, fetcher_options,
                                       [&](const cache::Digest& digest, std::uint64_t bytes) {
                                         // Index write and eviction are their own tasks, never
                                         // inline in a request.
                                         boost::asio::post(index_pool, [&, digest, bytes] {
                                           if (evictor.note_committed(digest, bytes)) {
                                             queue_eviction();
                                           }
                                         });
                                       });
  fetcher.set_tier(tier.get());
  proxy::registry::BlobService blob_service(proxy::registry::BlobServiceParts{
      blobs->get(), &fetcher, &metrics, &access, &disk_pool, tier.get(), cfg.offline});

  config::ClientScopes scopes(cfg.access.scopes);
  proxy::registry::RepositoryScope repository_scope(shared_metadata, index_pool, cfg.offline);
  proxy::registry::RegistryHandlerParts parts;
  parts.config = &cfg;
  parts.routes = &routes;
  parts.chains = &chains;
  parts.metadata = &shared_metadata;
  parts.manifests = &manifests;
  parts.hot = &hot_manifests;
  parts.blobs = &blob_service;
  parts.metrics = &metrics;
  parts.access = &access;
  parts.index_pool = &index_pool;
  parts.readiness = [data_dir] { return check_ready(data_dir); };
  parts.access_policy = access_policy.get();
  parts.serve_metrics = cfg.metrics_listen.empty();
  parts.blocklist = cfg.blocked_digests_file.empty() ? nullptr : &blocklist;
  parts.scopes = &scopes;
  parts.repository_scope = &repository_scope;
  proxy::registry::RegistryHandler handler(parts);

  proxy::server::ServerOptions options;
  options.threads = std::max(1U, std::thread::hardware_concurrency());
  options.max_connections = cfg.limits.max_connections;
  options.header_limit = cfg.limits.header_limit_bytes;
  options.max_header_fields = cfg.limits.max_header_fields;
  options.header_timeout = cfg.limits.header_timeout;
  options.idle_timeout = cfg.limits.idle_timeout;
  options.write_timeout = cfg.limits.write_timeout;
  options.tls = tls.get();
  proxy::server::HttpServer server(handler, options);
  auto bound = server.listen(cfg.listen);
  if (!bound) {
    logging::error("startup_failed", {{"what", "listen"}, {"addr", cfg.listen},
                                      {"error", bound.error().message()}});
    return 1;
  }

  // Side listeners: the admin API (loopback) and, optionally, metrics on their own port.
  // Neither is allowed to keep the mirror from serving pulls: failures are logged.
  std::vector<std::unique_ptr<proxy::server::HttpServer>> side_servers;
  proxy::admin::AdminHandler admin(proxy::admin::AdminHandlerParts{
      &cfg, &routes, blobs->get(), metadata->get(), &evictor, &index_pool, tier.get(), &chains,
      &hot_manifests, parts.blocklist});
  auto metrics_parts = parts;
  metrics_parts.serve_metrics = true;
  proxy::registry::RegistryHandler metrics_handler(metrics_parts);
  auto add_side = [&](proxy::server::Handler& side_handler, const std::string& address,
                      const char* event) {
    proxy::server::ServerOptions side_options;
    side_options.threads = 1;
    side_options.max_connections = 256;
    auto side = std::make_unique<proxy::server::HttpServer>(side_handler, side_options);
    auto side_bound = side->listen(address);
    if (!side_bound) {
      logging::error("listen_failed", {{"what", event}, {"addr", address},
                                       {"error", side_bound.error().message()}});
      return;
    }
    logging::info(event, {{"addr", *side_bound}});
    side_servers.push_back(std::move(side));
  };
  if (!cfg.admin_listen.empty()) add_side(admin, cfg.admin_listen, "admin_listening");
  if (!cfg.metrics_listen.empty()) add_side(metrics_handler, cfg.metrics_listen, "metrics_listening");

  // In the background, serving meanwhile: bring the index in line with the files (a crash, an
  // operator's rm, an index from an older version), then evict if a smaller max_cache_bytes was
  // configured since the last run.
  boost::asio::post(index_pool, [&] {
    auto started = std::chrono::steady_clock::now();
    auto reconciled = evictor.reconcile();
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!reconciled.error.empty()) {
      logging::error("reconcile_failed", {{"error", reconciled.error}});
    } else {
      logging::info("reconciled", {{"files", std::to_string(reconciled.files)},
                                   {"added", std::to_string(reconciled.added)},
                                   {"resized", std::to_string(reconciled.resized)},
                                   {"orphans_removed", std::to_string(reconciled.orphans_removed)},
                                   {"seconds", std::to_string(seconds)}});
    }
    run_eviction();
  });
  std::atomic<bool> stopping{false};
  std::thread housekeeping([&] {
    // Bookkeeping every minute: last-use times into the index, eviction when needed.
    for (int tick = 1; !stopping; ++tick) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      metrics.upstream_transfers(transfers.running(), transfers.queued());
      if (tick % 60 == 0) queue_eviction();
    }
  });

  // Repository policy, scopes and blocklist follow their files while serving (SIGHUP or mtime).
  // Started before "listening" is logged: an edit made once the mirror says it is up is always
  // newer than the mtimes the reloader starts from.
  std::unique_ptr<PolicyReloader> policy_reloader;
  if (!parsed.config_path.empty()) {
    policy_reloader = std::make_unique<PolicyReloader>(parsed.config_path, cfg.blocked_digests_file,
                                                       routes, parts.blocklist ? &blocklist : nullptr,
                                                       &scopes);
    policy_reloader->start();
  }
  logging::info("listening", {{"addr", *bound},
                              {"data_dir", cfg.data_dir},
                              {"registries", std::to_string(cfg.registries.size())},
                              {"tls", tls ? "true" : "false"},
                              {"offline", cfg.offline ? "true" : "false"}});
  std::vector<std::thread> side_threads;
  side_threads.reserve(side_servers.size());
  for (auto& side : side_servers) side_threads.emplace_back([&side] { side->run(); });
  server.run();
  logging::info("stopping", {});
  if (policy_reloader) policy_reloader->stop();
  transfers.stop();  // before the network contexts its completions post to are gone
  for (auto& side : side_servers) side->stop();
  for (auto& thread : side_threads) thread.join();
  stopping = true;
  housekeeping.join();
  index_pool.stop();
  disk_pool.stop();
  index_pool.join();
  disk_pool.join();
  return 0;
}

}  // namespace regmirror::app
