#pragma once
// The request path below the integration level, wired as proxy/app/serve_command.cpp wires it:
// a docker.io registry whose one upstream is a LoopbackHttpServer (scripted per test), an
// FsBlobStore in a temporary directory, a MemoryMetadataStore, the hot manifest cache, the
// manifest and blob services, and optionally the registry handler behind the real HttpServer on
// 127.0.0.1:0 (clients: loopback_http_client.hpp). Test code only.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/access_tracker.hpp"
#include "cache/digest.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/memory_metadata_store.hpp"
#include "config/config.hpp"
#include "config/digest_blocklist.hpp"
#include "config/routing_table.hpp"
#include "proxy/app/temp_dir.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/blob_download.hpp"
#include "proxy/registry/blob_fetcher.hpp"
#include "proxy/registry/blob_service.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/manifest_service.hpp"
#include "proxy/registry/registry_handler.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/http_server.hpp"
#include "proxy/server/unix_time.hpp"
#include "proxy/upstream/curl_multi.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "tests/unit/proxy/loopback_http_client.hpp"
#include "tests/unit/proxy/loopback_http_server.hpp"

namespace regmirror::testing {

// Polls `done` until it holds or the deadline passes; true when it held.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::steady_clock::duration limit = kDeadline) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Deterministic pseudo-random bytes (xorshift): a chunk served from the wrong offset never
// compares equal by accident.
inline std::string pattern_bytes(std::size_t n, unsigned seed = 1) {
  std::string out(n, '\0');
  std::uint32_t x = 2463534242u ^ seed;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x & 0xff);
  }
  return out;
}

inline std::string image_manifest(const std::string& label) {
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,)"
         R"("digest":")" +
         cache::digest_of(label).str() + R"("},"layers":[]})";
}

inline constexpr const char* kOciManifestType = "application/vnd.oci.image.manifest.v1+json";

// A gate an upstream answer can wait at (bounded: an unopened gate never hangs a test).
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    if (!opened_) {
      opened_ = true;
      promise_.set_value();
    }
  }
  void wait() const { future_.wait_for(kDeadline); }

 private:
  std::mutex mutex_;
  bool opened_ = false;
  std::promise<void> promise_;
  std::shared_future<void> future_ = promise_.get_future().share();
};

// The registry's upstream: answers with what the test's current script says (changeable while
// running) and keeps every request it saw.
class ScriptedUpstream {
 public:
  using Script = LoopbackHttpServer::Answer;

  ScriptedUpstream()
      : server_([this](const SeenRequest& request) {
          std::shared_ptr<const Script> script;
          {
            std::lock_guard lock(mutex_);
            script = script_;
          }
          if (!script) return TestAnswer{404, {}, "no script", std::nullopt, {}};
          return (*script)(request);
        }) {}

  // The script may run after the test body has ended (a late retry): capture by value.
  void answer(Script script) {
    auto next = std::make_shared<const Script>(std::move(script));
    std::lock_guard lock(mutex_);
    script_ = std::move(next);
  }
  std::string url() const { return server_.url(); }
  std::vector<SeenRequest> requests() const { return server_.requests(); }
  // How many requests had exactly this method and target.
  std::size_t count(const std::string& method, const std::string& target) const {
    std::size_t n = 0;
    for (const auto& seen : server_.requests()) n += seen.method == method && seen.target == target;
    return n;
  }

 private:
  std::mutex mutex_;
  std::shared_ptr<const Script> script_;
  LoopbackHttpServer server_;  // last: its threads call the script until it is destroyed
};

// A registry-like answer for one blob (GET and HEAD; Range ignored, like a plain file server).
inline TestAnswer blob_answer(const std::string& bytes) {
  return TestAnswer{200,
                    {{"Content-Type", "application/octet-stream"},
                     {"Docker-Content-Digest", cache::digest_of(bytes).str()}},
                    bytes,
                    std::nullopt,
                    {}};
}

inline TestAnswer manifest_answer(const std::string& body, const char* type = kOciManifestType) {
  return TestAnswer{
      200,
      {{"Content-Type", type}, {"Docker-Content-Digest", cache::digest_of(body).str()}},
      body,
      std::nullopt,
      {}};
}

