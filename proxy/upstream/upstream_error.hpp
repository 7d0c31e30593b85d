#pragma once
// Errors of the upstream client: libcurl's failures folded into what callers act on.
#include <boost/system/error_code.hpp>
#include <type_traits>

namespace regmirror::proxy::upstream {

enum class UpstreamErrc {
  kConnect = 1,       // DNS, refused, TLS handshake, reset before the answer: try the next
  kTimeout,           // connect/read timeout or stalled transfer
  kBroken,            // the connection broke in the middle of the body (resumable)
  kTooLarge,          // body over the caller's limit (e.g. a manifest over 4 MiB)
  kProtocol,          // malformed HTTP, bad redirect, unusable token response
  kAborted,           // the caller's sink stopped the transfer
  kTooManyRedirects,
  kInsecureRealm,     // a token realm that is http while the registry is https
  kCircuitOpen,       // not tried: the upstream failed recently and is cooling down
};

const boost::system::error_category& upstream_category() noexcept;

inline boost::system::error_code make_error_code(UpstreamErrc e) noexcept {
  return {static_cast<int>(e), upstream_category()};
}

}  // namespace regmirror::proxy::upstream

template <>
struct boost::system::is_error_code_enum<regmirror::proxy::upstream::UpstreamErrc>
    : std::true_type {};
