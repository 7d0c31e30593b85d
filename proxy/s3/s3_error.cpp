#include "proxy/s3/s3_error.hpp"

#include <stdexcept>

namespace regmirror::proxy::s3 {
namespace {

class S3Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "s3"; }
  std::string message(int value) const override {
    switch (static_cast<S3Errc>(value)) {
      case S3Errc::kConnect: return "cannot connect to the S3 endpoint";
      case S3Errc::kTimeout: return "S3 request timed out";
      case S3Errc::kSignature: return "S3 refused the credentials or signature";
      case S3Errc::kNoSuchBucket: return "S3 bucket does not exist";
      case S3Errc::kNotFound: return "S3 object not found";
      case S3Errc::kPreconditionFailed: return "S3 precondition failed";
      case S3Errc::kServer: return "S3 server error";
      case S3Errc::kProtocol: return "unusable S3 response";
      case S3Errc::kAborted: return "S3 transfer aborted by the caller";
      case S3Errc::kLocalIo: return "local spool file error";
    }
    return "unknown S3 error";
  }
};

}  // namespace

const boost::system::error_category& s3_category() noexcept {
  static const S3Category kCategory;
  return kCategory;
}

void throw_exception_from_error(const S3Error& error, const boost::source_location&) {
  throw std::runtime_error(error.message);
}

}  // namespace regmirror::proxy::s3