// The real HTTP server on 127.0.0.1:0, serving `handler` on its own thread until destroyed.
class RunningServer {
 public:
  RunningServer(proxy::server::Handler& handler, proxy::server::ServerOptions options)
      : server_(handler, options) {
    // As proxy/app/main.cpp does: sendfile(2) to a client that reset raises SIGPIPE, which
    // would end the whole test binary instead of that one connection.
    std::signal(SIGPIPE, SIG_IGN);
    auto bound = server_.listen("127.0.0.1:0");
    if (!bound) throw std::runtime_error("listen: " + bound.error().message());
    address_ = *bound;
    thread_ = std::thread([this] { server_.run(); });
  }
  ~RunningServer() { stop(); }
  // Returns once every network thread has finished; the contexts stay until destruction, so
  // completions still posted to them (upstream transfers) are dropped, not run on freed memory.
  void stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  const std::string& address() const { return address_; }  // "127.0.0.1:PORT"

 private:
  proxy::server::HttpServer server_;
  std::string address_;
  std::thread thread_;
};

struct RequestPathOptions {
  proxy::registry::BlobFetcherOptions fetcher;
  bool serve_http = false;  // the registry handler behind a real HttpServer
  proxy::server::ServerOptions server;
};

class RequestPath {
 public:
  explicit RequestPath(RequestPathOptions options = {}) : options_(std::move(options)) {
    auto opened = cache::FsBlobStore::open_at(dir_.path() / "data");
    if (!opened)
      throw std::runtime_error("cannot open the blob store: " + opened.error().message());
    blobs_ = std::move(*opened);
    config::RegistryConfig hub;
    hub.name = "docker.io";
    hub.upstreams = {{upstream.url(), "", "", "", ""}};
    config_.registries.emplace(hub.name, hub);
    config_.default_registry = hub.name;
    routes_ = std::make_unique<config::RoutingTable>(config_);
    proxy::upstream::CircuitOptions circuit;
    circuit.failure_threshold = 1000;  // cases that break the upstream on purpose never open it
    chains_.emplace(hub.name,
                    std::make_unique<proxy::registry::UpstreamChain>(
                        config_.registries.at(hub.name),
                        std::vector<proxy::upstream::Endpoint>{{upstream.url(), std::nullopt}},
                        client_, metrics_, circuit));
    manifests_ = std::make_unique<proxy::registry::ManifestService>(
        *blobs_, metadata, metrics_, index_pool_, [this] { return now.load(); }, false, &hot);
    fetcher_ = std::make_unique<proxy::registry::BlobFetcher>(*blobs_, metrics_, disk_pool_,
                                                              options_.fetcher);
    blob_service_ =
        std::make_unique<proxy::registry::BlobService>(proxy::registry::BlobServiceParts{
            blobs_.get(), fetcher_.get(), &metrics_, &access_, &disk_pool_, nullptr, false});
    network_thread_ = std::thread([this] { network_.run(); });
    if (options_.serve_http) start_server();
  }

  ~RequestPath() {
    if (server_) server_->stop();
    transfers_.stop();  // after the network threads, before their contexts are destroyed
    work_.reset();
    network_.stop();
    network_thread_.join();
    index_pool_.join();
    disk_pool_.join();
  }

  const proxy::registry::UpstreamChain& chain() const { return *chains_.at("docker.io"); }
  cache::FsBlobStore& blobs() { return *blobs_; }
  proxy::registry::ManifestService& manifests() { return *manifests_; }
  proxy::registry::BlobFetcher& fetcher() { return *fetcher_; }
  boost::asio::any_io_executor network() { return network_.get_executor(); }
  const std::string& address() const { return server_->address(); }  // with serve_http

  // Runs a coroutine on the network thread and waits for its result (nullopt past the deadline).
  template <class T>
  std::optional<T> run(std::function<boost::asio::awaitable<T>()> work) {
    auto done = std::make_shared<std::promise<T>>();
    auto future = done->get_future();
    boost::asio::co_spawn(
        network_,
        [work = std::move(work), done]() -> boost::asio::awaitable<void> {
          done->set_value(co_await work());
        },
        [](const std::exception_ptr&) {});
    if (future.wait_for(kDeadline) != std::future_status::ready) return std::nullopt;
    return future.get();
  }

  proxy::registry::Answer<proxy::registry::Manifest> get_manifest(const std::string& repository,
                                                                  const std::string& reference) {
    auto got = run<proxy::registry::Answer<proxy::registry::Manifest>>(
        [this, repository, reference]()
            -> boost::asio::awaitable<proxy::registry::Answer<proxy::registry::Manifest>> {
          co_return co_await manifests_->get(chain(), repository, reference);
        });
    if (!got)
      return proxy::registry::registry_error(proxy::registry::OciError::kInternal,
                                             "timed out in the test");
    return std::move(*got);
  }

