#pragma once
// Error values of the node-side helpers. Every failure here is an operator-facing problem with
// a file on the node (unreadable, invalid JSON, a setting that would break containerd), so the
// error is one readable sentence that names the file and the reason (config/result.hpp's
// MessageError); no error-code taxonomy is worth having for that.
#include <string>
#include <utility>

#include "config/result.hpp"

namespace regmirror::config::node {

using NodeError = MessageError;

// The node library's name for its results, kept so its signatures read as node-side outcomes.
template <class T>
using NodeResult = Result<T, NodeError>;

inline NodeError node_error(std::string message) { return message_error(std::move(message)); }

}  // namespace regmirror::config::node
