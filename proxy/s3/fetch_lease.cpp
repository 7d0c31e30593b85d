#include "proxy/s3/fetch_lease.hpp"

#include <nlohmann/json.hpp>
#include <random>

#include "proxy/logging/logger.hpp"

namespace regmirror::proxy::s3 {
namespace {

using nlohmann::json;

std::string lease_body(const std::string& owner, std::int64_t expires_at) {
  return json{{"owner", owner}, {"expires_at", expires_at}}.dump();
}

}  // namespace

FetchLease::FetchLease(S3Client& client, std::string prefix, std::string owner,
                       bool conditional_create,
                       std::function<std::string(const cache::Digest&)> blob_key,
                       LeaseOptions options, Clock clock)
    : client_(client), prefix_(std::move(prefix)), owner_(std::move(owner)),
      conditional_(conditional_create), blob_key_(std::move(blob_key)), options_(options),
      clock_(std::move(clock)) {
  renewer_ = std::thread([this] { renew_loop(); });
}

FetchLease::~FetchLease() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  renewer_.join();
}

std::string FetchLease::key_of(const cache::Digest& digest) const {
  return prefix_ + "leases/" + std::string(digest.algorithm_name()) + "/" + std::string(digest.hex());
}

S3Result<bool> FetchLease::probe_conditional_create(S3Client& client, const std::string& prefix) {
  std::random_device rd;
  const std::string key = prefix + "leases/probe-" + std::to_string(rd()) + std::to_string(rd());
  const HeaderList conditional = {{"if-none-match", "*"}};
  auto first = client.put_object(key, "probe", conditional);
  if (!first) return first.error();
  auto second = client.put_object(key, "probe", conditional);
  (void)client.delete_object(key);
  if (second) return false;
  if (second.error().code == S3Errc::kPreconditionFailed) return true;
  return second.error();
}

std::optional<FetchLease::Lease> FetchLease::read(const std::string& key, bool* failed) {
  *failed = false;
  auto object = client_.get_object(key, 4096);
  if (!object) {
    *failed = true;
    return std::nullopt;
  }
  if (!*object) return std::nullopt;
  auto doc = json::parse(**object, nullptr, false);
  if (!doc.is_object() || !doc["owner"].is_string() || !doc["expires_at"].is_number_integer()) {
    return Lease{"", 0};  // unreadable: treated as expired
  }
  return Lease{doc["owner"].get<std::string>(), doc["expires_at"].get<std::int64_t>()};
}

// true: created by us. Bucket errors count as created (fetch anyway).
bool FetchLease::create(const std::string& key) {
  auto body = lease_body(owner_, clock_() + options_.ttl.count());
  if (conditional_) {
    auto put = client_.put_object(key, body, {{"if-none-match", "*"}});
    if (put) return true;
    if (put.error().code == S3Errc::kPreconditionFailed) return false;
    logging::warn("s3_lease_error", {{"key", key}, {"error", put.error().message}});
    return true;
  }
  // Fallback for stores without conditional create: write, let racers write, read back.
  auto put = client_.put_object(key, body);
  if (!put) return true;
  std::this_thread::sleep_for(options_.fallback_settle);
  bool failed = false;
  auto lease = read(key, &failed);
  return failed || !lease || lease->owner == owner_;
}

bool FetchLease::try_acquire(const cache::Digest& digest) {
  const auto key = key_of(digest);
  {
    std::lock_guard lock(mutex_);
    if (auto it = held_.find(key); it != held_.end()) {
      ++it->second;  // this replica already fetches it (should not happen: one per replica)
      return true;
    }
  }
  bool acquired = false;
  for (int round = 0; round < 2 && !acquired; ++round) {
    if (!conditional_) {
      bool failed = false;
      auto existing = read(key, &failed);
      if (!failed && existing && existing->expires_at >= clock_()) return false;
    }
    acquired = create(key);
    if (acquired) break;
    // Someone holds it: live, or left behind by a replica that died?
    bool failed = false;
    auto existing = read(key, &failed);
    if (failed) return true;
    if (existing && existing->expires_at >= clock_()) return false;
    (void)client_.delete_object(key);  // expired: take it over (one more round)
  }
  if (!acquired) return true;  // lost the takeover race twice: fetch anyway, rare
  std::lock_guard lock(mutex_);
  ++held_[key];
  return true;
}

void FetchLease::release(const cache::Digest& digest) {
  const auto key = key_of(digest);
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(key);
    if (it == held_.end()) return;
    if (--it->second > 0) return;
    held_.erase(it);
  }
  auto removed = client_.delete_object(key);
  if (!removed) logging::warn("s3_lease_error", {{"key", key}, {"error", removed.error().message}});
}

bool FetchLease::wait_for_object(const cache::Digest& digest,
                                 std::chrono::steady_clock::time_point deadline) {
  const auto lease_key = key_of(digest);
  const auto object_key = blob_key_(digest);
  while (true) {
    auto head = client_.head_object(object_key);
    if (head && *head) return true;
    bool failed = false;
    auto lease = read(lease_key, &failed);
    if (!failed && (!lease || lease->expires_at < clock_())) {
      // The holder released (success or failure) or died: one last look for the object.
      auto again = client_.head_object(object_key);
      return again && *again;
    }
    if (std::chrono::steady_clock::now() + options_.poll >= deadline) return false;
    std::this_thread::sleep_for(options_.poll);
  }
}

void FetchLease::renew_loop() {
  const auto interval = std::max<std::chrono::milliseconds>(options_.ttl / 3, std::chrono::milliseconds(200));
  std::unique_lock lock(mutex_);
  while (!stop_) {
    stop_cv_.wait_for(lock, interval, [this] { return stop_; });
    if (stop_) return;
    std::vector<std::string> keys;
    for (const auto& [key, _] : held_) keys.push_back(key);
    lock.unlock();
    for (const auto& key : keys) {
      auto put = client_.put_object(key, lease_body(owner_, clock_() + options_.ttl.count()));
      if (!put) logging::warn("s3_lease_error", {{"key", key}, {"error", put.error().message}});
    }
    lock.lock();
  }
}

}  // namespace regmirror::proxy::s3
