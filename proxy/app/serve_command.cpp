#include "proxy/app/serve_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cache/access_tracker.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "config/load.hpp"
#include "config/routing_table.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/blob_fetcher.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/registry_handler.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/http_server.hpp"
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
    const char* value = std::getenv(upstream.password_env.c_str());
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
  if (fd < 0) return "data dir not writable: " + std::string(std::strerror(errno));
  bool wrote = ::write(fd, "ok", 2) == 2;
  ::close(fd);
  ::unlink(probe.c_str());
  return wrote ? std::string() : "data dir not writable (write failed)";
}

int parse_args(const std::vector<std::string>& args, ServeArgs& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) {
        std::cerr << "regmirror serve: " << name << " needs a value\n";
        return nullptr;
      }
      return &args[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kServeUsage;
      return 0;
    } else if (arg == "--config") {
      auto v = value("--config");
      if (!v) return 2;
      out.config_path = *v;
    } else if (arg == "--listen") {
      auto v = value("--listen");
      if (!v) return 2;
      out.listen = *v;
    } else if (arg == "--data-dir") {
      auto v = value("--data-dir");
      if (!v) return 2;
      out.data_dir = *v;
    } else if (arg == "--check-config") {
      out.check_only = true;
    } else if (arg == "--print-default-config") {
      out.print_default = true;
    } else {
      std::cerr << "regmirror serve: unknown option '" << arg << "' (see regmirror serve --help)\n";
      return 2;
    }
  }
  return -1;
}

}  // namespace

int run_serve_command(const std::vector<std::string>& args) {
  ServeArgs parsed;
  if (int code = parse_args(args, parsed); code >= 0) return code;
  if (parsed.print_default) {
    std::cout << config::default_config_json() << "\n";
    return 0;
  }

  config::Config cfg;
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

  proxy::metrics::Metrics metrics;
  proxy::upstream::UpstreamClient client;
  config::RoutingTable routes(cfg);
  std::map<std::string, std::unique_ptr<proxy::registry::UpstreamChain>> chains;
  for (const auto& [name, registry] : cfg.registries) {
    chains.emplace(name, std::make_unique<proxy::registry::UpstreamChain>(
                             registry, std::move(endpoints[name]), client, metrics));
  }
  // Blocking work (upstream HTTP, disk, RocksDB) runs here, never on the network threads.
  boost::asio::thread_pool workers(64);
  proxy::registry::ManifestService manifests(
      **blobs, **metadata, metrics,
      [] {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      },
      cfg.offline);
  proxy::registry::BlobFetcher fetcher(**blobs, metrics, [&workers](std::function<void()> job) {
    boost::asio::post(workers, std::move(job));
  });

  proxy::registry::RegistryHandlerParts parts;
  parts.config = &cfg;
  parts.routes = &routes;
  parts.chains = &chains;
  parts.blobs = blobs->get();
  parts.metadata = metadata->get();
  parts.manifests = &manifests;
  parts.fetcher = &fetcher;
  parts.metrics = &metrics;
  cache::AccessTracker access;
  parts.access = &access;
  parts.workers = &workers;
  parts.readiness = [data_dir] { return check_ready(data_dir); };
  proxy::registry::RegistryHandler handler(std::move(parts));

  proxy::server::ServerOptions options;
  options.threads = std::max(1U, std::thread::hardware_concurrency());
  proxy::server::HttpServer server(handler, options);
  auto bound = server.listen(cfg.listen);
  if (!bound) {
    logging::error("startup_failed", {{"what", "listen"}, {"addr", cfg.listen},
                                      {"error", bound.error().message()}});
    return 1;
  }
  logging::info("listening", {{"addr", *bound},
                              {"data_dir", cfg.data_dir},
                              {"registries", std::to_string(cfg.registries.size())},
                              {"offline", cfg.offline ? "true" : "false"}});
  server.run();
  logging::info("stopping", {});
  workers.stop();
  workers.join();
  return 0;
}

}  // namespace regmirror::app
