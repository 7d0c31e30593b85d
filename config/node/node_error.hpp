#pragma once
// Error values of the node-side helpers. Every failure here is an operator-facing problem with
// a file on the node (unreadable, invalid JSON, a setting that would break containerd), so the
// error is one readable sentence that names the file and the reason; no error-code taxonomy is
// worth having for that.
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>

namespace regmirror::config::node {

struct NodeError {
  // Built through node_error() only: a NodeError that converted implicitly from a string would
  // make NodeResult<std::string> ambiguous.
  struct Text {
    std::string text;
  };
  NodeError() = default;  // result<T, E>::error() needs it
  explicit NodeError(Text t) : message(std::move(t.text)) {}

  std::string message;
};

template <class T>
using NodeResult = boost::system::result<T, NodeError>;

// Found by ADL when NodeResult::value() is called on an error; only reached on programming
// errors, normal paths check has_value()/has_error() first.
[[noreturn]] inline void throw_exception_from_error(const NodeError& e,
                                                    const boost::source_location&) {
  throw std::runtime_error(e.message);
}

inline NodeError node_error(std::string message) {
  return NodeError(NodeError::Text{std::move(message)});
}

}  // namespace regmirror::config::node
