#pragma once
// Kernel arguments in /etc/default/grub, the shell fragment grub-mkconfig / update-grub source.
// Used to add `cgroup.memory=nokmem` (kernels 3.x/4.x leak dying memory cgroups through kernel
// memory accounting until pods fail with "cannot allocate memory").
#include <string>
#include <string_view>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

inline constexpr std::string_view kNokmemArg = "cgroup.memory=nokmem";

struct GrubDefaultsEdit {
  std::string text;
  bool changed = false;
};

// Adds `arg` to GRUB_CMDLINE_LINUX unless the kernel would already get it (from either
// GRUB_CMDLINE_LINUX or GRUB_CMDLINE_LINUX_DEFAULT, following `$GRUB_CMDLINE_LINUX`
// self-references). Edits the last assignment in place: its quoting style, the other arguments,
// comments and every other line stay as they are, CRLF line ends included. With no assignment a
// `GRUB_CMDLINE_LINUX="arg"` line is appended. Refused when the file cannot be read as shell
// (an unterminated quote), since grub-mkconfig would fail on it too.
NodeResult<GrubDefaultsEdit> add_grub_kernel_arg(std::string_view grub_defaults,
                                                 std::string_view arg);

// Whether a kernel command line (the text of /proc/cmdline, or a `linux` line of grub.cfg)
// already has `arg`. `key=value` args match a comma-separated list too:
// cgroup.memory=nosocket,nokmem has cgroup.memory=nokmem.
bool cmdline_has_arg(std::string_view cmdline, std::string_view arg);

}  // namespace regmirror::config::node
