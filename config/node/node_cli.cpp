#include "config/node/node_cli.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "config/node/boot_config.hpp"
#include "config/node/containerd_config.hpp"
#include "config/node/docker_daemon_json.hpp"
#include "config/node/grub_defaults.hpp"
#include "config/node/hosts_toml.hpp"
#include "config/node/kubelet_log_settings.hpp"
#include "config/node/node_plan.hpp"
#include "config/node/registries_conf.hpp"

namespace regmirror::config::node {
namespace {

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

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> flags;

  bool has(const std::string& name) const {
    return values.contains(name) || std::find(flags.begin(), flags.end(), name) != flags.end();
  }
  std::optional<std::string> value(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second.back();
  }
};

struct OptionSpec {
  std::vector<std::string> with_value;
  std::vector<std::string> flags;
};

NodeResult<ParsedArgs> parse_args(const std::vector<std::string>& args, size_t start,
                                  const OptionSpec& spec) {
  ParsedArgs parsed;
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  for (size_t i = start; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (contains(spec.flags, arg)) {
      if (inline_value) return node_error("option " + arg + " takes no value");
      parsed.flags.push_back(arg);
    } else if (contains(spec.with_value, arg)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return node_error("option " + arg + " needs a value");
        inline_value = args[++i];
      }
      parsed.values[arg].push_back(*inline_value);
    } else if (arg.starts_with("-")) {
      return node_error("unknown option '" + arg + "'");
    } else {
      return node_error("unexpected argument '" + arg + "'");
    }
  }
  return parsed;
}

const std::vector<std::string> kMirrorValueOptions = {"--mirror",
                                                      "--ca",
                                                      "--registry",
                                                      "--certs-dir",
                                                      "--logrotate-path",
                                                      "--logrotate-rotate",
                                                      "--logrotate-maxsize",
                                                      "--logrotate-frequency"};

