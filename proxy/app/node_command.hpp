#pragma once
// `regmirror node render|apply|check`: node-side configuration (hosts.toml, daemon.json,
// registries.conf, logrotate, grub) through the config/node library. The process-level effects
// (output streams, running the grub tool, waiting between --every runs) are injected so the
// whole command is testable.
#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "config/node/file_applier.hpp"
#include "config/node/node_error.hpp"

namespace regmirror::app {

struct NodeCliEnv {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Runs argv to completion; the exit status, or an error when it could not be started.
  std::function<config::node::NodeResult<int>(const std::vector<std::string>& argv)> run;
  // Sleeps up to `interval`; returns true as soon as the process is asked to stop.
  std::function<bool(std::chrono::seconds interval)> wait_or_stop;
  config::node::FileApplier::Clock clock = std::chrono::system_clock::now;
};

// Takes the arguments after "node". Exit codes: 0 success (check: no drift), 1 failure or
// drift, 2 bad command line.
int run_node_cli(const std::vector<std::string>& args, const NodeCliEnv& env);

// "30s", "10m", "1h" (at least one second).
config::node::NodeResult<std::chrono::seconds> parse_interval(std::string_view text);

// run_node_cli with the process's streams, posix_spawn for the grub tool, and SIGTERM/SIGINT
// ending an --every loop.
int run_node_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