  // A blob committed to the store as a finished download would leave it.
  cache::Digest put_blob(const std::string& bytes) {
    auto digest = cache::digest_of(bytes);
    auto writer = blobs_->begin_write(digest, bytes.size());
    EXPECT_TRUE(writer);
    EXPECT_TRUE((*writer)->write(std::as_bytes(std::span(bytes.data(), bytes.size()))));
    EXPECT_TRUE((*writer)->commit());
    return digest;
  }

  // A manifest the index knows under a tag, validated now (a tag HIT within its TTL).
  cache::Digest put_tagged_manifest(const std::string& repository, const std::string& tag,
                                    const std::string& body, const std::string& media_type) {
    auto digest = put_blob(body);
    EXPECT_TRUE(metadata.put_manifest(digest, {media_type, body.size()}));
    EXPECT_TRUE(metadata.put_tag({"docker.io", repository, tag},
                                 {digest.str(), media_type, body.size(), now.load(), now.load()}));
    return digest;
  }

  // The stored bytes of a blob ("" when absent).
  std::optional<std::string> stored(const cache::Digest& digest) {
    auto reader = blobs_->open(digest);
    if (!reader) return std::nullopt;
    std::string out((*reader)->size(), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      auto n = (*reader)->read_at(
          done, std::as_writable_bytes(std::span(out.data() + done, out.size() - done)));
      if (!n || *n == 0) return std::nullopt;
      done += *n;
    }
    return out;
  }

  bool no_temp_files() const { return std::filesystem::is_empty(dir_.path() / "data" / "tmp"); }

  // Waits until the download settles (complete or failed); its final status.
  static proxy::registry::BlobDownload::Status settled(proxy::registry::BlobDownload& download) {
    using State = proxy::registry::BlobDownload::State;
    eventually([&] {
      auto state = download.status().state;
      return state == State::kComplete || state == State::kFailed;
    });
    return download.status();
  }

  ScriptedUpstream upstream;  // scripted by each test
  cache::MemoryMetadataStore metadata;
  proxy::registry::HotManifestCache hot{8 << 20};
  config::DigestBlocklist blocklist;                 // used by the handler
  std::atomic<std::int64_t> now{proxy::unix_now()};  // ManifestService's clock

 private:
  void start_server() {
    proxy::registry::RegistryHandlerParts parts;
    parts.config = &config_;
    parts.routes = routes_.get();
    parts.chains = &chains_;
    parts.metadata = &metadata;
    parts.manifests = manifests_.get();
    parts.hot = &hot;
    parts.blobs = blob_service_.get();
    parts.metrics = &metrics_;
    parts.access = &access_;
    parts.index_pool = &index_pool_;
    parts.readiness = [] { return std::string(); };
    parts.blocklist = &blocklist;
    handler_ = std::make_unique<proxy::registry::RegistryHandler>(parts);
    server_ = std::make_unique<RunningServer>(*handler_, options_.server);
  }

  RequestPathOptions options_;
  app::TempDir dir_{"regmirror-request-path-"};
  std::unique_ptr<cache::FsBlobStore> blobs_;
  proxy::metrics::Metrics metrics_;
  proxy::upstream::CurlMulti transfers_;
  proxy::upstream::UpstreamClient client_{transfers_};
  config::Config config_;
  std::unique_ptr<config::RoutingTable> routes_;
  std::map<std::string, std::unique_ptr<proxy::registry::UpstreamChain>> chains_;
  boost::asio::thread_pool index_pool_{2};
  boost::asio::thread_pool disk_pool_{2};
  cache::AccessTracker access_;
  std::unique_ptr<proxy::registry::ManifestService> manifests_;
  std::unique_ptr<proxy::registry::BlobFetcher> fetcher_;
  std::unique_ptr<proxy::registry::BlobService> blob_service_;
  boost::asio::io_context network_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      network_.get_executor()};
  std::thread network_thread_;
  std::unique_ptr<proxy::registry::RegistryHandler> handler_;
  std::unique_ptr<RunningServer> server_;
};

// The OCI error code of an error body ("" when the body is not one).
inline std::string oci_error_code(const std::string& body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("errors") || !doc["errors"].is_array() ||
      doc["errors"].empty() || !doc["errors"][0].contains("code") ||
      !doc["errors"][0]["code"].is_string()) {
    return {};
  }
  return doc["errors"][0]["code"].get<std::string>();
}

}  // namespace regmirror::testing
