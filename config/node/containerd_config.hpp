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
};

// Makes `certs_dir` (a node path such as /etc/containerd/certs.d) the first entry of
// config_path in an existing config.toml (empty text = no file yet: a version 2 fragment, which
// both containerd 1.6+ and 2.x load). Refused, with the reason, when the file is version 1 or
// still configures `registry.mirrors` / `registry.configs.*.tls`, which containerd rejects
// together with config_path (it would not start).
NodeResult<ContainerdConfigEdit> enable_config_path(std::string_view config_text,
                                                    std::string_view certs_dir);

}  // namespace regmirror::config::node
