#pragma once
#include <string>
#include <vector>

namespace regmirror::app {

// `regmirror import`: verify an offline bundle completely, then load it into a running mirror.
int run_import_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
