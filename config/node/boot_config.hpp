#pragma once
// After /etc/default/grub changes, the boot config (grub.cfg) must be regenerated with the
// node's own tool, and the new kernel command line only takes effect after a reboot. regmirror
// finds the tool and reports; it never reboots.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/node/node_error.hpp"

namespace regmirror::config::node {

struct GrubTool {
  // Full command to run. Under a root other than "/" it is wrapped in `chroot ROOT`, because
  // the tool reads the node's /etc/default/grub, /boot and its own scripts by absolute path.
  std::vector<std::string> argv;
  std::string display;  // the command as an operator would type it on the node
};

// update-grub (Debian/Ubuntu) or grub2-mkconfig -o /boot/grub2/grub.cfg (RHEL family, EFI or
// BIOS since RHEL 9) or grub-mkconfig -o /boot/grub/grub.cfg, whichever exists under root.
std::optional<GrubTool> find_grub_tool(const std::filesystem::path& root);

// Whether the generated boot config under root already passes `arg` on its `linux` lines.
// nullopt when no grub.cfg is visible (for example /boot is not mounted into the agent).
std::optional<bool> boot_config_has_arg(const std::filesystem::path& root, std::string_view arg);

// Whether the running kernel was started with `arg`, from the text of `proc_cmdline` (the
// node's /proc/cmdline); error "cannot read PATH" when the file cannot be read.
NodeResult<bool> running_kernel_has_arg(const std::filesystem::path& proc_cmdline,
                                        std::string_view arg);

// What regenerating grub.cfg takes after an apply pass. Nothing to do when /etc/default/grub
// did not change and the boot config already has `arg` (or cannot be seen).
enum class GrubStep {
  kNone,
  kNotAllowed,  // the caller may not run the node's tool (--no-grub-regenerate)
  kNoTool,      // no grub tool under the root
  kRunTool,     // run `tool`
};
struct GrubRegeneration {
  GrubStep step = GrubStep::kNone;
  GrubTool tool;  // set for kRunTool
};
GrubRegeneration plan_grub_regeneration(const std::filesystem::path& root, std::string_view arg,
                                        bool defaults_changed, bool may_run_tool);

}  // namespace regmirror::config::node
