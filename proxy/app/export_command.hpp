#pragma once
#include <string>
#include <vector>

namespace regmirror::app {

// `regmirror export`: write images, pulled through a running mirror, as an OCI layout tarball.
int run_export_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
