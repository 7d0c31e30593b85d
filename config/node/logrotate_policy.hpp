#pragma once
// The logrotate policy for Docker's json-file container logs (/etc/logrotate.d/docker).
// On containerd nodes the kubelet rotates container logs itself; see kubelet_log_settings.hpp.
#include <string>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

struct LogrotatePolicy {
  std::string path_glob = "/var/lib/docker/containers/*/*.log";
  std::string frequency = "daily";  // hourly | daily | weekly | monthly | yearly
  int rotate = 10;
  std::string maxsize = "100M";  // also rotates between runs of the daily timer
  bool compress = true;
  // -%s makes names unique when maxsize rotates a file more than once a day.
  std::string dateformat = "-%Y%m%d-%s";
  std::string create_mode = "0644";
  std::string create_owner = "root";
  std::string create_group = "root";
};

// Checks each value against what logrotate accepts, naming the bad one.
NodeResult<void> validate(const LogrotatePolicy& policy);

// copytruncate because dockerd keeps the log file open and never reopens it.
std::string render_logrotate_policy(const LogrotatePolicy& policy);

}  // namespace regmirror::config::node
