#include "proxy/app/node_command.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "config/node/node_cli.hpp"

extern char** environ;

namespace regmirror::app {
namespace {

namespace node = regmirror::config::node;

// Runs the node's grub tool; its output goes straight to ours so the operator sees it.
node::NodeResult<int> run_process(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  // The child must not inherit the blocked SIGTERM/SIGINT of the --every loop.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  std::cout.flush();
  int rc = posix_spawnp(&pid, cargv[0], nullptr, &attr, cargv.data(), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return node::node_error(std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return node::node_error(std::string("waitpid: ") + std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

// SIGTERM/SIGINT are blocked and collected with sigtimedwait, so a stop request ends the wait
// between passes at once and never interrupts a pass halfway (files are replaced atomically
// anyway, but the report of a pass stays whole).
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

bool wait_or_stop(std::chrono::seconds interval) {
  const sigset_t set = stop_signals();
  const auto deadline = std::chrono::steady_clock::now() + interval;
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
    timespec ts{static_cast<time_t>(secs.count()),
                static_cast<long>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count())};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) return true;
    if (sig < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
}

}  // namespace

int run_node_command(const std::vector<std::string>& args) {
  // Blocked before any pass runs, so a signal that arrives during a pass is kept pending and
  // ends the next wait; only the --every loop waits, one-shot commands finish their pass.
  const sigset_t set = stop_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  node::NodeCliEnv env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.run = run_process;
  env.wait_or_stop = wait_or_stop;
  int status = node::run_node_cli(args, env);
  std::cout.flush();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  return status;
}

}  // namespace regmirror::app
