#pragma once
// `regmirror node render|apply|check`: node-side configuration (hosts.toml, daemon.json,
// registries.conf, logrotate, grub). Takes the arguments after "node"; returns the exit code.
#include <string>
#include <vector>

namespace regmirror::app {

int run_node_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
