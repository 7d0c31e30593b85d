#include "config/node/logrotate_policy.hpp"

#include <regex>

namespace regmirror::config::node {

NodeResult<void> validate(const LogrotatePolicy& policy) {
  static const std::regex kGlob(R"(/[A-Za-z0-9_.*?/\[\]-]+)");
  static const std::regex kFrequency("hourly|daily|weekly|monthly|yearly");
  static const std::regex kSize(R"([1-9][0-9]*[kMG]?)");
  static const std::regex kDateformat(R"([A-Za-z0-9_%.-]+)");
  static const std::regex kMode("0?[0-7]{3}");
  static const std::regex kName("[a-z_][a-z0-9_-]{0,31}");
  if (!std::regex_match(policy.path_glob, kGlob)) {
    return node_error("logrotate path '" + policy.path_glob +
                      "' must be an absolute path or glob without spaces");
  }
  if (!std::regex_match(policy.frequency, kFrequency)) {
    return node_error("logrotate frequency '" + policy.frequency +
                      "' must be hourly, daily, weekly, monthly or yearly");
  }
  if (policy.rotate < 0 || policy.rotate > 10000) {
    return node_error("logrotate rotate count " + std::to_string(policy.rotate) +
                      " must be between 0 and 10000");
  }
  if (!std::regex_match(policy.maxsize, kSize)) {
    return node_error("logrotate maxsize '" + policy.maxsize +
                      "' must be a number with an optional k, M or G suffix");
  }
  if (!std::regex_match(policy.dateformat, kDateformat) ||
      policy.dateformat.find('%') == std::string::npos) {
    return node_error("logrotate dateformat '" + policy.dateformat +
                      "' must be %-specifiers and [A-Za-z0-9_.-] only");
  }
  if (!std::regex_match(policy.create_mode, kMode)) {
    return node_error("logrotate create mode '" + policy.create_mode +
                      "' must be octal, e.g. 0644");
  }
  if (!std::regex_match(policy.create_owner, kName) ||
      !std::regex_match(policy.create_group, kName)) {
    return node_error("logrotate create owner/group '" + policy.create_owner + " " +
                      policy.create_group + "' must be user and group names");
  }
  return {};
}

std::string render_logrotate_policy(const LogrotatePolicy& policy) {
  std::string out;
  out += "# Written by `regmirror node`; local edits are replaced.\n";
  out += "# Docker json-file container logs. copytruncate: dockerd never reopens its log files.\n";
  out += policy.path_glob + " {\n";
  out += "    " + policy.frequency + "\n";
  out += "    rotate " + std::to_string(policy.rotate) + "\n";
  out += "    maxsize " + policy.maxsize + "\n";
  out += "    missingok\n";
  out += "    notifempty\n";
  if (policy.compress) out += "    compress\n";
  out += "    copytruncate\n";
  out += "    dateext\n";
  out += "    dateformat " + policy.dateformat + "\n";
  out += "    create " + policy.create_mode + " " + policy.create_owner + " " +
         policy.create_group + "\n";
  out += "}\n";
  return out;
}

}  // namespace regmirror::config::node
