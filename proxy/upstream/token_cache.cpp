#include "proxy/upstream/token_cache.hpp"

namespace regmirror::proxy::upstream {

std::optional<std::string> TokenCache::get(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.token;
}

void TokenCache::put(const std::string& key, std::string token, std::chrono::seconds lifetime,
                     Clock::time_point now, std::chrono::seconds margin) {
  auto usable = lifetime > margin ? lifetime - margin : lifetime / 2;
  std::lock_guard lock(mutex_);
  entries_[key] = Entry{std::move(token), now + usable};
}

void TokenCache::erase(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

}  // namespace regmirror::proxy::upstream
