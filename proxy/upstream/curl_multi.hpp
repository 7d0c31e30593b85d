#pragma once
// Many HTTP exchanges at once on one thread, through libcurl's multi interface: an upstream
// transfer costs an easy handle and its buffers, not a thread, so the number of concurrent
// misses is bounded by configuration (max_transfers), never by a thread pool, and blocking
// index work (its own pool) cannot be starved by transfers.
//
// Threads: start/resume/cancel may be called from any thread. Every callback of a transfer
// (HttpRequest::on_head/on_data and `done`) runs on the transfer thread: keep them short and
// non-blocking (post real work elsewhere; a sink that cannot take a chunk returns kPause and
// calls resume() later).
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "proxy/upstream/http_exchange.hpp"

namespace regmirror::proxy::upstream {

struct CurlMultiOptions {
  std::size_t max_transfers = 512;        // running at once; more wait in a queue (FIFO)
  std::size_t max_host_connections = 0;   // per upstream host; 0: no limit
  std::size_t max_idle_handles = 64;
};

class CurlMulti {
 public:
  using TransferId = std::uint64_t;
  using Done = std::function<void(Result<Response>)>;

  explicit CurlMulti(CurlMultiOptions options = {});
  // Ends every unfinished transfer (done gets kAborted) and joins the thread; later starts
  // complete at once with kAborted. Call it before the executors that completions post to
  // are destroyed. Idempotent; the destructor calls it.
  void stop();
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // An id for a transfer about to be started (so a sink can know it before its first chunk).
  TransferId reserve_id();
  // Queues a transfer; `done` runs exactly once, on the transfer thread. `id`: from
  // reserve_id(), or 0 for a new one.
  TransferId start(HttpRequest request, Done done, TransferId id = 0);
  // A transfer whose sink said kPause reads again (its pending chunk is delivered first).
  void resume(TransferId id);
  // The transfer ends soon with kAborted (no effect once it has finished).
  void cancel(TransferId id);

  // Transfers running and queued, for metrics.
  std::size_t running() const;
  std::size_t queued() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `co_await async_perform(multi, request)`: runs the exchange on the transfer thread and
// resumes the coroutine on its own executor with the result. `id`: see CurlMulti::start.
inline auto async_perform(CurlMulti& multi, HttpRequest request, CurlMulti::TransferId id = 0) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<Response>)>(
      [&multi, id](auto handler, HttpRequest req) {
        auto home = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        multi.start(
            std::move(req),
            [shared, home](Result<Response> result) {
              asio::post(home, [shared, result = std::move(result)]() mutable {
                std::move(*shared)(std::move(result));
              });
            },
            id);
      },
      asio::use_awaitable, std::move(request));
}

}  // namespace regmirror::proxy::upstream
