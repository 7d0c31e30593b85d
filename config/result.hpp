#pragma once
// The one result type of the mirror: a value or an error, never both, and no exception on any
// normal path. Every module spells its results through this alias (it sits at the bottom of
// config <- cache <- proxy so all of them can):
//  - Result<T>: the error is a boost::system::error_code with a category per module
//    (cache_error, upstream_error, s3_error); what the code means is in that category.
//  - Result<T, E>: a domain whose callers need more than a code names its own error type and a
//    short alias: NodeResult (config/node), S3Result (proxy/s3), Answer (proxy/registry, the OCI
//    error a client gets), CliResult (proxy/app).
// MessageError is the error of the operator-facing domains (node helpers, CLI commands): one
// readable sentence that names the file, image or URL and the reason; no code taxonomy is worth
// having there.
#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>
#include <utility>

namespace regmirror {

template <class T, class E = boost::system::error_code>
using Result = boost::system::result<T, E>;

struct MessageError {
  // Built through message_error() only: an error that converted implicitly from a string would
  // make Result<std::string, MessageError> ambiguous.
  struct Text {
    std::string text;
  };
  MessageError() = default;  // result<T, E>::error() needs it
  explicit MessageError(Text t) : message(std::move(t.text)) {}

  std::string message;
};

inline MessageError message_error(std::string message) {
  return MessageError(MessageError::Text{std::move(message)});
}

// Found by ADL when Result<T, MessageError>::value() is called on an error; only reached on
// programming errors, normal paths check has_value()/has_error() first.
[[noreturn]] void throw_exception_from_error(const MessageError& error,
                                             const boost::source_location& location);

}  // namespace regmirror
