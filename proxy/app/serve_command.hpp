#pragma once
// `regmirror serve`: loads the config, opens the cache, wires the server and runs it.
#include <string>
#include <vector>

namespace regmirror::app {

int run_serve_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
