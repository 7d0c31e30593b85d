#pragma once
// Content digests ("sha256:<hex>") and incremental hashing over OpenSSL EVP.
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace regmirror::cache {

enum class DigestAlgorithm { kSha256, kSha512 };

// A syntactically valid digest of a supported algorithm: "sha256:" + 64 lowercase hex or
// "sha512:" + 128 lowercase hex. Anything else cannot name stored content.
class Digest {
 public:
  static std::optional<Digest> parse(std::string_view text);

  DigestAlgorithm algorithm() const { return algorithm_; }
  std::string_view algorithm_name() const;
  std::string_view hex() const;
  const std::string& str() const { return text_; }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest& a, const Digest& b) { return a.text_ <=> b.text_; }

 private:
  Digest(DigestAlgorithm algorithm, std::string text) : algorithm_(algorithm), text_(std::move(text)) {}
  DigestAlgorithm algorithm_;
  std::string text_;
};

// Incremental hash; not thread-safe (one writer feeds it).
class DigestHasher {
 public:
  explicit DigestHasher(DigestAlgorithm algorithm = DigestAlgorithm::kSha256);
  ~DigestHasher();
  DigestHasher(DigestHasher&&) noexcept;
  DigestHasher& operator=(DigestHasher&&) noexcept;

  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  // Ends the hash; the hasher must not be updated afterwards.
  Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DigestAlgorithm algorithm_;
};

Digest digest_of(std::string_view data, DigestAlgorithm algorithm = DigestAlgorithm::kSha256);

}  // namespace regmirror::cache

template <>
struct std::hash<regmirror::cache::Digest> {
  std::size_t operator()(const regmirror::cache::Digest& d) const noexcept {
    return std::hash<std::string>{}(d.str());
  }
};
