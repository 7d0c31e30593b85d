#pragma once
// The errors of the seed, export, import and cache commands: one line for the operator that
// names the image, file or URL and the reason (config/result.hpp's MessageError). A command
// prints it after its "regmirror <command>: " prefix and picks the exit status.
#include <string>
#include <utility>

#include "config/result.hpp"

namespace regmirror::app {

using CliError = MessageError;

template <class T>
using CliResult = Result<T, CliError>;

inline CliError cli_error(std::string message) { return message_error(std::move(message)); }

}  // namespace regmirror::app
