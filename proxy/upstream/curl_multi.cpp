#include "proxy/upstream/curl_multi.hpp"

#include <curl/curl.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/upstream/upstream_error.hpp"

namespace regmirror::proxy::upstream {

struct CurlMulti::Impl {
  struct Transfer {
    TransferId id = 0;
    std::unique_ptr<HttpExchange> exchange;
    Done done;
    CURL* handle = nullptr;  // set once running
  };
  enum class Op { kStart, kResume, kCancel };
  struct Command {
    Op op;
    TransferId id;
    std::unique_ptr<Transfer> transfer;  // kStart
  };

  CurlMultiOptions options;
  CURLM* multi = nullptr;
  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::mutex stop_mutex;
  std::atomic<TransferId> next_id{1};

  std::mutex commands_mutex;
  std::vector<Command> commands;  // filled by any thread, drained by the transfer thread

  // Transfer thread only.
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> running;
  std::deque<std::unique_ptr<Transfer>> waiting;
  std::vector<CURL*> idle_handles;
  std::atomic<std::size_t> running_count{0};
  std::atomic<std::size_t> queued_count{0};

  explicit Impl(CurlMultiOptions opts) : options(opts) {
    static std::once_flag global_init;
    std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    if (options.max_host_connections > 0) {
      curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                        static_cast<long>(options.max_host_connections));
    }
    // DNS answers and TLS sessions are shared by the handles (the multi keeps connections).
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Impl::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Impl::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    thread = std::thread([this] { loop(); });
  }

  void stop() {
    std::lock_guard lock(stop_mutex);
    if (thread.joinable()) {
      stopping = true;
      curl_multi_wakeup(multi);
      thread.join();
    }
  }

  ~Impl() {
    stop();
    for (auto* handle : idle_handles) curl_easy_cleanup(handle);
    curl_multi_cleanup(multi);
    curl_share_cleanup(share);
  }

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) noexcept {
    static_cast<Impl*>(user)->share_locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* user) noexcept {
    static_cast<Impl*>(user)->share_locks[data].unlock();
  }

  void post(Command command) {
    {
      std::lock_guard lock(commands_mutex);
      if (!stopping) {
        commands.push_back(std::move(command));
        curl_multi_wakeup(multi);
        return;
      }
    }
    // Stopped: a new transfer ends at once; resume/cancel have nothing left to act on.
    if (command.op == Op::kStart) complete(std::move(command.transfer), UpstreamErrc::kAborted);
  }

  void complete(std::unique_ptr<Transfer> transfer, Result<Response> result) {
    auto done = std::move(transfer->done);
    if (transfer->handle != nullptr) {
      curl_multi_remove_handle(multi, transfer->handle);
      if (idle_handles.size() < options.max_idle_handles) {
        idle_handles.push_back(transfer->handle);
      } else {
        curl_easy_cleanup(transfer->handle);
      }
    }
    transfer.reset();  // the exchange (and what its callbacks captured) goes first
    try {
      done(std::move(result));
    } catch (...) {
      // A completion handler must not throw; one that does loses only its own answer.
    }
  }

  void launch(std::unique_ptr<Transfer> transfer) {
    CURL* handle = nullptr;
    if (!idle_handles.empty()) {
      handle = idle_handles.back();
      idle_handles.pop_back();
    } else {
      handle = curl_easy_init();
    }
    curl_easy_reset(handle);
    curl_easy_setopt(handle, CURLOPT_SHARE, share);
    transfer->exchange->configure(handle);
    // The handle carries the transfer's id, not a pointer: a late callback finds nothing.
    curl_easy_setopt(handle, CURLOPT_PRIVATE,
                     reinterpret_cast<void*>(transfer->id));  // NOLINT(performance-no-int-to-ptr)
    transfer->handle = handle;
    if (curl_multi_add_handle(multi, handle) != CURLM_OK) {
      complete(std::move(transfer), UpstreamErrc::kProtocol);
      return;
    }
    running.emplace(transfer->id, std::move(transfer));
  }

  void fill_slots() {
    while (!waiting.empty() &&
           (options.max_transfers == 0 || running.size() < options.max_transfers)) {
      auto next = std::move(waiting.front());
      waiting.pop_front();
      launch(std::move(next));
    }
    running_count = running.size();
    queued_count = waiting.size();
  }

  void apply(Command& command) {
    switch (command.op) {
      case Op::kStart:
        waiting.push_back(std::move(command.transfer));
        break;
      case Op::kResume:
        if (auto it = running.find(command.id); it != running.end()) {
          curl_easy_pause(it->second->handle, CURLPAUSE_CONT);
        }
        break;
      case Op::kCancel:
        if (auto it = running.find(command.id); it != running.end()) {
          auto transfer = std::move(it->second);
          running.erase(it);
          complete(std::move(transfer), UpstreamErrc::kAborted);
        } else {
          for (auto w = waiting.begin(); w != waiting.end(); ++w) {
            if ((*w)->id == command.id) {
              auto transfer = std::move(*w);
              waiting.erase(w);
              complete(std::move(transfer), UpstreamErrc::kAborted);
              break;
            }
          }
        }
        break;
    }
  }

  void reap() {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &left)) {
      if (message->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &priv);
      auto it = running.find(reinterpret_cast<TransferId>(priv));
      if (it == running.end()) continue;
      auto transfer = std::move(it->second);
      running.erase(it);
      auto result = transfer->exchange->finish(message->data.result);
      complete(std::move(transfer), std::move(result));
    }
  }

  void loop() {
    while (!stopping) {
      std::vector<Command> batch;
      {
        std::lock_guard lock(commands_mutex);
        batch.swap(commands);
      }
      for (auto& command : batch) apply(command);
      fill_slots();
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      reap();
      fill_slots();
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    // Shutting down: everything unfinished ends as aborted.
    std::vector<Command> batch;
    {
      std::lock_guard lock(commands_mutex);
      batch.swap(commands);
    }
    for (auto& command : batch) {
      if (command.op == Op::kStart) waiting.push_back(std::move(command.transfer));
    }
    for (auto& [id, transfer] : running) complete(std::move(transfer), UpstreamErrc::kAborted);
    running.clear();
    while (!waiting.empty()) {
      auto transfer = std::move(waiting.front());
      waiting.pop_front();
      complete(std::move(transfer), UpstreamErrc::kAborted);
    }
  }
};

CurlMulti::CurlMulti(CurlMultiOptions options) : impl_(std::make_unique<Impl>(options)) {}
CurlMulti::~CurlMulti() = default;

CurlMulti::TransferId CurlMulti::reserve_id() { return impl_->next_id++; }

void CurlMulti::stop() { impl_->stop(); }

CurlMulti::TransferId CurlMulti::start(HttpRequest request, Done done, TransferId id) {
  auto transfer = std::make_unique<Impl::Transfer>();
  transfer->id = id != 0 ? id : impl_->next_id++;
  transfer->exchange = std::make_unique<HttpExchange>(std::move(request));
  transfer->done = std::move(done);
  auto started = transfer->id;
  impl_->post({Impl::Op::kStart, started, std::move(transfer)});
  return started;
}

void CurlMulti::resume(TransferId id) { impl_->post({Impl::Op::kResume, id, nullptr}); }
void CurlMulti::cancel(TransferId id) { impl_->post({Impl::Op::kCancel, id, nullptr}); }
std::size_t CurlMulti::running() const { return impl_->running_count; }
std::size_t CurlMulti::queued() const { return impl_->queued_count; }

}  // namespace regmirror::proxy::upstream
