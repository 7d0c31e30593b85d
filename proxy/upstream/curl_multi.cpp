#include "proxy/upstream/curl_multi.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <algorithm>
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

  // The transfer thread waits in epoll_wait on the sockets libcurl asks for (socket callback)
  // and on `wake_fd` (commands); libcurl's own timeouts come through the timer callback. Each
  // event is one curl_multi_socket_action on that socket: the cost of a loop turn follows the
  // sockets that are ready, not the number of transfers (curl_multi_perform and poll(2) visit
  // every one: 500 slow transfers cost most of a core that way, bench/README.md).
  int epoll_fd = -1;
  int wake_fd = -1;
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> timer_due;  // libcurl's next timeout; none when unset

  explicit Impl(CurlMultiOptions opts) : options(opts) {
    static std::once_flag global_init;
    std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = wake_fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
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
      wake();
      thread.join();
    }
  }

  ~Impl() {
    stop();
    for (auto* handle : idle_handles) curl_easy_cleanup(handle);
    curl_multi_cleanup(multi);
    curl_share_cleanup(share);
    ::close(wake_fd);
    ::close(epoll_fd);
  }

  void wake() const {
    // The counter saturates at most at 2^64-2: a failed write means a wake-up is pending anyway.
    [[maybe_unused]] auto ignored = ::eventfd_write(wake_fd, 1);
  }

  // libcurl: watch `socket` for `what` (CURL_POLL_IN/OUT/INOUT), or stop (CURL_POLL_REMOVE).
  static int on_socket(CURL*, curl_socket_t socket, int what, void* user, void*) noexcept {
    auto* self = static_cast<Impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      ::epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, socket, nullptr);  // EBADF once closed: fine
      return 0;
    }
    epoll_event event{};
    event.data.fd = socket;
    if ((what & CURL_POLL_IN) != 0) event.events |= EPOLLIN;
    if ((what & CURL_POLL_OUT) != 0) event.events |= EPOLLOUT;
    if (::epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, socket, &event) != 0 && errno == ENOENT &&
        ::epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, socket, &event) != 0) {
      return -1;  // libcurl fails the transfers on this socket
    }
    return 0;
  }

  // libcurl: call back with CURL_SOCKET_TIMEOUT in `timeout_ms` (-1: no timeout wanted).
  static int on_timer(CURLM*, long timeout_ms, void* user) noexcept {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      self->timer_due.reset();
    } else {
      self->timer_due = Clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return 0;
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
        wake();
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
    constexpr int kMaxEvents = 256;
    constexpr auto kLongestWait = std::chrono::seconds(1);
    std::array<epoll_event, kMaxEvents> events{};
    int still_running = 0;
    while (!stopping) {
      std::vector<Command> batch;
      {
        std::lock_guard lock(commands_mutex);
        batch.swap(commands);
      }
      for (auto& command : batch) apply(command);
      fill_slots();
      auto wait = std::chrono::milliseconds(kLongestWait);
      if (timer_due) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(*timer_due - Clock::now());
        wait = std::clamp(left, std::chrono::milliseconds(0), wait);
      }
      int ready = ::epoll_wait(epoll_fd, events.data(), kMaxEvents, static_cast<int>(wait.count()));
      for (int i = 0; i < ready; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd) {
          eventfd_t count = 0;
          [[maybe_unused]] auto drained = ::eventfd_read(wake_fd, &count);
          continue;
        }
        int mask = 0;
        if ((events[i].events & EPOLLIN) != 0) mask |= CURL_CSELECT_IN;
        if ((events[i].events & EPOLLOUT) != 0) mask |= CURL_CSELECT_OUT;
        if ((events[i].events & (EPOLLERR | EPOLLHUP)) != 0) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi, fd, mask, &still_running);
      }
      // The timer is one-shot: cleared before libcurl runs, which sets the next one.
      if (timer_due && Clock::now() >= *timer_due) {
        timer_due.reset();
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &still_running);
      } else if (ready == 0 && !timer_due) {
        // A quiet second: let libcurl check its own deadlines anyway (cheap, no socket walk).
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &still_running);
      }
      reap();
      fill_slots();
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
