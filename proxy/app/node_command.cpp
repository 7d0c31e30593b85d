#include "proxy/app/node_command.hpp"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <system_error>

#include "config/node/boot_config.hpp"
#include "config/node/containerd_config.hpp"
#include "config/node/grub_defaults.hpp"
#include "config/node/kubelet_log_settings.hpp"
#include "config/node/node_plan.hpp"
#include "proxy/app/cli_options.hpp"

extern char** environ;

namespace regmirror::app {
namespace {

namespace node = regmirror::config::node;
using node::DesiredFile;
using node::FileApplier;
using node::FileState;
using node::kNokmemArg;
using node::node_error;
using node::NodeResult;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kNodeHelp = R"(usage: regmirror node <command> [options]

Configures a Kubernetes node to pull through a regmirror mirror.

commands:
  render   write every node file for a mirror into a directory, to inspect or bake into an image
  apply    write the node files under a host root, only those that differ (--every: keep in sync)
  check    compare the node files under a host root with what apply would write; exit 1 on drift

Run `regmirror node <command> --help` for the options of each command.
)";

constexpr std::string_view kMirrorOptionsHelp = R"(mirror options:
  --mirror URL            the mirror, scheme://host[:port] (e.g. http://10.0.0.5:30500)
  --ca FILE               node path of the CA that signed an https mirror's certificate
  --skip-verify           do not verify an https mirror's certificate
  --registry NAME[=URL]   registry to send through the mirror, with its fallback server
                          (repeatable; replaces the default set: docker.io, registry.k8s.io,
                          k8s.gcr.io, gcr.io, quay.io, ghcr.io, docker.pkg.github.com)
  --certs-dir PATH        containerd hosts directory on the node [/etc/containerd/certs.d]
log rotation options (docker json-file logs):
  --logrotate-path GLOB   [/var/lib/docker/containers/*/*.log]
  --logrotate-rotate N    rotated files kept [10]
  --logrotate-maxsize S   rotate when bigger than S (k, M, G) [100M]
  --logrotate-frequency F hourly|daily|weekly|monthly|yearly [daily]
)";

constexpr std::string_view kRenderHelp =
    R"(usage: regmirror node render --mirror URL [--ca FILE] [--skip-verify] --out DIR

Writes, under DIR:
  etc/containerd/certs.d/<registry>/hosts.toml   containerd (ctr --hosts-dir DIR/etc/containerd/certs.d)
  containerd-config-path-v2.toml                 config.toml section for containerd 1.6/1.7
  containerd-config-path-v3.toml                 config.toml section for containerd 2.x
  etc/docker/daemon.json                         docker (merged into --daemon-json FILE if given)
  etc/containers/registries.conf.d/50-regmirror.conf   CRI-O, podman, skopeo
  etc/logrotate.d/docker                         docker container log rotation

options:
  --out DIR               output directory (created)
  --daemon-json FILE      an existing daemon.json to merge the mirror into
)";

constexpr std::string_view kApplyHelp =
    R"(usage: regmirror node apply --root DIR [--mirror URL] [--logrotate] [--grub-nokmem]
                            [--dry-run] [--every DURATION]

Writes the node files under DIR (the node's / as the agent sees it, e.g. /host): atomically,
only the files whose SHA-256 differs, keeping a backup (<file>.regmirror-<time>~) of each file
it replaces. Says which service must reload or restart; never restarts or reboots anything.

options:
  --root DIR              the node's root directory (/ when run on the node itself)
  --runtime LIST          containerd,docker,crio (default: those whose /etc directory is
                          present and not empty under the root)
  --logrotate             install the docker log rotation policy (/etc/logrotate.d/docker)
  --grub-nokmem           add cgroup.memory=nokmem to GRUB_CMDLINE_LINUX in /etc/default/grub,
                          regenerate grub.cfg with the node's tool and say if a reboot is needed
  --no-grub-regenerate    edit /etc/default/grub only (the agent cannot run the node's tool)
  --proc-cmdline FILE     kernel command line to compare with [/proc/cmdline]
  --dry-run               print what would change, as a diff; write nothing
  --every DURATION        apply again every DURATION (30s, 10m, 1h) until SIGTERM or SIGINT
  --containerd-config P   containerd config on the node [/etc/containerd/config.toml]
)";

constexpr std::string_view kCheckHelp =
    R"(usage: regmirror node check --root DIR [--mirror URL] [--logrotate] [--grub-nokmem]

Compares the node files under DIR with what `node apply` would write, prints a diff for each
file that differs, the kubelet's container log limits and whether a reboot is pending.
Exits 1 when a file differs or is missing.

options: those of `regmirror node apply` (without --dry-run, --every), and
  --kubelet-config PATH   kubelet configuration on the node [/var/lib/kubelet/config.yaml]
)";

// The options of render, apply and check as typed; options_from() and target_from() check them.
struct NodeArgs {
  std::optional<std::string> mirror;
  std::optional<std::string> ca;
  bool skip_verify = false;
  std::vector<std::string> registries;
  std::optional<std::string> certs_dir;
  std::optional<std::string> logrotate_path;
  std::optional<std::string> logrotate_rotate;
  std::optional<std::string> logrotate_maxsize;
  std::optional<std::string> logrotate_frequency;
  // render
  std::optional<std::string> out;
  std::optional<std::string> daemon_json;
  // apply and check
  std::optional<std::string> root;
  std::optional<std::string> runtime;
  std::optional<std::string> proc_cmdline;
  std::optional<std::string> containerd_config;
  bool logrotate = false;
  bool grub_nokmem = false;
  bool no_grub_regenerate = false;
  // apply
  bool dry_run = false;
  std::optional<std::string> every;
  // check
  std::optional<std::string> kubelet_config;
};

// The mirror options every command takes; `help` is the command's own part of --help.
CliOptions node_cli_options(const std::string& command, std::string_view help, NodeArgs& a,
                            const NodeCliEnv& env) {
  CliOptions options("node " + command, std::string(help) + "\n" + std::string(kMirrorOptionsHelp));
  options.streams(*env.out, *env.err)
      .value({"--mirror"}, a.mirror)
      .value({"--ca"}, a.ca)
      .flag({"--skip-verify"}, a.skip_verify)
      .values({"--registry"}, a.registries)
      .value({"--certs-dir"}, a.certs_dir)
      .value({"--logrotate-path"}, a.logrotate_path)
      .value({"--logrotate-rotate"}, a.logrotate_rotate)
      .value({"--logrotate-maxsize"}, a.logrotate_maxsize)
      .value({"--logrotate-frequency"}, a.logrotate_frequency);
  return options;
}

// The options of apply and check that say what to manage on which root.
void add_host_options(CliOptions& options, NodeArgs& a) {
  options.value({"--root"}, a.root)
      .value({"--runtime"}, a.runtime)
      .value({"--proc-cmdline"}, a.proc_cmdline)
      .value({"--containerd-config"}, a.containerd_config)
      .flag({"--logrotate"}, a.logrotate)
      .flag({"--grub-nokmem"}, a.grub_nokmem)
      .flag({"--no-grub-regenerate"}, a.no_grub_regenerate);
}

NodeResult<node::NodeOptions> options_from(const NodeArgs& a) {
  node::NodeOptions options;
  if (a.mirror) {
    auto mirror = node::parse_mirror_url(*a.mirror);
    if (!mirror) return mirror.error();
    if (a.ca) {
      if (mirror->plain_http()) return node_error("--ca needs an https:// mirror");
      if (!a.ca->starts_with("/")) return node_error("--ca must be an absolute node path");
      mirror->ca_file = *a.ca;
    }
    if (a.skip_verify) {
      if (mirror->plain_http()) return node_error("--skip-verify needs an https:// mirror");
      mirror->skip_verify = true;
    }
    options.mirror = std::move(*mirror);
  } else {
    const std::pair<const char*, bool> needs_mirror[] = {{"--ca", a.ca.has_value()},
                                                         {"--skip-verify", a.skip_verify},
                                                         {"--registry", !a.registries.empty()},
                                                         {"--runtime", a.runtime.has_value()}};
    for (const auto& [name, given] : needs_mirror) {
      if (given) return node_error(std::string(name) + " needs --mirror");
    }
  }
  if (!a.registries.empty()) {
    options.registries.clear();
    for (const std::string& spec : a.registries) {
      auto host = node::parse_registry_spec(spec);
      if (!host) return host.error();
      options.registries.push_back(std::move(*host));
    }
  }
  if (a.runtime) {
    auto parsed = node::parse_runtimes(*a.runtime);
    if (!parsed) return parsed.error();
    options.runtimes = std::move(*parsed);
  }
  if (a.certs_dir) {
    std::string dir = *a.certs_dir;
    if (!dir.starts_with("/")) return node_error("--certs-dir must be an absolute node path");
    while (dir.size() > 1 && dir.ends_with('/')) dir.pop_back();
    options.certs_dir = dir;
  }
  if (a.containerd_config) {
    if (!a.containerd_config->starts_with("/")) {
      return node_error("--containerd-config must be an absolute path");
    }
    options.containerd_config = *a.containerd_config;
  }
  options.logrotate = a.logrotate;
  node::LogrotatePolicy& policy = options.logrotate_policy;
  if (a.logrotate_path) policy.path_glob = *a.logrotate_path;
  if (a.logrotate_maxsize) policy.maxsize = *a.logrotate_maxsize;
  if (a.logrotate_frequency) policy.frequency = *a.logrotate_frequency;
  if (a.logrotate_rotate) {
    const std::string& v = *a.logrotate_rotate;
    int n = -1;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size()) {
      return node_error("--logrotate-rotate '" + v + "' is not a number");
    }
    policy.rotate = n;
  }
  if (auto valid = node::validate(policy); !valid) return valid.error();
  options.grub_nokmem = a.grub_nokmem;
  return options;
}

std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string short_hash(const std::string& hex) { return hex.substr(0, 12); }

std::string now_text(const NodeCliEnv& env) {
  std::time_t t = std::chrono::system_clock::to_time_t(env.clock());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// --- render -------------------------------------------------------------------------------

int run_render(const std::vector<std::string>& args, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  NodeArgs a;
  CliOptions cli = node_cli_options("render", kRenderHelp, a, env);
  cli.value({"--out"}, a.out).value({"--daemon-json"}, a.daemon_json);
  if (auto code = CliOptions::exit_code(cli.parse(args))) return *code;
  if (!a.mirror || !a.out) {
    return cli.usage_error("--mirror URL and --out DIR are required (see --help)");
  }
  auto options = options_from(a);
  if (!options) return cli.usage_error(options.error().message);

  std::string daemon_json_base;
  if (a.daemon_json) {
    auto text = read_text_file(*a.daemon_json);
    if (!text) {
      err << "regmirror node render: cannot read --daemon-json " << *a.daemon_json << "\n";
      return kExitFailure;
    }
    daemon_json_base = std::move(*text);
  }
  auto files = node::render_node_bundle(*options, *options->mirror, daemon_json_base);
  if (!files) {
    err << "regmirror node render: " << files.error().message << "\n";
    return kExitFailure;
  }

  FileApplier applier(*a.out, env.clock);
  int status = kExitOk;
  for (const DesiredFile& file : *files) {
    auto written = applier.write(file);
    if (!written) {
      err << "regmirror node render: " << written.error().message << "\n";
      status = kExitFailure;
      continue;
    }
    out << (written->state == FileState::kUnchanged ? "unchanged " : "wrote     ")
        << applier.host_path(file.node_path).string() << "\n";
  }
  return status;
}

// --- apply / check ------------------------------------------------------------------------

// A node root and what to manage on it.
struct HostTarget {
  node::NodeOptions options;
  std::string root;
  bool regenerate_grub = true;
  std::string proc_cmdline = "/proc/cmdline";
  std::string kubelet_config = "/var/lib/kubelet/config.yaml";
};

NodeResult<HostTarget> target_from(const NodeArgs& a) {
  HostTarget target;
  if (!a.root) return node_error("--root DIR is required (/ when run on the node itself)");
  std::error_code ec;
  if (!std::filesystem::is_directory(*a.root, ec)) {
    return node_error("--root " + *a.root + " is not a directory");
  }
  target.root = *a.root;
  auto options = options_from(a);
  if (!options) return options.error();
  target.options = std::move(*options);
  if (!target.options.mirror && !target.options.logrotate && !target.options.grub_nokmem) {
    return node_error("nothing to do: give --mirror URL, --logrotate and/or --grub-nokmem");
  }
  target.regenerate_grub = !a.no_grub_regenerate;
  if (a.proc_cmdline) target.proc_cmdline = *a.proc_cmdline;
  if (a.kubelet_config) target.kubelet_config = *a.kubelet_config;
  return target;
}

// Reports whether the running kernel has the argument, i.e. whether a reboot is still needed.
void report_reboot(const HostTarget& target, std::ostream& out) {
  auto has = node::running_kernel_has_arg(target.proc_cmdline, kNokmemArg);
  if (!has) {
    out << "grub: " << has.error().message << "; cannot tell whether " << kNokmemArg
        << " is active\n";
  } else if (*has) {
    out << "grub: " << kNokmemArg << " is active in the running kernel; no reboot needed\n";
  } else {
    out << "grub: reboot needed: the running kernel was started without " << kNokmemArg
        << " (regmirror never reboots; drain the node and reboot it)\n";
  }
}

// Regenerates grub.cfg when /etc/default/grub changed or the boot config lacks the argument;
// false when the node's tool could not be run or failed.
bool regenerate_grub(const HostTarget& target, bool defaults_changed, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  const node::GrubRegeneration regeneration = node::plan_grub_regeneration(
      target.root, kNokmemArg, defaults_changed, target.regenerate_grub);
  const std::string_view manual =
      "update-grub (Debian/Ubuntu) or grub2-mkconfig -o /boot/grub2/grub.cfg (RHEL family)";
  switch (regeneration.step) {
    case node::GrubStep::kNone:
      return true;
    case node::GrubStep::kNotAllowed:
      out << "grub: boot config not regenerated (--no-grub-regenerate); run " << manual
          << " on the node\n";
      return true;
    case node::GrubStep::kNoTool:
      out << "grub: no grub tool found under " << target.root
          << " (update-grub, grub2-mkconfig, grub-mkconfig); run " << manual << " on the node\n";
      return true;
    case node::GrubStep::kRunTool:
      break;
  }
  const node::GrubTool& tool = regeneration.tool;
  out << "grub: regenerating the boot config: " << tool.display << "\n";
  auto status = env.run(tool.argv);
  if (!status) {
    *env.err << "regmirror node apply: cannot run " << tool.display << ": "
             << status.error().message << "\n";
    return false;
  }
  if (*status != 0) {
    *env.err << "regmirror node apply: " << tool.display << " exited with status " << *status
             << "\n";
    return false;
  }
  return true;
}

// Builds the plan and reports runtime detection problems. nullopt after printing an error.
std::optional<node::NodePlan> plan_for(const HostTarget& target, const FileApplier& applier,
                                       std::string_view command, std::ostream& out,
                                       std::ostream& err) {
  node::NodePlan plan = node::build_node_plan(target.options, applier);
  if (target.options.mirror && plan.runtimes.empty()) {
    err << "regmirror node " << command << ": no container runtime configuration under "
        << target.root << " (etc/containerd, etc/docker, etc/containers missing or empty); "
        << "pass --runtime containerd|docker|crio\n";
    return std::nullopt;
  }
  for (const node::PlanError& e : plan.errors) {
    err << "regmirror node " << command << ": " << e.node_path << ": " << e.error.message << "\n";
  }
  for (const std::string& note : plan.notes) out << note << "\n";
  return plan;
}

void report_effects(const std::vector<const DesiredFile*>& changed,
                    const node::NodeOptions& options, bool dry_run, std::ostream& out) {
  const node::ChangeEffects effects = node::change_effects(changed, options);
  const std::string changed_word = dry_run ? "would change" : "changed";
  if (effects.hosts_changed) {
    out << "containerd: hosts.toml " << changed_word
        << "; no restart needed, containerd reads it on the next pull\n";
  }
  for (node::FileEffect effect : effects.effects) {
    switch (effect) {
      case node::FileEffect::kContainerdRestart:
        out << "containerd: " << options.containerd_config << " " << changed_word
            << "; restart needed to load config_path (systemctl restart containerd; running "
               "containers keep running). regmirror does not restart it\n";
        break;
      case node::FileEffect::kDockerReload:
        out << "docker: " << options.docker_daemon_json << " " << changed_word
            << "; reload needed, no restart (systemctl reload docker). regmirror does not "
               "reload it\n";
        break;
      case node::FileEffect::kCrioReload:
        out << "cri-o: registries.conf.d " << changed_word
            << "; reload CRI-O (systemctl reload crio); podman and skopeo read it on each run\n";
        break;
      case node::FileEffect::kGrubRegenerate:
      case node::FileEffect::kNone:
        break;
    }
  }
}

// One apply pass; returns the exit status.
int apply_once(const HostTarget& target, bool dry_run, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  FileApplier applier(target.root, env.clock);
  auto plan = plan_for(target, applier, "apply", *env.out, *env.err);
  if (!plan) return kExitFailure;
  int status = plan->errors.empty() ? kExitOk : kExitFailure;
  std::vector<const DesiredFile*> changed;
  size_t unchanged = 0;
  bool grub_changed = false;
  for (const DesiredFile& file : plan->files) {
    auto outcome = dry_run ? applier.compare(file) : applier.write(file);
    if (!outcome) {
      *env.err << "regmirror node apply: " << outcome.error().message << "\n";
      status = kExitFailure;
      continue;
    }
    switch (outcome->state) {
      case FileState::kUnchanged:
        ++unchanged;
        out << "unchanged " << file.node_path << "\n";
        continue;
      case FileState::kMissing:
        out << "would create " << file.node_path << " sha256:" << short_hash(outcome->new_sha256)
            << "\n"
            << outcome->diff;
        break;
      case FileState::kDiffers:
        out << "would update " << file.node_path << " sha256:" << short_hash(outcome->old_sha256)
            << " -> " << short_hash(outcome->new_sha256) << "\n"
            << outcome->diff;
        break;
      case FileState::kCreated:
        out << "created   " << file.node_path << " sha256:" << short_hash(outcome->new_sha256)
            << "\n";
        break;
      case FileState::kUpdated:
        out << "updated   " << file.node_path << " sha256:" << short_hash(outcome->old_sha256)
            << " -> " << short_hash(outcome->new_sha256) << " (backup " << outcome->backup_node_path
            << ")\n";
        break;
    }
    changed.push_back(&file);
    if (file.effect == node::FileEffect::kGrubRegenerate) grub_changed = true;
  }
  report_effects(changed, target.options, dry_run, out);
  if (target.options.grub_nokmem) {
    if (dry_run) {
      if (grub_changed) out << "grub: would regenerate the boot config\n";
    } else if (!regenerate_grub(target, grub_changed, env)) {
      status = kExitFailure;
    }
    report_reboot(target, out);
  }
  if (changed.empty()) {
    out << "node apply: no changes, " << unchanged << " files already up to date\n";
  } else {
    out << "node apply: " << changed.size()
        << (dry_run ? " files would change, " : " files changed, ") << unchanged << " unchanged\n";
  }
  return status;
}

int run_apply(const std::vector<std::string>& args, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  NodeArgs a;
  CliOptions cli = node_cli_options("apply", kApplyHelp, a, env);
  add_host_options(cli, a);
  cli.flag({"--dry-run"}, a.dry_run).value({"--every"}, a.every);
  if (auto code = CliOptions::exit_code(cli.parse(args))) return *code;
  auto target = target_from(a);
  if (!target) return cli.usage_error(target.error().message);
  std::optional<std::chrono::seconds> every;
  if (a.every) {
    if (a.dry_run) return cli.usage_error("--every and --dry-run cannot be combined");
    auto interval = parse_interval(*a.every);
    if (!interval) return cli.usage_error(interval.error().message);
    every = *interval;
  }
  if (!every) return apply_once(*target, a.dry_run, env);

  // Keep the node in sync: a failed pass (a file someone broke) is reported and retried on
  // the next round instead of ending the agent, which would only restart it in a loop.
  for (;;) {
    out << "node apply: pass at " << now_text(env) << "\n";
    int status = apply_once(*target, false, env);
    if (status != kExitOk)
      out << "node apply: pass failed; retrying in " << every->count() << "s\n";
    out.flush();
    if (env.wait_or_stop(*every)) {
      out << "node apply: stopping\n";
      return kExitOk;
    }
  }
}

// containerd 2.x reads config_path differently from 1.x: say plainly when a node's current
// config.toml would send its pulls around the mirror, whatever the file-by-file drift says.
// False when it would.
bool check_containerd2(const HostTarget& target, const FileApplier& applier, std::ostream& out) {
  auto text = applier.read(target.options.containerd_config);
  if (!text || !*text) return true;
  node::Containerd2Check c2 = node::check_containerd2_config(**text, target.options.certs_dir);
  for (const std::string& line : c2.bypass) {
    out << "containerd 2.x: bypasses the mirror: " << line << "\n";
  }
  for (const std::string& line : c2.notes) out << "containerd: note: " << line << "\n";
  return c2.bypass.empty();
}

// kubelet rotates container logs on containerd/CRI-O nodes; show what bounds them.
void report_kubelet(const HostTarget& target, const FileApplier& applier, std::ostream& out) {
  auto kubelet = applier.read(target.kubelet_config);
  if (kubelet && *kubelet) {
    node::KubeletLogSettings s = node::read_kubelet_log_settings(**kubelet);
    out << "kubelet: containerLogMaxSize=" << s.container_log_max_size
        << (s.max_size_from_file ? "" : " (default)")
        << " containerLogMaxFiles=" << s.container_log_max_files
        << (s.max_files_from_file ? "" : " (default)") << " from " << target.kubelet_config << "\n";
  } else {
    out << "kubelet: no readable " << target.kubelet_config
        << "; kubelet defaults are containerLogMaxSize=10Mi containerLogMaxFiles=5\n";
  }
}

int run_check(const std::vector<std::string>& args, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  NodeArgs a;
  CliOptions cli = node_cli_options("check", kCheckHelp, a, env);
  add_host_options(cli, a);
  cli.value({"--kubelet-config"}, a.kubelet_config);
  if (auto code = CliOptions::exit_code(cli.parse(args))) return *code;
  auto target = target_from(a);
  if (!target) return cli.usage_error(target.error().message);
  FileApplier applier(target->root, env.clock);
  auto plan = plan_for(*target, applier, "check", out, err);
  if (!plan) return kExitFailure;
  size_t drift = 0;
  int status = plan->errors.empty() ? kExitOk : kExitFailure;
  for (const DesiredFile& file : plan->files) {
    auto outcome = applier.compare(file);
    if (!outcome) {
      err << "regmirror node check: " << outcome.error().message << "\n";
      status = kExitFailure;
      continue;
    }
    switch (outcome->state) {
      case FileState::kUnchanged:
        out << "ok      " << file.node_path << " sha256:" << short_hash(outcome->new_sha256)
            << "\n";
        break;
      case FileState::kMissing:
        ++drift;
        out << "missing " << file.node_path << "\n" << outcome->diff;
        break;
      default:
        ++drift;
        out << "differs " << file.node_path << " sha256:" << short_hash(outcome->old_sha256)
            << " (want " << short_hash(outcome->new_sha256) << ")\n"
            << outcome->diff;
        break;
    }
  }
  const bool containerd = std::find(plan->runtimes.begin(), plan->runtimes.end(),
                                    node::Runtime::kContainerd) != plan->runtimes.end();
  if (containerd && !check_containerd2(*target, applier, out)) status = kExitFailure;
  report_kubelet(*target, applier, out);
  if (target->options.grub_nokmem) {
    std::optional<bool> boot_has = node::boot_config_has_arg(target->root, kNokmemArg);
    if (boot_has.has_value() && !*boot_has) {
      out << "grub: the boot config (grub.cfg) lacks " << kNokmemArg
          << "; `node apply --grub-nokmem` regenerates it\n";
    }
    report_reboot(*target, out);
  }
  if (drift == 0 && status == kExitOk) {
    out << "node check: " << plan->files.size() << " files up to date\n";
  } else if (drift > 0) {
    out << "node check: " << drift << " of " << plan->files.size()
        << " files differ from what node apply writes\n";
    status = kExitFailure;
  }
  return status;
}

// --- the process --------------------------------------------------------------------------

// Runs the node's grub tool; its output goes straight to ours so the operator sees it.
NodeResult<int> run_process(const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
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
  if (rc != 0) return node_error(std::generic_category().message(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return node_error("waitpid: " + std::generic_category().message(errno));
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

NodeResult<std::chrono::seconds> parse_interval(std::string_view text) {
  long long n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  const std::string message =
      "interval '" + std::string(text) + "' must be a number with s, m or h (e.g. 10m)";
  if (ec != std::errc() || n <= 0 || n > 1'000'000) return node_error(message);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::seconds(n * 60);
  if (unit == "h") return std::chrono::seconds(n * 3600);
  return node_error(message);
}

int run_node_cli(const std::vector<std::string>& args, const NodeCliEnv& env) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? *env.err : *env.out) << kNodeHelp;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string& command = args[0];
  const std::vector<std::string> options(args.begin() + 1, args.end());
  if (command == "render") return run_render(options, env);
  if (command == "apply") return run_apply(options, env);
  if (command == "check") return run_check(options, env);
  *env.err << "regmirror node: unknown command '" << command
           << "' (expected render, apply or check; see regmirror node --help)\n";
  return kExitUsage;
}

int run_node_command(const std::vector<std::string>& args) {
  // Blocked before any pass runs, so a signal that arrives during a pass is kept pending and
  // ends the next wait; only the --every loop waits, one-shot commands finish their pass.
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  NodeCliEnv env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.run = run_process;
  env.wait_or_stop = wait_or_stop;
  int status = run_node_cli(args, env);
  std::cout.flush();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return status;
}

}  // namespace regmirror::app
