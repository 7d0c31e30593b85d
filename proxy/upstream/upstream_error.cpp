#include "proxy/upstream/upstream_error.hpp"

#include <string>

namespace regmirror::proxy::upstream {
namespace {

class UpstreamCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "regmirror.upstream"; }
  std::string message(int value) const override {
    switch (static_cast<UpstreamErrc>(value)) {
      case UpstreamErrc::kConnect:
        return "cannot connect to upstream";
      case UpstreamErrc::kTimeout:
        return "upstream timed out";
      case UpstreamErrc::kTooLarge:
        return "upstream response too large";
      case UpstreamErrc::kProtocol:
        return "upstream protocol error";
      case UpstreamErrc::kAborted:
        return "transfer aborted";
      case UpstreamErrc::kTooManyRedirects:
        return "too many redirects";
      case UpstreamErrc::kInsecureRealm:
        return "token realm is not https for an https registry";
    }
    return "unknown upstream error";
  }
};

}  // namespace

const boost::system::error_category& upstream_category() noexcept {
  static const UpstreamCategory category;
  return category;
}

}  // namespace regmirror::proxy::upstream
