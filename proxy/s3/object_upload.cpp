#include "proxy/s3/object_upload.hpp"

#include <algorithm>

namespace regmirror::proxy::s3 {

ObjectUpload::ObjectUpload(S3Client& client, std::string key, std::size_t part_size)
    : client_(client), key_(std::move(key)), part_size_(std::max(part_size, kMinPartSize)) {}

ObjectUpload::~ObjectUpload() {
  if (!finished_) abort();
}

void ObjectUpload::wait_idle(std::unique_lock<std::mutex>& lock) {
  changed_.wait(lock, [this] { return !has_pending_; });
}

void ObjectUpload::uploader_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return has_pending_ || stop_; });
    if (!has_pending_) return;
    if (!error_) {
      std::vector<std::byte> part = std::move(pending_);
      lock.unlock();
      // The upload id is only touched by this thread until the hand-off in complete().
      std::optional<S3Error> failure;
      if (upload_id_.empty()) {
        auto id = client_.create_multipart(key_);
        if (id) {
          upload_id_ = *id;
        } else {
          failure = id.error();
        }
      }
      std::string etag;
      if (!failure) {
        auto uploaded = client_.upload_part(key_, upload_id_, static_cast<int>(etags_.size()) + 1, part);
        if (uploaded) {
          etag = *uploaded;
        } else {
          failure = uploaded.error();
        }
      }
      lock.lock();
      if (failure) {
        error_ = std::move(failure);
      } else {
        etags_.push_back(std::move(etag));
      }
    }
    has_pending_ = false;
    pending_.clear();
    changed_.notify_all();
  }
}

S3Result<void> ObjectUpload::hand_off_full_part() {
  std::unique_lock lock(mutex_);
  wait_idle(lock);
  if (error_) return *error_;
  pending_ = std::move(filling_);
  has_pending_ = true;
  if (!uploader_.joinable()) uploader_ = std::thread([this] { uploader_loop(); });
  changed_.notify_all();
  lock.unlock();
  filling_ = std::vector<std::byte>();
  filling_.reserve(part_size_);
  return {};
}

S3Result<void> ObjectUpload::write(std::span<const std::byte> data) {
  if (finished_) return S3Error{S3Errc::kAborted, "upload of " + key_ + " already finished"};
  {
    std::lock_guard lock(mutex_);
    if (error_) return *error_;
  }
  if (filling_.capacity() == 0) filling_.reserve(std::min<std::size_t>(part_size_, 1 << 20));
  while (!data.empty()) {
    auto take = std::min(data.size(), part_size_ - filling_.size());
    filling_.insert(filling_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (filling_.size() == part_size_) {
      if (auto handed = hand_off_full_part(); !handed) return handed.error();
    }
  }
  return {};
}

S3Result<void> ObjectUpload::complete() {
  if (finished_) return S3Error{S3Errc::kAborted, "upload of " + key_ + " already finished"};
  std::unique_lock lock(mutex_);
  wait_idle(lock);
  stop_ = true;
  changed_.notify_all();
  lock.unlock();
  if (uploader_.joinable()) uploader_.join();
  finished_ = true;
  if (error_) {
    if (!upload_id_.empty()) (void)client_.abort_multipart(key_, upload_id_);
    return *error_;
  }
  if (upload_id_.empty()) {
    // Everything fit in one part: one PUT, visible atomically.
    auto put = client_.put_object(
        key_, std::string_view(reinterpret_cast<const char*>(filling_.data()), filling_.size()));
    filling_ = {};
    if (!put) return put.error();
    return {};
  }
  if (!filling_.empty()) {
    auto etag = client_.upload_part(key_, upload_id_, static_cast<int>(etags_.size()) + 1, filling_);
    filling_ = {};
    if (!etag) {
      (void)client_.abort_multipart(key_, upload_id_);
      return etag.error();
    }
    etags_.push_back(*etag);
  }
  auto done = client_.complete_multipart(key_, upload_id_, etags_);
  if (!done) {
    (void)client_.abort_multipart(key_, upload_id_);
    return done.error();
  }
  return {};
}

void ObjectUpload::abort() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    changed_.notify_all();
  }
  if (uploader_.joinable()) uploader_.join();
  filling_ = {};
  if (!upload_id_.empty()) (void)client_.abort_multipart(key_, upload_id_);
}

}  // namespace regmirror::proxy::s3
