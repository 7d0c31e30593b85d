#include "cache/cache_error.hpp"

#include <string>

namespace regmirror::cache {
namespace {

class CacheCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "regmirror.cache"; }
  std::string message(int value) const override {
    switch (static_cast<CacheErrc>(value)) {
      case CacheErrc::kNotFound:
        return "not in cache";
      case CacheErrc::kDigestMismatch:
        return "content does not match its digest";
      case CacheErrc::kSizeMismatch:
        return "content size does not match the expected size";
      case CacheErrc::kAlreadyFinished:
        return "write already committed or aborted";
      case CacheErrc::kCorruptRecord:
        return "index record is corrupt";
      case CacheErrc::kIndexUnavailable:
        return "index (RocksDB) unavailable";
    }
    return "unknown cache error";
  }
};

}  // namespace

const boost::system::error_category& cache_category() noexcept {
  static const CacheCategory kCategory;
  return kCategory;
}

}  // namespace regmirror::cache
