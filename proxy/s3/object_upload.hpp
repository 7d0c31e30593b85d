#pragma once
// One object written to the bucket as its bytes arrive: parts of `part_size` are uploaded by a
// background thread while the next part fills (memory: at most two parts), and the object
// becomes visible only in complete(). An object that fits in one part is sent as one PUT.
//
// Thread-safety: one thread calls write/complete/abort.
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "proxy/s3/s3_client.hpp"

namespace regmirror::proxy::s3 {

inline constexpr std::size_t kDefaultPartSize = 8 << 20;
inline constexpr std::size_t kMinPartSize = 5 << 20;  // S3's minimum for all but the last part

class ObjectUpload {
 public:
  ObjectUpload(S3Client& client, std::string key, std::size_t part_size = kDefaultPartSize);
  ~ObjectUpload();  // aborts an upload that was not completed
  ObjectUpload(const ObjectUpload&) = delete;
  ObjectUpload& operator=(const ObjectUpload&) = delete;

  // The first upload error sticks: later calls return it.
  S3Result<void> write(std::span<const std::byte> data);
  // Uploads what is left and makes the object visible.
  S3Result<void> complete();
  // Nothing becomes visible; uploaded parts are discarded.
  void abort();

  const std::string& key() const { return key_; }

 private:
  void uploader_loop();
  void wait_idle(std::unique_lock<std::mutex>& lock);
  S3Result<void> hand_off_full_part();

  S3Client& client_;
  std::string key_;
  std::size_t part_size_;
  std::vector<std::byte> filling_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::byte> pending_;  // the part the uploader works on
  bool has_pending_ = false;
  bool stop_ = false;
  std::optional<S3Error> error_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  std::thread uploader_;
  bool finished_ = false;
};

}  // namespace regmirror::proxy::s3