NodeResult<NodeOptions> options_from(const ParsedArgs& args) {
  NodeOptions options;
  if (auto url = args.value("--mirror")) {
    auto mirror = parse_mirror_url(*url);
    if (!mirror) return mirror.error();
    if (auto ca = args.value("--ca")) {
      if (mirror->plain_http()) return node_error("--ca needs an https:// mirror");
      if (!ca->starts_with("/")) return node_error("--ca must be an absolute node path");
      mirror->ca_file = *ca;
    }
    if (args.has("--skip-verify")) {
      if (mirror->plain_http()) return node_error("--skip-verify needs an https:// mirror");
      mirror->skip_verify = true;
    }
    options.mirror = std::move(*mirror);
  } else {
    for (const char* needs_mirror : {"--ca", "--skip-verify", "--registry", "--runtime"}) {
      if (args.has(needs_mirror)) return node_error(std::string(needs_mirror) + " needs --mirror");
    }
  }
  if (auto it = args.values.find("--registry"); it != args.values.end()) {
    options.registries.clear();
    for (const std::string& spec : it->second) {
      auto host = parse_registry_spec(spec);
      if (!host) return host.error();
      options.registries.push_back(std::move(*host));
    }
  }
  if (auto runtimes = args.value("--runtime")) {
    auto parsed = parse_runtimes(*runtimes);
    if (!parsed) return parsed.error();
    options.runtimes = std::move(*parsed);
  }
  if (auto dir = args.value("--certs-dir")) {
    if (!dir->starts_with("/")) return node_error("--certs-dir must be an absolute node path");
    while (dir->size() > 1 && dir->ends_with('/')) dir->pop_back();
    options.certs_dir = *dir;
  }
  if (auto path = args.value("--containerd-config")) {
    if (!path->starts_with("/")) return node_error("--containerd-config must be an absolute path");
    options.containerd_config = *path;
  }
  options.logrotate = args.has("--logrotate");
  LogrotatePolicy& policy = options.logrotate_policy;
  if (auto v = args.value("--logrotate-path")) policy.path_glob = *v;
  if (auto v = args.value("--logrotate-maxsize")) policy.maxsize = *v;
  if (auto v = args.value("--logrotate-frequency")) policy.frequency = *v;
  if (auto v = args.value("--logrotate-rotate")) {
    int n = -1;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || ptr != v->data() + v->size()) {
      return node_error("--logrotate-rotate '" + *v + "' is not a number");
    }
    policy.rotate = n;
  }
  if (auto valid = validate(policy); !valid) return valid.error();
  options.grub_nokmem = args.has("--grub-nokmem");
  return options;
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
  OptionSpec spec{kMirrorValueOptions, {"--skip-verify", "--help", "-h"}};
  spec.with_value.push_back("--out");
  spec.with_value.push_back("--daemon-json");
  auto parsed = parse_args(args, 1, spec);
  if (!parsed) {
    err << "regmirror node render: " << parsed.error().message << " (see --help)\n";
    return kExitUsage;
  }
  if (parsed->has("--help") || parsed->has("-h")) {
    out << kRenderHelp << "\n" << kMirrorOptionsHelp;
    return kExitOk;
  }
  if (!parsed->has("--mirror") || !parsed->has("--out")) {
    err << "regmirror node render: --mirror URL and --out DIR are required (see --help)\n";
    return kExitUsage;
  }
  auto options = options_from(*parsed);
  if (!options) {
    err << "regmirror node render: " << options.error().message << "\n";
    return kExitUsage;
  }
  const MirrorEndpoint& mirror = *options->mirror;

  std::string daemon_json_base;
  if (auto path = parsed->value("--daemon-json")) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      err << "regmirror node render: cannot read --daemon-json " << *path << "\n";
      return kExitFailure;
    }
    std::ostringstream text;
    text << in.rdbuf();
    daemon_json_base = text.str();
  }
  auto daemon_json = merge_docker_daemon_json(daemon_json_base, mirror);
  if (!daemon_json) {
    err << "regmirror node render: " << daemon_json.error().message << "\n";
    return kExitFailure;
  }

  std::vector<DesiredFile> files;
  for (const RegistryHost& registry : options->registries) {
    files.push_back({options->certs_dir + "/" + hosts_toml_relative_path(registry),
                     render_hosts_toml(registry, mirror)});
  }
  files.push_back({"/containerd-config-path-v2.toml",
                   render_containerd_fragment(ContainerdConfigVersion::kV2, options->certs_dir)});
  files.push_back({"/containerd-config-path-v3.toml",
                   render_containerd_fragment(ContainerdConfigVersion::kV3, options->certs_dir)});
  files.push_back({options->docker_daemon_json, std::move(*daemon_json)});
  files.push_back({options->registries_conf_dir + "/" + std::string(kRegistriesConfDropIn),
                   render_registries_conf(options->registries, mirror)});
  files.push_back({options->logrotate_file, render_logrotate_policy(options->logrotate_policy)});

  FileApplier applier(*parsed->value("--out"), env.clock);
  int status = kExitOk;
  for (const DesiredFile& file : files) {
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

struct CommonArgs {
  NodeOptions options;
  std::string root;
  bool regenerate_grub = true;
  std::string proc_cmdline = "/proc/cmdline";
  std::string kubelet_config = "/var/lib/kubelet/config.yaml";
};

NodeResult<std::string> read_plain_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return node_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Reports the kernel command line state; true when a reboot is still needed.
bool report_reboot(const CommonArgs& common, std::ostream& out) {
  auto cmdline = read_plain_file(common.proc_cmdline);
  if (!cmdline) {
    out << "grub: " << cmdline.error().message << "; cannot tell whether " << kNokmemArg
        << " is active\n";
    return false;
  }
  if (cmdline_has_arg(*cmdline, kNokmemArg)) {
    out << "grub: " << kNokmemArg << " is active in the running kernel; no reboot needed\n";
    return false;
  }
  out << "grub: reboot needed: the running kernel was started without " << kNokmemArg
      << " (regmirror never reboots; drain the node and reboot it)\n";
  return true;
}

// Regenerates grub.cfg when /etc/default/grub changed or the boot config lacks the argument.
bool regenerate_grub(const CommonArgs& common, bool defaults_changed, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  const std::filesystem::path root(common.root);
  std::optional<bool> boot_has = boot_config_has_arg(root, kNokmemArg);
  if (!defaults_changed && boot_has.value_or(true)) return true;
  const std::string_view manual =
      "update-grub (Debian/Ubuntu) or grub2-mkconfig -o /boot/grub2/grub.cfg (RHEL family)";
  if (!common.regenerate_grub) {
    out << "grub: boot config not regenerated (--no-grub-regenerate); run " << manual
        << " on the node\n";
    return true;
  }
  std::optional<GrubTool> tool = find_grub_tool(root);
  if (!tool) {
    out << "grub: no grub tool found under " << common.root
        << " (update-grub, grub2-mkconfig, grub-mkconfig); run " << manual << " on the node\n";
    return true;
  }
  out << "grub: regenerating the boot config: " << tool->display << "\n";
  auto status = env.run(tool->argv);
  if (!status) {
    *env.err << "regmirror node apply: cannot run " << tool->display << ": "
             << status.error().message << "\n";
    return false;
  }
  if (*status != 0) {
    *env.err << "regmirror node apply: " << tool->display << " exited with status " << *status
             << "\n";
    return false;
  }
  return true;
}

NodeResult<CommonArgs> common_from(const ParsedArgs& parsed) {
  CommonArgs common;
  auto root = parsed.value("--root");
  if (!root) return node_error("--root DIR is required (/ when run on the node itself)");
  std::error_code ec;
  if (!std::filesystem::is_directory(*root, ec)) {
    return node_error("--root " + *root + " is not a directory");
  }
  common.root = *root;
  auto options = options_from(parsed);
  if (!options) return options.error();
  common.options = std::move(*options);
  if (!common.options.mirror && !common.options.logrotate && !common.options.grub_nokmem) {
    return node_error("nothing to do: give --mirror URL, --logrotate and/or --grub-nokmem");
  }
  common.regenerate_grub = !parsed.has("--no-grub-regenerate");
  if (auto p = parsed.value("--proc-cmdline")) common.proc_cmdline = *p;
  if (auto p = parsed.value("--kubelet-config")) common.kubelet_config = *p;
  return common;
}

// Builds the plan and reports runtime detection problems. nullopt after printing an error.
std::optional<NodePlan> plan_for(const CommonArgs& common, const FileApplier& applier,
                                 std::string_view command, std::ostream& out, std::ostream& err) {
  NodePlan plan = build_node_plan(common.options, applier);
  if (common.options.mirror && plan.runtimes.empty()) {
    err << "regmirror node " << command << ": no container runtime configuration under "
        << common.root << " (etc/containerd, etc/docker, etc/containers missing or empty); "
        << "pass --runtime containerd|docker|crio\n";
    return std::nullopt;
  }
  for (const PlanError& e : plan.errors) {
    err << "regmirror node " << command << ": " << e.node_path << ": " << e.error.message << "\n";
  }
  for (const std::string& note : plan.notes) out << note << "\n";
  return plan;
}

void report_effects(const std::vector<std::pair<const DesiredFile*, FileState>>& changed,
                    const NodeOptions& options, bool dry_run, std::ostream& out) {
  bool hosts_changed = false;
  std::vector<FileEffect> seen;
  for (const auto& [file, state] : changed) {
    if (file->node_path.starts_with(options.certs_dir + "/")) hosts_changed = true;
    if (std::find(seen.begin(), seen.end(), file->effect) == seen.end()) {
      seen.push_back(file->effect);
    }
  }
  const std::string changed_word = dry_run ? "would change" : "changed";
  if (hosts_changed) {
    out << "containerd: hosts.toml " << changed_word
        << "; no restart needed, containerd reads it on the next pull\n";
  }
  for (FileEffect effect : seen) {
    switch (effect) {
      case FileEffect::kContainerdRestart:
        out << "containerd: " << options.containerd_config << " " << changed_word
            << "; restart needed to load config_path (systemctl restart containerd; running "
               "containers keep running). regmirror does not restart it\n";
        break;
      case FileEffect::kDockerReload:
        out << "docker: " << options.docker_daemon_json << " " << changed_word
            << "; reload needed, no restart (systemctl reload docker). regmirror does not "
               "reload it\n";
        break;
      case FileEffect::kCrioReload:
        out << "cri-o: registries.conf.d " << changed_word
            << "; reload CRI-O (systemctl reload crio); podman and skopeo read it on each run\n";
        break;
      case FileEffect::kGrubRegenerate:
      case FileEffect::kNone:
        break;
    }
  }
}

// One apply pass; returns the exit status.
int apply_once(const CommonArgs& common, bool dry_run, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  FileApplier applier(common.root, env.clock);
  auto plan = plan_for(common, applier, "apply", *env.out, *env.err);
  if (!plan) return kExitFailure;
  int status = plan->errors.empty() ? kExitOk : kExitFailure;
  std::vector<std::pair<const DesiredFile*, FileState>> changed;
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
    changed.emplace_back(&file, outcome->state);
    if (file.effect == FileEffect::kGrubRegenerate) grub_changed = true;
  }
  report_effects(changed, common.options, dry_run, out);
  if (common.options.grub_nokmem) {
    if (dry_run) {
      if (grub_changed) out << "grub: would regenerate the boot config\n";
    } else if (!regenerate_grub(common, grub_changed, env)) {
      status = kExitFailure;
    }
    report_reboot(common, out);
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
  std::ostream& err = *env.err;
  OptionSpec spec{kMirrorValueOptions,
                  {"--skip-verify", "--logrotate", "--grub-nokmem", "--no-grub-regenerate",
                   "--dry-run", "--help", "-h"}};
  for (const char* v :
       {"--root", "--runtime", "--proc-cmdline", "--every", "--containerd-config"}) {
    spec.with_value.emplace_back(v);
  }
  auto parsed = parse_args(args, 1, spec);
  if (!parsed) {
    err << "regmirror node apply: " << parsed.error().message << " (see --help)\n";
    return kExitUsage;
  }
  if (parsed->has("--help") || parsed->has("-h")) {
    out << kApplyHelp << "\n" << kMirrorOptionsHelp;
    return kExitOk;
  }
  auto common = common_from(*parsed);
  if (!common) {
    err << "regmirror node apply: " << common.error().message << "\n";
    return kExitUsage;
  }
  const bool dry_run = parsed->has("--dry-run");
  std::optional<std::chrono::seconds> every;
  if (auto text = parsed->value("--every")) {
    if (dry_run) {
      err << "regmirror node apply: --every and --dry-run cannot be combined\n";
      return kExitUsage;
    }
    auto interval = parse_interval(*text);
    if (!interval) {
      err << "regmirror node apply: " << interval.error().message << "\n";
      return kExitUsage;
    }
    every = *interval;
  }
  if (!every) return apply_once(*common, dry_run, env);

  // Keep the node in sync: a failed pass (a file someone broke) is reported and retried on
  // the next round instead of ending the agent, which would only restart it in a loop.
  for (;;) {
    out << "node apply: pass at " << now_text(env) << "\n";
    int status = apply_once(*common, false, env);
    if (status != kExitOk)
      out << "node apply: pass failed; retrying in " << every->count() << "s\n";
    out.flush();
    if (env.wait_or_stop(*every)) {
      out << "node apply: stopping\n";
      return kExitOk;
    }
  }
}

int run_check(const std::vector<std::string>& args, const NodeCliEnv& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;
  OptionSpec spec{
      kMirrorValueOptions,
      {"--skip-verify", "--logrotate", "--grub-nokmem", "--no-grub-regenerate", "--help", "-h"}};
  for (const char* v :
       {"--root", "--runtime", "--proc-cmdline", "--kubelet-config", "--containerd-config"}) {
    spec.with_value.emplace_back(v);
  }
  auto parsed = parse_args(args, 1, spec);
  if (!parsed) {
    err << "regmirror node check: " << parsed.error().message << " (see --help)\n";
    return kExitUsage;
  }
  if (parsed->has("--help") || parsed->has("-h")) {
    out << kCheckHelp << "\n" << kMirrorOptionsHelp;
    return kExitOk;
  }
  auto common = common_from(*parsed);
  if (!common) {
    err << "regmirror node check: " << common.error().message << "\n";
    return kExitUsage;
  }
  FileApplier applier(common->root, env.clock);
  auto plan = plan_for(*common, applier, "check", out, err);
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

  // containerd 2.x reads config_path differently from 1.x: say plainly when a node's current
  // config.toml would send its pulls around the mirror, whatever the file-by-file drift says.
  const bool containerd = std::find(plan->runtimes.begin(), plan->runtimes.end(),
                                    Runtime::kContainerd) != plan->runtimes.end();
  if (containerd) {
    auto text = applier.read(common->options.containerd_config);
    if (text && *text) {
      Containerd2Check c2 = check_containerd2_config(**text, common->options.certs_dir);
      for (const std::string& line : c2.bypass) {
        out << "containerd 2.x: bypasses the mirror: " << line << "\n";
        status = kExitFailure;
      }
      for (const std::string& line : c2.notes) out << "containerd: note: " << line << "\n";
    }
  }

  // kubelet rotates container logs on containerd/CRI-O nodes; show what bounds them.
  auto kubelet = applier.read(common->kubelet_config);
  if (kubelet && *kubelet) {
    KubeletLogSettings s = read_kubelet_log_settings(**kubelet);
    out << "kubelet: containerLogMaxSize=" << s.container_log_max_size
        << (s.max_size_from_file ? "" : " (default)")
        << " containerLogMaxFiles=" << s.container_log_max_files
        << (s.max_files_from_file ? "" : " (default)") << " from " << common->kubelet_config
        << "\n";
  } else {
    out << "kubelet: no readable " << common->kubelet_config
        << "; kubelet defaults are containerLogMaxSize=10Mi containerLogMaxFiles=5\n";
  }
  if (common->options.grub_nokmem) {
    std::optional<bool> boot_has = boot_config_has_arg(common->root, kNokmemArg);
    if (boot_has.has_value() && !*boot_has) {
      out << "grub: the boot config (grub.cfg) lacks " << kNokmemArg
          << "; `node apply --grub-nokmem` regenerates it\n";
    }
    report_reboot(*common, out);
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
  if (command == "render") return run_render(args, env);
  if (command == "apply") return run_apply(args, env);
  if (command == "check") return run_check(args, env);
  *env.err << "regmirror node: unknown command '" << command
           << "' (expected render, apply or check; see regmirror node --help)\n";
  return kExitUsage;
}

}  // namespace regmirror::config::node
