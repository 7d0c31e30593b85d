#include "proxy/upstream/upstream_error.hpp"

#include <string>

namespace regmirror::proxy::upstream {
namespace {

class UpstreamCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "regmirror.http"; }
  std::string message(int value) const override {
    switch (static_cast<UpstreamErrc>(value)) {
      case UpstreamErrc::kConnect:
        return "cannot connect (refused, DNS or TLS failure)";
      case UpstreamErrc::kTimeout:
        return "timed out";
      case UpstreamErrc::kBroken:
        return "connection broke mid-transfer";
      case UpstreamErrc::kTooLarge:
        return "response too large";
      case UpstreamErrc::kProtocol:
        return "protocol error (malformed answer)";
      case UpstreamErrc::kAborted:
        return "transfer aborted";
      case UpstreamErrc::kTooManyRedirects:
        return "too many redirects";
      case UpstreamErrc::kInsecureRealm:
        return "token realm is not https for an https registry";
      case UpstreamErrc::kCircuitOpen:
        return "skipped: failing recently or not answering (circuit open)";
    }
    return "unknown upstream error";
  }
};

}  // namespace

const boost::system::error_category& upstream_category() noexcept {
  static const UpstreamCategory kCategory;
  return kCategory;
}

}  // namespace regmirror::proxy::upstream
