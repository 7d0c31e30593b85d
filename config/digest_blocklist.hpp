#pragma once
// The digest blocklist: manifests and blobs no client may pull, whatever the cache holds
// (blocking removes nothing from disk). File format: one digest per line ("sha256:<64 hex>"
// or "sha512:<128 hex>"), blank lines and '#' comments (whole-line or trailing) ignored.
// Readers and a reloader may use one DigestBlocklist from any thread.
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::config {

struct BlocklistParse {
  std::set<std::string, std::less<>> digests;
  std::string error;  // empty when every line parsed; else "<path>:<line>: why"
};

// `where` names the source in messages (the file's path).
BlocklistParse parse_digest_blocklist(std::string_view text, const std::string& where);
// Reads and parses `path`; a file that cannot be read is an error too.
BlocklistParse read_digest_blocklist(const std::string& path);

class DigestBlocklist {
 public:
  DigestBlocklist() : digests_(std::make_shared<const Set>()) {}

  bool blocked(std::string_view digest) const;
  std::size_t size() const;
  // The digests blocked now, sorted (cache gc --blocked removes their cached copies).
  std::vector<std::string> list() const;
  // Swaps in a new list at once: a request sees the old or the new one, never a mix.
  void replace(std::set<std::string, std::less<>> digests);

 private:
  using Set = std::set<std::string, std::less<>>;
  std::shared_ptr<const Set> current() const;

  mutable std::mutex mutex_;
  std::shared_ptr<const Set> digests_;
};

}  // namespace regmirror::config
