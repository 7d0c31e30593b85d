#include "proxy/upstream/curl_handle_pool.hpp"

namespace regmirror::proxy::upstream {

CurlHandlePool::CurlHandlePool(std::size_t max_idle) : max_idle_(max_idle) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  share_ = curl_share_init();
  curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlHandlePool::lock);
  curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlHandlePool::unlock);
  curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
}

CurlHandlePool::~CurlHandlePool() {
  for (auto* handle : idle_) curl_easy_cleanup(handle);
  curl_share_cleanup(share_);
}

void CurlHandlePool::lock(CURL*, curl_lock_data data, curl_lock_access, void* user) noexcept {
  static_cast<CurlHandlePool*>(user)->share_locks_[static_cast<std::size_t>(data)].lock();
}

void CurlHandlePool::unlock(CURL*, curl_lock_data data, void* user) noexcept {
  static_cast<CurlHandlePool*>(user)->share_locks_[static_cast<std::size_t>(data)].unlock();
}

CURL* CurlHandlePool::acquire() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      CURL* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlHandlePool::release(CURL* handle) {
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < max_idle_) {
    idle_.push_back(handle);
  } else {
    curl_easy_cleanup(handle);
  }
}

}  // namespace regmirror::proxy::upstream
