// regmirror: an OCI registry pull-through cache for Kubernetes nodes.
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "proxy/app/build_info.hpp"
#include "proxy/app/cache_command.hpp"
#include "proxy/app/export_command.hpp"
#include "proxy/app/import_command.hpp"
#include "proxy/app/node_command.hpp"
#include "proxy/app/seed_command.hpp"
#include "proxy/app/serve_command.hpp"

namespace {

constexpr const char* kUsage = R"(regmirror - OCI registry pull-through cache for Kubernetes nodes

Usage:
  regmirror serve [--config FILE] [--listen ADDR:PORT] [--data-dir DIR] [--check-config]
  regmirror cache ls|pin REF|unpin REF|gc|verify [--admin URL]   manage a running mirror's cache
  regmirror seed (--base-set | --images FILE) [--tags RE] [--platform OS/ARCH]   pull and pin
  regmirror export --images FILE -o BUNDLE.tar [--server URL]   write an offline bundle
  regmirror import BUNDLE.tar [--admin URL]   load an offline bundle into a running mirror
  regmirror node render|apply|check ...   node-side containerd/docker/CRI-O configuration
  regmirror --help | --version

Run `regmirror COMMAND --help` for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  // A peer that resets a socket while we write to it must cost that connection only: with the
  // default disposition, sendfile(2) or an OpenSSL write on such a socket raises SIGPIPE and
  // ends the whole process. Ignored, those writes fail with EPIPE, which every writer handles.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    // One line, stable for scripts: "regmirror <version> (commit <hash>[-dirty]|unknown)".
    std::cout << "regmirror " << regmirror::app::kVersion << " (commit "
              << regmirror::app::kGitCommit << ")\n";
    return 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return regmirror::app::run_serve_command(args);
  if (command == "node") return regmirror::app::run_node_command(args);
  if (command == "cache") return regmirror::app::run_cache_command(args);
  if (command == "seed") return regmirror::app::run_seed_command(args);
  if (command == "export") return regmirror::app::run_export_command(args);
  if (command == "import") return regmirror::app::run_import_command(args);
  std::cerr << "regmirror: unknown command '" << command << "' (try regmirror --help)\n";
  return 2;
}
