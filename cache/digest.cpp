#include "cache/digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace regmirror::cache {
namespace {

constexpr std::size_t hex_length(DigestAlgorithm algorithm) {
  return algorithm == DigestAlgorithm::kSha256 ? 64 : 128;
}

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::optional<Digest> Digest::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto name = text.substr(0, colon);
  auto hex = text.substr(colon + 1);
  DigestAlgorithm algorithm;
  if (name == "sha256") {
    algorithm = DigestAlgorithm::kSha256;
  } else if (name == "sha512") {
    algorithm = DigestAlgorithm::kSha512;
  } else {
    return std::nullopt;
  }
  if (hex.size() != hex_length(algorithm) || !is_lower_hex(hex)) return std::nullopt;
  return Digest(algorithm, std::string(text));
}

std::string_view Digest::algorithm_name() const {
  return algorithm_ == DigestAlgorithm::kSha256 ? "sha256" : "sha512";
}

std::string_view Digest::hex() const {
  return std::string_view(text_).substr(algorithm_name().size() + 1);
}

struct DigestHasher::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

DigestHasher::DigestHasher(DigestAlgorithm algorithm)
    : impl_(std::make_unique<Impl>()), algorithm_(algorithm) {
  const EVP_MD* md = algorithm == DigestAlgorithm::kSha256 ? EVP_sha256() : EVP_sha512();
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest initialisation failed");  // out of memory only
  }
}

DigestHasher::~DigestHasher() = default;
DigestHasher::DigestHasher(DigestHasher&&) noexcept = default;
DigestHasher& DigestHasher::operator=(DigestHasher&&) noexcept = default;

void DigestHasher::update(std::span<const std::byte> data) {
  EVP_DigestUpdate(impl_->ctx, data.data(), data.size());
}

void DigestHasher::update(std::string_view data) {
  EVP_DigestUpdate(impl_->ctx, data.data(), data.size());
}

Digest DigestHasher::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(impl_->ctx, out, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(algorithm_ == DigestAlgorithm::kSha256 ? "sha256:" : "sha512:");
  for (unsigned i = 0; i < length; ++i) {
    text.push_back(kHex[out[i] >> 4]);
    text.push_back(kHex[out[i] & 0xF]);
  }
  return *Digest::parse(text);
}

Digest digest_of(std::string_view data, DigestAlgorithm algorithm) {
  DigestHasher hasher(algorithm);
  hasher.update(data);
  return hasher.finish();
}

}  // namespace regmirror::cache
