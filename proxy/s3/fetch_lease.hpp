#pragma once
// Cross-replica deduplication of upstream blob fetches: a short-lived lease object
// <prefix>leases/<algorithm>/<hex> = {"owner","expires_at"} says "replica X is fetching this
// blob into the bucket". The holder renews it every ttl/3 while it holds it.
//
// What the store must support: conditional create (PUT with If-None-Match: *, answering 412
// when the key exists). Probed once at start-up (probe_conditional_create). When the store
// ignores the header, leases fall back to write-then-read-back (PUT only if HEAD found no
// lease, re-read after a short settle; the owner whose token survived holds it): a narrow
// race can then let two replicas fetch the same blob, which costs one duplicate upstream
// download, never correctness (blobs are content-addressed and verified).
//
// How BlobFetcher::run uses it (worker thread), before the upstream loop:
//   1. blob in the bucket?  -> stream it from there (no lease needed).
//   2. try_acquire(d): true  -> fetch upstream (writer tees into the bucket); release(d) after
//                                the commit (the object is visible by then).
//                      false -> wait_for_object(d, now + bound): true -> stream from the bucket;
//                                false (holder died, failed or too slow) -> fetch yourself,
//                                without a lease.
// Any bucket error makes try_acquire answer true: the lease is an optimisation, never a gate.
//
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "cache/digest.hpp"
#include "proxy/s3/s3_client.hpp"

namespace regmirror::proxy::s3 {

struct LeaseOptions {
  std::chrono::seconds ttl{30};                      // renewed every ttl/3 while held
  std::chrono::milliseconds poll{250};               // wait_for_object's HEAD interval
  std::chrono::milliseconds fallback_settle{300};    // write-then-read-back settle time
};

class FetchLease {
 public:
  using Clock = std::function<std::int64_t()>;  // unix seconds

  // `owner`: unique per replica (pod name + random suffix). `blob_key`: maps a digest to the
  // blob object's key (where wait_for_object looks).
  FetchLease(S3Client& client, std::string prefix, std::string owner, bool conditional_create,
             std::function<std::string(const cache::Digest&)> blob_key, LeaseOptions options,
             Clock clock);
  ~FetchLease();

  // PUTs and re-PUTs a probe key with If-None-Match: *: true when the second PUT got 412.
  static S3Result<bool> probe_conditional_create(S3Client& client, const std::string& prefix);

  // true: this replica should fetch (it holds the lease, or the bucket failed); false: another
  // replica holds a live lease.
  bool try_acquire(const cache::Digest& digest);
  // Drops a lease this replica holds (no-op otherwise).
  void release(const cache::Digest& digest);
  // Polls until the blob object exists (true); false when the lease disappeared or expired
  // without the object, or at `deadline`.
  bool wait_for_object(const cache::Digest& digest, std::chrono::steady_clock::time_point deadline);

  bool conditional_create() const { return conditional_; }
  std::string key_of(const cache::Digest& digest) const;

 private:
  struct Lease {
    std::string owner;
    std::int64_t expires_at = 0;
  };
  std::optional<Lease> read(const std::string& key, bool* failed);
  bool create(const std::string& key);
  void renew_loop();

  S3Client& client_;
  std::string prefix_;
  std::string owner_;
  bool conditional_;
  std::function<std::string(const cache::Digest&)> blob_key_;
  LeaseOptions options_;
  Clock clock_;

  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::map<std::string, int> held_;  // lease key -> holders in this process
  std::thread renewer_;
};

}  // namespace regmirror::proxy::s3
