#include "config/node/node_plan.hpp"

#include <algorithm>

#include "config/node/containerd_config.hpp"
#include "config/node/docker_daemon_json.hpp"
#include "config/node/grub_defaults.hpp"
#include "config/node/hosts_toml.hpp"
#include "config/node/registries_conf.hpp"

namespace regmirror::config::node {
namespace {

bool non_empty_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) &&
         std::filesystem::directory_iterator(dir, ec) != std::filesystem::directory_iterator();
}

std::string parent_dir(const std::string& node_path) {
  return std::filesystem::path(node_path).parent_path().string();
}

std::vector<std::filesystem::directory_entry> sorted_entries(const std::filesystem::path& dir) {
  std::vector<std::filesystem::directory_entry> entries;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(*it);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.path().filename() < b.path().filename(); });
  return entries;
}

// containerd 2.1+ reads config_path as one directory, so once it is certs_dir alone the
// registries of `vendor_dir` (another directory config_path named) are copied into certs_dir:
// every regular file of each registry directory, because hosts.toml may name certificates
// relative to its own directory. Copies, not links: FileApplier never writes through symlinks,
// and every apply pass refreshes a copy whose original changed.
void copy_vendor_hosts(const std::string& vendor_dir, const NodeOptions& options,
                       const FileApplier& applier, NodePlan& plan) {
  std::error_code ec;
  if (!std::filesystem::is_directory(applier.host_path(vendor_dir), ec)) {
    plan.notes.push_back("containerd: config_path also named " + vendor_dir +
                         ", which does not exist; nothing to copy from it");
    return;
  }
  std::string copied;
  std::string shadowed;
  for (const auto& registry_dir : sorted_entries(applier.host_path(vendor_dir))) {
    if (!registry_dir.is_directory(ec)) continue;
    const std::string name = registry_dir.path().filename().string();
    const bool ours = std::any_of(options.registries.begin(), options.registries.end(),
                                  [&](const RegistryHost& r) { return r.name == name; });
    if (ours) {
      shadowed += (shadowed.empty() ? "" : ", ") + name;
      continue;
    }
    bool any = false;
    for (const auto& file : sorted_entries(registry_dir.path())) {
      if (!file.is_regular_file(ec)) continue;
      const std::string filename = file.path().filename().string();
      const std::string from = vendor_dir + "/" + name + "/" + filename;
      auto text = applier.read(from);
      if (!text || !*text) {
        plan.errors.push_back({from, text ? node_error("vanished while copying") : text.error()});
        continue;
      }
      std::string content = **text;
      if (filename == "hosts.toml") {
        content = "# Copied by `regmirror node` from " + from +
                  "\n# (containerd 2.1+ reads one config_path directory). Edit the original: the "
                  "next apply copies it again.\n" +
                  content;
      }
      DesiredFile copy{options.certs_dir + "/" + name + "/" + filename, std::move(content)};
      copy.mode = file.status(ec).permissions() & std::filesystem::perms::all;
      plan.files.push_back(std::move(copy));
      any = true;
    }
    if (any) copied += (copied.empty() ? "" : ", ") + name;
  }
  std::string note = "containerd: config_path also named " + vendor_dir +
                     "; containerd 2.1+ reads one directory, so ";
  note += copied.empty() ? "no entry of it needed copying"
                         : "its entries " + copied + " are copied into " + options.certs_dir;
  if (!shadowed.empty()) note += "; its " + shadowed + " entries are replaced by regmirror's";
  plan.notes.push_back(std::move(note));
}

}  // namespace

std::string_view runtime_name(Runtime runtime) {
  switch (runtime) {
    case Runtime::kContainerd:
      return "containerd";
    case Runtime::kDocker:
      return "docker";
    case Runtime::kCrio:
      return "crio";
  }
  return "?";
}

NodeResult<std::vector<Runtime>> parse_runtimes(std::string_view list) {
  std::vector<Runtime> runtimes;
  size_t start = 0;
  for (;;) {
    size_t comma = list.find(',', start);
    std::string_view name = list.substr(start, comma - start);
    Runtime r;
    if (name == "containerd") {
      r = Runtime::kContainerd;
    } else if (name == "docker") {
      r = Runtime::kDocker;
    } else if (name == "crio" || name == "cri-o" || name == "podman") {
      r = Runtime::kCrio;
    } else {
      return node_error("unknown runtime '" + std::string(name) +
                        "' (expected containerd, docker or crio)");
    }
    if (std::find(runtimes.begin(), runtimes.end(), r) == runtimes.end()) runtimes.push_back(r);
    if (comma == std::string_view::npos) return runtimes;
    start = comma + 1;
  }
}

std::vector<Runtime> detect_runtimes(const FileApplier& applier, const NodeOptions& options) {
  std::vector<Runtime> found;
  if (non_empty_dir(applier.host_path(parent_dir(options.containerd_config)))) {
    found.push_back(Runtime::kContainerd);
  }
  if (non_empty_dir(applier.host_path(parent_dir(options.docker_daemon_json)))) {
    found.push_back(Runtime::kDocker);
  }
  if (non_empty_dir(applier.host_path(parent_dir(options.registries_conf_dir)))) {
    found.push_back(Runtime::kCrio);
  }
  return found;
}

