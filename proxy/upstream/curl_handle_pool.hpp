#pragma once
// libcurl easy handles for blocking clients (registries, S3), reused so connections, TLS
// sessions and DNS answers survive from one request to the next; one share object spreads
// them across handles and threads. Thread-safe. libcurl types stay in proxy/.
#include <curl/curl.h>

#include <array>
#include <cstddef>
#include <mutex>
#include <vector>

namespace regmirror::proxy::upstream {

class CurlHandlePool {
 public:
  explicit CurlHandlePool(std::size_t max_idle);
  ~CurlHandlePool();
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // A handle already attached to the share; curl_easy_reset() it before use (that keeps the
  // caches). Give it back with release(), or it is leaked.
  CURL* acquire();
  void release(CURL* handle);
  CURLSH* share() const { return share_; }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) noexcept;
  static void unlock(CURL*, curl_lock_data data, void* user) noexcept;

  std::size_t max_idle_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;
  std::mutex pool_mutex_;
  std::vector<CURL*> idle_;
};

}  // namespace regmirror::proxy::upstream
