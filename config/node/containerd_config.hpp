#pragma once
// Turning on containerd's `config_path` (the certs.d directory with hosts.toml files).
//
// containerd 1.x merges `imports` by replacing whole plugin sections, so a drop-in holding only
// `[plugins."io.containerd.grpc.v1.cri".registry]` would reset every other CRI setting (sandbox
// image, cgroup driver, runtimes). `node apply` therefore edits config.toml itself, line by
// line, touching only the `config_path` key; the fragments below are what the edit amounts to,
// for people who manage config.toml with other tools.
#include <string>
#include <string_view>
#include <vector>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

enum class ContainerdConfigVersion {
  kV2,  // containerd 1.6 / 1.7 (and 2.x, which migrates version 2 files on load)
  kV3,  // containerd 2.x
};

// The table that holds `config_path` in a config of that version.
std::string_view containerd_registry_table(ContainerdConfigVersion version);

// A complete minimal config.toml section: version line + registry table + config_path.
std::string render_containerd_fragment(ContainerdConfigVersion version, std::string_view certs_dir);

struct ContainerdConfigEdit {
  std::string text;
  bool changed = false;
  ContainerdConfigVersion version = ContainerdConfigVersion::kV2;
  // Version 3 only: the other hosts directories config_path named, now or before an earlier
  // apply (recorded in its comment line), in order. containerd 2.1+ reads config_path as one
  // directory, so their registries' entries must be copied into certs_dir (node_plan does).
  std::vector<std::string> merged_dirs;
};

// Makes `certs_dir` (a node path such as /etc/containerd/certs.d) part of config_path in an
// existing config.toml (empty text = no file yet: a version 2 fragment, which both containerd
// 1.6+ and 2.x load). Refused, with the reason, when the file is version 1 or still configures
// `registry.mirrors` / `registry.configs.*.tls`, which containerd rejects together with
// config_path (it would not start).
//  - version 2 (containerd 1.6/1.7, whose CRI plugin splits config_path on ':'): certs_dir
//    becomes the first entry and other entries stay after it.
//  - version 3 (containerd 2.x): config_path becomes certs_dir alone, because 2.1+'s transfer
//    service (the default pull path on Linux) does not split it: "a:b" is looked up as one
//    directory that does not exist, and every pull goes straight to the registry. The other
//    directories go to `merged_dirs`, and a comment line above config_path names them.
NodeResult<ContainerdConfigEdit> enable_config_path(std::string_view config_text,
                                                    std::string_view certs_dir);

struct Containerd2Check {
  std::vector<std::string> bypass;  // why a containerd 2.x node would pull without the mirror
  std::vector<std::string> notes;   // risks that depend on the containerd version
};

// Reads config.toml as containerd 2.x would. For a version 3 file, `bypass` says why pulls
// would not reach the hosts.toml files in certs_dir (no config_path, a ':' list, another
// directory, a 1.x table that 2.x ignores); empty when they do. A version 2 file whose
// config_path is a ':' list gets a note: fine on containerd 1.x, but containerd 2.1+ also loads
// version 2 files (migrated in memory) and then pulls through the transfer service.
Containerd2Check check_containerd2_config(std::string_view config_text, std::string_view certs_dir);

}  // namespace regmirror::config::node
