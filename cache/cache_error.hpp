#pragma once
// The cache module's error codes. I/O failures keep their errno (system category).
#include <boost/system/error_code.hpp>
#include <type_traits>

namespace regmirror::cache {

enum class CacheErrc {
  kNotFound = 1,       // no such blob, manifest or tag
  kDigestMismatch,     // the written bytes do not hash to the expected digest
  kSizeMismatch,       // fewer or more bytes than the size the writer was promised
  kAlreadyFinished,    // write after commit/abort
  kCorruptRecord,      // an index record that does not decode
  kIndexUnavailable,   // RocksDB could not be opened or answered with an error
};

const boost::system::error_category& cache_category() noexcept;

inline boost::system::error_code make_error_code(CacheErrc e) noexcept {
  return {static_cast<int>(e), cache_category()};
}

}  // namespace regmirror::cache

template <>
struct boost::system::is_error_code_enum<regmirror::cache::CacheErrc> : std::true_type {};
