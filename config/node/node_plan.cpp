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
          for (const RegistryHost& registry : options.registries) {
            plan.files.push_back({options.certs_dir + "/" + hosts_toml_relative_path(registry),
                                  render_hosts_toml(registry, mirror)});
          }
          auto text = current(options.containerd_config);
          if (!text) break;
          auto edit = enable_config_path(*text, options.certs_dir);
          if (!edit) {
            fail(options.containerd_config, edit.error());
            break;
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

}  // namespace regmirror::config::node
