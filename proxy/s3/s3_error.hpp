#pragma once
// Errors of the S3 client: a code to act on plus a message with context (operation, bucket,
// key, the S3 error code), never a credential.
#include <boost/system/error_code.hpp>
#include <string>
#include <type_traits>

#include "config/result.hpp"

namespace regmirror::proxy::s3 {

enum class S3Errc {
  kConnect = 1,        // DNS, refused, TLS, reset: retried, then reported
  kTimeout,            // connect/stall/request timeout: retried, then reported
  kSignature,          // SignatureDoesNotMatch / InvalidAccessKeyId / AccessDenied
  kNoSuchBucket,
  kNotFound,           // NoSuchKey / NoSuchUpload / 404
  kPreconditionFailed, // 412: a conditional create lost (the object exists)
  kServer,             // 5xx after the retries
  kProtocol,           // an answer we cannot use (bad XML, missing UploadId, ...)
  kAborted,            // the caller's sink stopped the transfer
  kLocalIo,            // a spool/temp file failed
};

const boost::system::error_category& s3_category() noexcept;

inline boost::system::error_code make_error_code(S3Errc e) noexcept {
  return {static_cast<int>(e), s3_category()};
}

struct S3Error {
  boost::system::error_code code;
  std::string message;  // one line, for logs and start-up errors
};

// Lets Result<T, S3Error>::value() throw (only ever used in tests).
[[noreturn]] void throw_exception_from_error(const S3Error& error,
                                             const boost::source_location& location);

// The S3 client's name for its results (its callers branch on S3Error::code).
template <class T>
using S3Result = Result<T, S3Error>;

}  // namespace regmirror::proxy::s3

template <>
struct boost::system::is_error_code_enum<regmirror::proxy::s3::S3Errc> : std::true_type {};
