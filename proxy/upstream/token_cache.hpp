#pragma once
// Bearer tokens by (upstream, scope) until they expire. Thread-safe. Time is injected.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace regmirror::proxy::upstream {

class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;

  std::optional<std::string> get(const std::string& key, Clock::time_point now);
  // Tokens are dropped `margin` before their stated expiry so none is used as it lapses.
  void put(const std::string& key, std::string token, std::chrono::seconds lifetime,
           Clock::time_point now, std::chrono::seconds margin = std::chrono::seconds(10));
  void erase(const std::string& key);

 private:
  struct Entry {
    std::string token;
    Clock::time_point expires;
  };
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace regmirror::proxy::upstream
