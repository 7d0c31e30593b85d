#include "proxy/app/policy_reloader.hpp"

#include <sys/stat.h>

#include <csignal>
#include <exception>

#include "config/load.hpp"
#include "proxy/logging/logger.hpp"

namespace regmirror::app {
namespace {

volatile std::sig_atomic_t g_hangup = 0;

extern "C" void on_hangup(int) { g_hangup = 1; }

std::int64_t mtime_of(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

constexpr auto kTick = std::chrono::milliseconds(200);
constexpr int kTicksPerPoll = 5;  // file mtimes once a second

}  // namespace

PolicyReloader::PolicyReloader(std::string config_path, std::string blocklist_path,
                               config::RoutingTable& routes, config::DigestBlocklist* blocklist,
                               config::ClientScopes* scopes)
    : config_path_(std::move(config_path)),
      blocklist_path_(std::move(blocklist_path)),
      routes_(routes),
      blocklist_(blocklist),
      scopes_(scopes),
      config_mtime_(mtime_of(config_path_)),
      blocklist_mtime_(mtime_of(blocklist_path_)) {}

PolicyReloader::~PolicyReloader() { stop(); }

void PolicyReloader::start() {
  struct sigaction action {};
  action.sa_handler = on_hangup;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGHUP, &action, nullptr);
  thread_ = std::thread([this] { run(); });
}

void PolicyReloader::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicyReloader::run() {
  std::unique_lock lock(mutex_);
  for (int tick = 1; !stop_; ++tick) {
    wake_.wait_for(lock, kTick, [this] { return stop_; });
    if (stop_) break;
    const char* reason = nullptr;
    if (g_hangup != 0) {
      g_hangup = 0;
      reason = "sighup";
    } else if (tick % kTicksPerPoll == 0 && (mtime_of(config_path_) != config_mtime_ ||
                                             mtime_of(blocklist_path_) != blocklist_mtime_)) {
      reason = "file_changed";
    }
    if (reason == nullptr) continue;
    lock.unlock();
    reload(reason);
    lock.lock();
  }
}

bool PolicyReloader::reload(const char* reason) {
  // The mtimes first: a write racing with the read is seen again on the next poll.
  config_mtime_ = mtime_of(config_path_);
  blocklist_mtime_ = mtime_of(blocklist_path_);
  config::Config next;
  try {
    next = config::load_config_file(config_path_);
  } catch (const std::exception& e) {
    proxy::logging::error("policy_reload_failed", {{"reason", reason}, {"file", config_path_},
                                            {"error", e.what()}, {"kept", "previous policy"}});
    return false;
  }
  config::BlocklistParse blocked;
  if (blocklist_ != nullptr) {
    blocked = config::read_digest_blocklist(blocklist_path_);
    if (!blocked.error.empty()) {
      proxy::logging::error("policy_reload_failed", {{"reason", reason}, {"file", blocklist_path_},
                                              {"error", blocked.error}, {"kept", "previous policy"}});
      return false;
    }
  }
  auto registries = routes_.replace_policies(next);
  if (scopes_ != nullptr) scopes_->replace(next.access.scopes);
  std::string digests = "-";
  if (blocklist_ != nullptr) {
    digests = std::to_string(blocked.digests.size());
    blocklist_->replace(std::move(blocked.digests));
  }
  proxy::logging::info("policy_reloaded", {{"reason", reason},
                                    {"registries", std::to_string(registries)},
                                    {"blocked_digests", digests},
                                    {"scoped_clients", std::to_string(next.access.scopes.size())}});
  return true;
}

}  // namespace regmirror::app
