#pragma once
#include <string>
#include <vector>

namespace regmirror::app {

// `regmirror cache ls|pin|unpin|gc|verify`: talks to a running server's admin API.
int run_cache_command(const std::vector<std::string>& args);

}  // namespace regmirror::app
