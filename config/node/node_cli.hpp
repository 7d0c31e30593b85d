#pragma once
// `regmirror node render|apply|check`, with the process-level effects (output streams, running
// the grub tool, waiting between --every runs) injected so the whole command is testable.
#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "config/node/file_applier.hpp"
#include "config/node/node_error.hpp"

namespace regmirror::config::node {

struct NodeCliEnv {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Runs argv to completion; the exit status, or an error when it could not be started.
  std::function<NodeResult<int>(const std::vector<std::string>& argv)> run;
  // Sleeps up to `interval`; returns true as soon as the process is asked to stop.
  std::function<bool(std::chrono::seconds interval)> wait_or_stop;
  FileApplier::Clock clock = std::chrono::system_clock::now;
};

// Exit codes: 0 success (check: no drift), 1 failure or drift, 2 bad command line.
int run_node_cli(const std::vector<std::string>& args, const NodeCliEnv& env);

// "30s", "10m", "1h" (at least one second).
NodeResult<std::chrono::seconds> parse_interval(std::string_view text);

}  // namespace regmirror::config::node
