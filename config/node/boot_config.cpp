#include "config/node/boot_config.hpp"

#include <fstream>
#include <sstream>

#include "config/node/grub_defaults.hpp"

namespace regmirror::config::node {
namespace {

bool executable(const std::filesystem::path& p) {
  std::error_code ec;
  auto st = std::filesystem::status(p, ec);
  return !ec && std::filesystem::is_regular_file(st) &&
         (st.permissions() & std::filesystem::perms::owner_exec) != std::filesystem::perms::none;
}

const std::vector<std::filesystem::path>& grub_cfg_candidates() {
  static const std::vector<std::filesystem::path> kCandidates = {"boot/grub2/grub.cfg",
                                                                 "boot/grub/grub.cfg"};
  return kCandidates;
}

}  // namespace

std::optional<GrubTool> find_grub_tool(const std::filesystem::path& root) {
  struct Candidate {
    std::vector<std::string> dirs;
    std::string name;
    std::vector<std::string> args;
  };
  const std::vector<std::string> sbin = {"usr/sbin", "sbin", "usr/bin"};
  const std::vector<Candidate> candidates = {
      {sbin, "update-grub", {}},
      {sbin, "grub2-mkconfig", {"-o", "/boot/grub2/grub.cfg"}},
      {sbin, "grub-mkconfig", {"-o", "/boot/grub/grub.cfg"}},
  };
  const bool host_root = std::filesystem::weakly_canonical(root) == "/";
  for (const Candidate& c : candidates) {
    for (const std::string& dir : c.dirs) {
      if (!executable(root / dir / c.name)) continue;
      GrubTool tool;
      if (!host_root) tool.argv = {"chroot", root.string()};
      tool.argv.push_back("/" + dir + "/" + c.name);
      tool.display = c.name;
      for (const std::string& a : c.args) {
        tool.argv.push_back(a);
        tool.display += " " + a;
      }
      return tool;
    }
  }
  return std::nullopt;
}

std::optional<bool> boot_config_has_arg(const std::filesystem::path& root, std::string_view arg) {
  std::optional<bool> result;
  for (const auto& rel : grub_cfg_candidates()) {
    std::ifstream in(root / rel);
    if (!in) continue;
    bool any_linux_line = false;
    bool all_have = true;
    std::string line;
    while (std::getline(in, line)) {
      std::string_view l = line;
      while (!l.empty() && (l.front() == ' ' || l.front() == '\t')) l.remove_prefix(1);
      if (!l.starts_with("linux ") && !l.starts_with("linux\t") && !l.starts_with("linux16 ") &&
          !l.starts_with("linuxefi ")) {
        continue;
      }
      any_linux_line = true;
      all_have = all_have && cmdline_has_arg(l, arg);
    }
    // BLS systems (RHEL 8+) keep kernel args in /boot/loader/entries and grubenv, not in
    // linux lines; no linux line means the question cannot be answered from grub.cfg.
    if (any_linux_line) result = result.value_or(true) && all_have;
  }
  return result;
}

NodeResult<bool> running_kernel_has_arg(const std::filesystem::path& proc_cmdline,
                                        std::string_view arg) {
  std::ifstream in(proc_cmdline, std::ios::binary);
  if (!in) return node_error("cannot read " + proc_cmdline.string());
  std::ostringstream text;
  text << in.rdbuf();
  return cmdline_has_arg(text.str(), arg);
}

GrubRegeneration plan_grub_regeneration(const std::filesystem::path& root, std::string_view arg,
                                        bool defaults_changed, bool may_run_tool) {
  GrubRegeneration result;
  std::optional<bool> boot_has = boot_config_has_arg(root, arg);
  if (!defaults_changed && boot_has.value_or(true)) return result;
  if (!may_run_tool) {
    result.step = GrubStep::kNotAllowed;
    return result;
  }
  std::optional<GrubTool> tool = find_grub_tool(root);
  if (!tool) {
    result.step = GrubStep::kNoTool;
    return result;
  }
  result.step = GrubStep::kRunTool;
  result.tool = std::move(*tool);
  return result;
}

}  // namespace regmirror::config::node
