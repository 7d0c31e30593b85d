#pragma once
// On containerd nodes the kubelet rotates container logs itself (CRI logs, not logrotate);
// `node check` reports its limits so an operator sees what bounds the log disk.
#include <string>
#include <string_view>

namespace regmirror::config::node {

struct KubeletLogSettings {
  std::string container_log_max_size = "10Mi";  // kubelet's default
  int container_log_max_files = 5;              // kubelet's default
  bool max_size_from_file = false;
  bool max_files_from_file = false;
};

// Reads containerLogMaxSize / containerLogMaxFiles from a KubeletConfiguration file (YAML, as
// kubeadm and most distributions write it, or JSON). Only the two top-level keys are needed,
// so this does not pull in a YAML library; absent keys keep the kubelet defaults.
KubeletLogSettings read_kubelet_log_settings(std::string_view config_text);

}  // namespace regmirror::config::node