NodePlan build_node_plan(const NodeOptions& options, const FileApplier& applier) {
  NodePlan plan;
  auto fail = [&](const std::string& path, NodeError e) {
    plan.errors.push_back({path, std::move(e)});
  };
  // Reads a file that the plan edits; nullopt after recording an error.
  auto current = [&](const std::string& path) -> std::optional<std::string> {
    auto text = applier.read(path);
    if (!text) {
      fail(path, text.error());
      return std::nullopt;
    }
    return text->value_or("");
  };

  if (options.mirror) {
    plan.runtimes = options.runtimes.empty() ? detect_runtimes(applier, options) : options.runtimes;
    const MirrorEndpoint& mirror = *options.mirror;
    for (Runtime runtime : plan.runtimes) {
      switch (runtime) {
        case Runtime::kContainerd: {
          // config.toml first: its version says whether this is containerd 2.x.
          std::optional<ContainerdConfigEdit> edit;
          if (auto text = current(options.containerd_config)) {
            auto edited = enable_config_path(*text, options.certs_dir);
            if (edited) {
              edit = std::move(*edited);
            } else {
              fail(options.containerd_config, edited.error());
            }
          }
          const bool v3 = edit && edit->version == ContainerdConfigVersion::kV3;
          HostsTomlOptions hosts_options;
          if (v3) hosts_options.dial_timeout = std::string(kMirrorDialTimeout);
          for (const RegistryHost& registry : options.registries) {
            plan.files.push_back({options.certs_dir + "/" + hosts_toml_relative_path(registry),
                                  render_hosts_toml(registry, mirror, hosts_options)});
          }
          if (!edit) break;
          for (const std::string& vendor_dir : edit->merged_dirs) {
            copy_vendor_hosts(vendor_dir, options, applier, plan);
          }
          DesiredFile file{options.containerd_config, std::move(edit->text)};
          file.effect = FileEffect::kContainerdRestart;
          plan.files.push_back(std::move(file));
          break;
        }
        case Runtime::kDocker: {
          auto text = current(options.docker_daemon_json);
          if (!text) break;
          auto merged = merge_docker_daemon_json(*text, mirror);
          if (!merged) {
            fail(options.docker_daemon_json, merged.error());
            break;
          }
          DesiredFile file{options.docker_daemon_json, std::move(*merged)};
          file.effect = FileEffect::kDockerReload;
          plan.files.push_back(std::move(file));
          break;
        }
        case Runtime::kCrio: {
          DesiredFile file{options.registries_conf_dir + "/" + std::string(kRegistriesConfDropIn),
                           render_registries_conf(options.registries, mirror)};
          file.effect = FileEffect::kCrioReload;
          plan.files.push_back(std::move(file));
          break;
        }
      }
    }
  }

  if (options.logrotate) {
    if (auto valid = validate(options.logrotate_policy); !valid) {
      fail(options.logrotate_file, valid.error());
    } else {
      plan.files.push_back(
          {options.logrotate_file, render_logrotate_policy(options.logrotate_policy)});
    }
  }

  if (options.grub_nokmem) {
    auto text = applier.read(options.grub_defaults);
    if (!text) {
      fail(options.grub_defaults, text.error());
    } else if (!*text) {
      fail(options.grub_defaults,
           node_error("not found under the root: the node does not boot with GRUB, or the file "
                      "is not mounted into the agent"));
    } else if (auto edit = add_grub_kernel_arg(**text, kNokmemArg); !edit) {
      fail(options.grub_defaults, edit.error());
    } else {
      DesiredFile file{options.grub_defaults, std::move(edit->text)};
      file.effect = FileEffect::kGrubRegenerate;
      plan.files.push_back(std::move(file));
    }
  }
  return plan;
}

NodeResult<std::vector<DesiredFile>> render_node_bundle(const NodeOptions& options,
                                                        const MirrorEndpoint& mirror,
                                                        std::string_view daemon_json_base) {
  auto daemon_json = merge_docker_daemon_json(daemon_json_base, mirror);
  if (!daemon_json) return daemon_json.error();
  std::vector<DesiredFile> files;
  for (const RegistryHost& registry : options.registries) {
    files.push_back({options.certs_dir + "/" + hosts_toml_relative_path(registry),
                     render_hosts_toml(registry, mirror)});
  }
  files.push_back({"/containerd-config-path-v2.toml",
                   render_containerd_fragment(ContainerdConfigVersion::kV2, options.certs_dir)});
  files.push_back({"/containerd-config-path-v3.toml",
                   render_containerd_fragment(ContainerdConfigVersion::kV3, options.certs_dir)});
  files.push_back({options.docker_daemon_json, std::move(*daemon_json)});
  files.push_back({options.registries_conf_dir + "/" + std::string(kRegistriesConfDropIn),
                   render_registries_conf(options.registries, mirror)});
  files.push_back({options.logrotate_file, render_logrotate_policy(options.logrotate_policy)});
  return files;
}

ChangeEffects change_effects(const std::vector<const DesiredFile*>& changed,
                             const NodeOptions& options) {
  ChangeEffects result;
  for (const DesiredFile* file : changed) {
    if (file->node_path.starts_with(options.certs_dir + "/")) result.hosts_changed = true;
    if (std::find(result.effects.begin(), result.effects.end(), file->effect) ==
        result.effects.end()) {
      result.effects.push_back(file->effect);
    }
  }
  return result;
}

}  // namespace regmirror::config::node
