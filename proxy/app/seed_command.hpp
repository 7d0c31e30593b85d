#pragma once
#include <string>
#include <vector>

namespace regmirror::app {

// `regmirror seed`: pull a list of images through a running mirror and pin them.
int run_seed_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
