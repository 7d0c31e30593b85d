#pragma once
// Reloads the repository policy (the registries' allow/deny keys of the config file, and
// access.scopes) and the digest blocklist while serving: on SIGHUP, and when either file's mtime changes (polled
// every second). A file that fails to load keeps the old rules; the error is logged. One log
// line per reload (policy_reloaded or policy_reload_failed). Other config keys need a restart.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "config/client_scopes.hpp"
#include "config/digest_blocklist.hpp"
#include "config/routing_table.hpp"

namespace regmirror::app {

class PolicyReloader {
 public:
  // `blocklist` null when no blocked_digests_file is configured.
  // `scopes`: access.scopes, replaced on each reload too (null: not reloaded).
  PolicyReloader(std::string config_path, std::string blocklist_path, config::RoutingTable& routes,
                 config::DigestBlocklist* blocklist, config::ClientScopes* scopes = nullptr);
  ~PolicyReloader();
  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

  // Installs the SIGHUP handler and starts the watcher thread.
  void start();
  void stop();
  // One reload now (the watcher calls it; tests and callers may too).
  bool reload(const char* reason);

 private:
  void run();

  std::string config_path_;
  std::string blocklist_path_;
  config::RoutingTable& routes_;
  config::DigestBlocklist* blocklist_;
  config::ClientScopes* scopes_;
  std::int64_t config_mtime_ = -1;
  std::int64_t blocklist_mtime_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace regmirror::app
