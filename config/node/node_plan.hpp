#pragma once
// What `regmirror node apply|check` wants on one node: every file with its desired content,
// computed from the options and the node's current files (daemon.json, config.toml and
// /etc/default/grub are edits of what is there, the others are whole files).
#include <optional>
#include <string>
#include <vector>

#include "config/node/file_applier.hpp"
#include "config/node/logrotate_policy.hpp"
#include "config/node/mirror_endpoint.hpp"

namespace regmirror::config::node {

enum class Runtime { kContainerd, kDocker, kCrio };

std::string_view runtime_name(Runtime runtime);
NodeResult<std::vector<Runtime>> parse_runtimes(std::string_view list);  // "containerd,docker"

struct NodeOptions {
  std::optional<MirrorEndpoint> mirror;  // no mirror: only logrotate / grub are managed
  std::vector<RegistryHost> registries = default_registry_hosts();
  std::vector<Runtime> runtimes;  // empty: detect_runtimes()
  bool logrotate = false;
  LogrotatePolicy logrotate_policy;
  bool grub_nokmem = false;

  // Node paths; the defaults are where the runtimes look.
  std::string certs_dir = "/etc/containerd/certs.d";
  std::string containerd_config = "/etc/containerd/config.toml";
  std::string docker_daemon_json = "/etc/docker/daemon.json";
  std::string registries_conf_dir = "/etc/containers/registries.conf.d";
  std::string logrotate_file = "/etc/logrotate.d/docker";
  std::string grub_defaults = "/etc/default/grub";
};

// Runtimes whose configuration directory exists and is not empty under the root (a hostPath
// mount creates missing directories empty, so mere existence proves nothing).
std::vector<Runtime> detect_runtimes(const FileApplier& applier, const NodeOptions& options);

struct PlanError {
  std::string node_path;
  NodeError error;
};

struct NodePlan {
  std::vector<Runtime> runtimes;
  std::vector<DesiredFile> files;
  std::vector<PlanError> errors;  // files that cannot be managed; the others still are
  // What the plan decided that an operator must hear about (one log line each), e.g. which
  // entries of a vendor's hosts directory were copied into ours for containerd 2.x.
  std::vector<std::string> notes;
};

// Errors for one file (invalid daemon.json, a config.toml containerd would reject together
// with config_path) leave that file alone and do not stop the others.
// containerd with a version 3 config.toml (2.x): hosts.toml files carry dial_timeout, and the
// registry entries of any other directory config_path named are copied into certs_dir (files
// as they are, hosts.toml with a comment naming its origin), except registries regmirror
// manages itself, whose vendor entry is shadowed; both are reported in `notes`.
NodePlan build_node_plan(const NodeOptions& options, const FileApplier& applier);

// What `node render` writes for `mirror`, node paths relative to the output directory: every
// hosts.toml under certs_dir, the containerd config.toml section for 1.6/1.7 and for 2.x,
// daemon.json (`daemon_json_base` with the mirror merged in; empty: a new one), the
// registries.conf drop-in and the logrotate policy. Error when daemon_json_base is not valid
// JSON; nothing is rendered then.
NodeResult<std::vector<DesiredFile>> render_node_bundle(const NodeOptions& options,
                                                        const MirrorEndpoint& mirror,
                                                        std::string_view daemon_json_base);

// What the files a pass changed ask of the services that read them; regmirror only reports it.
struct ChangeEffects {
  bool hosts_changed = false;       // a hosts.toml under certs_dir: read on the next pull
  std::vector<FileEffect> effects;  // each once, in the order the files came
};
ChangeEffects change_effects(const std::vector<const DesiredFile*>& changed,
                             const NodeOptions& options);

}  // namespace regmirror::config::node
