#pragma once
// Runs blocking work (disk, RocksDB, upstream HTTP) on a worker pool and resumes the calling
// coroutine on its own executor with the result: `auto r = co_await offload(pool, fn);`.
// Not itself a coroutine: GCC 12 mishandles lambda temporaries passed into coroutine frames.
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

namespace regmirror::proxy::server {

template <class Fn>
auto offload(boost::asio::thread_pool& pool, Fn fn) {
  using Result = std::invoke_result_t<Fn&>;
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [&pool](auto handler, Fn work) {
        auto home = asio::get_associated_executor(handler);
        asio::post(pool, [handler = std::move(handler), work = std::move(work), home]() mutable {
          Result result = work();
          asio::post(home, [handler = std::move(handler), result = std::move(result)]() mutable {
            std::move(handler)(std::move(result));
          });
        });
      },
      asio::use_awaitable, std::move(fn));
}

}  // namespace regmirror::proxy::server
