#pragma once
// One upstream download of one blob, shared by every client that wants it while it runs.
// The bytes go to a BlobWriter (a temp file) at upstream speed; each client streams from that
// file at its own pace, so a slow client never makes memory grow and never slows the others.
// The last byte is released only after the digest is verified: no client ever receives a
// complete body of wrong bytes.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/blob_store.hpp"
#include "proxy/registry/oci_error.hpp"

namespace regmirror::proxy::registry {

class BlobDownload {
 public:
  enum class State { kStarting, kStreaming, kComplete, kFailed };

  struct Status {
    State state = State::kStarting;
    std::uint64_t written = 0;             // bytes in the temp file
    std::optional<std::uint64_t> total;    // Content-Length, once the upstream answered
    OciError error = OciError::kUnavailable;
    std::string message;
    std::string retry_after;

    // How far a client may send: everything once verified, all but the last byte before.
    std::uint64_t releasable() const {
      if (state == State::kComplete) return written;
      if (!total || written == 0) return 0;
      return std::min(written, *total - 1);
    }
  };

  explicit BlobDownload(cache::Digest digest) : digest_(std::move(digest)) {}

  const cache::Digest& digest() const { return digest_; }
  Status status() const;

  // Readers: bytes below status().written are readable. native_fd() is -1 before kStreaming
  // and for stores without local files.
  int native_fd() const;
  cache::Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) const;

  // Registers a one-shot wake-up for the next change (data, completion, failure). Callers
  // re-check status() after registering, so a change in between is never missed.
  void on_progress(std::function<void()> wake);

  // Writer side (the download job).
  void begin_streaming(std::unique_ptr<cache::BlobWriter> writer, std::optional<std::uint64_t> total);
  bool append(std::span<const std::byte> data);  // false: the write failed (state is kFailed)
  bool started() const;
  // Verifies and commits; kComplete, or kFailed with kUpstreamInvalid / kInternal.
  void finish();
  void fail(OciError error, std::string message, std::string retry_after = {});

 private:
  void notify();

  cache::Digest digest_;
  mutable std::mutex mutex_;
  Status status_;
  std::unique_ptr<cache::BlobWriter> writer_;
  std::vector<std::function<void()>> waiters_;
  std::atomic<bool> has_waiters_{false};
};

}  // namespace regmirror::proxy::registry
