#pragma once
// A result that one piece of work produces once and any number of coroutines wait for, each
// with its own deadline (a tag revalidation that several requests share, and that a request
// stops waiting for after its budget while the work goes on). Thread-safe: set() may run on any
// thread; each waiter resumes on its own executor.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace regmirror::proxy::registry {

template <class T>
class SharedResult {
 public:
  // The first call wins; later calls are ignored.
  void set(T value) {
    std::vector<std::function<void()>> wake;
    {
      std::lock_guard lock(mutex_);
      if (value_) return;
      value_ = std::move(value);
      wake.swap(waiters_);
    }
    for (auto& w : wake) w();
  }

  std::optional<T> get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  // The value, or nullopt when `budget` passes first.
  boost::asio::awaitable<std::optional<T>> wait_for(std::chrono::milliseconds budget) {
    namespace asio = boost::asio;
    auto executor = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(executor, budget);
    {
      std::lock_guard lock(mutex_);
      if (value_) co_return value_;
      waiters_.push_back([timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
    }
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    co_return get();
  }

 private:
  mutable std::mutex mutex_;
  std::optional<T> value_;
  std::vector<std::function<void()>> waiters_;
};

}  // namespace regmirror::proxy::registry
