// The node CLI (proxy/app/node_command) is tested here, with the node library's golden files.
#include "proxy/app/node_command.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using app::NodeCliEnv;
using app::parse_interval;
using app::run_node_cli;
using testing::matches_golden;
using testing::slurp;
using testing::spit;
using testing::TempDir;

struct CliRun {
  int status;
  std::string out;
  std::string err;
};

class NodeCli : public ::testing::Test {
 protected:
  CliRun run(std::vector<std::string> args) {
    std::ostringstream out;
    std::ostringstream err;
    NodeCliEnv env;
    env.out = &out;
    env.err = &err;
    env.run = [this](const std::vector<std::string>& argv) -> NodeResult<int> {
      commands_.push_back(argv);
      return command_status_;
    };
    env.wait_or_stop = [this](std::chrono::seconds interval) {
      waits_.push_back(interval);
      return waits_.size() >= passes_before_stop_;
    };
    env.clock = [this] { return now_ += std::chrono::seconds(1); };
    int status = run_node_cli(args, env);
    return {status, out.str(), err.str()};
  }

  // A node root with containerd's Debian config, docker's daemon.json and a grub defaults file.
  void make_node() {
    spit(root_.path() / "etc/containerd/config.toml",
         testing::read_golden("containerd/debian-1.6.in.toml"));
    spit(root_.path() / "etc/docker/daemon.json", testing::read_golden("docker/daemon.in.json"));
    spit(root_.path() / "etc/default/grub", testing::read_golden("grub/debian.in"));
    spit(proc_cmdline(), "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n");
  }

  std::string root() const { return root_.path().string(); }
  std::string proc_cmdline() const { return (scratch_.path() / "cmdline").string(); }
  std::vector<std::string> apply_args() const {
    return {"apply",
            "--root",
            root(),
            "--mirror",
            "http://10.0.0.5:30500",
            "--runtime",
            "containerd,docker",
            "--logrotate",
            "--grub-nokmem",
            "--proc-cmdline",
            proc_cmdline()};
  }
  std::vector<std::string> check_args() const {
    auto args = apply_args();
    args[0] = "check";
    return args;
  }

  TempDir root_;
  TempDir scratch_;
  std::vector<std::vector<std::string>> commands_;
  int command_status_ = 0;
  std::vector<std::chrono::seconds> waits_;
  size_t passes_before_stop_ = 1;
  std::chrono::system_clock::time_point now_ =
      std::chrono::sys_days{std::chrono::year{2025} / 3 / 4};
};

TEST_F(NodeCli, RenderWritesEveryFileAndEachMatchesGolden) {
  TempDir out;
  auto r = run({"render", "--mirror", "http://10.0.0.5:30500", "--out", out.path().string()});
  ASSERT_EQ(r.status, 0) << r.err;
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out.path())) {
    if (!e.is_regular_file()) continue;
    ++files;
    const std::string rel = e.path().lexically_relative(out.path()).generic_string();
    EXPECT_TRUE(matches_golden("render/" + rel, slurp(e.path()))) << rel;
  }
  EXPECT_EQ(files, 7u + 5u);  // 7 hosts.toml + 2 fragments, daemon.json, registries, logrotate
  EXPECT_TRUE(std::filesystem::exists(out.path() / "etc/containerd/certs.d/k8s.gcr.io/hosts.toml"));
}

TEST_F(NodeCli, RenderMergesAnExistingDaemonJsonAndRefusesAnInvalidOne) {
  TempDir out;
  spit(scratch_.path() / "daemon.json", "{\"debug\": true}");
  auto ok = run({"render", "--mirror", "http://m:5000", "--out", out.path().string(),
                 "--daemon-json", (scratch_.path() / "daemon.json").string()});
  ASSERT_EQ(ok.status, 0) << ok.err;
  auto doc = nlohmann::json::parse(slurp(out.path() / "etc/docker/daemon.json"));
  EXPECT_EQ(doc["debug"], true);
  EXPECT_EQ(doc["registry-mirrors"][0], "http://m:5000");

  spit(scratch_.path() / "daemon.json", "{\"debug\": true,,}");
  auto bad = run({"render", "--mirror", "http://m:5000", "--out", out.path().string(),
                  "--daemon-json", (scratch_.path() / "daemon.json").string()});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("not valid JSON"), std::string::npos) << bad.err;
}

TEST_F(NodeCli, ApplyTwiceSecondRunChangesNothingAndSaysSo) {
  make_node();
  auto first = run(apply_args());
  ASSERT_EQ(first.status, 0) << first.err << first.out;
  EXPECT_NE(first.out.find("created   /etc/containerd/certs.d/docker.io/hosts.toml"),
            std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("updated   /etc/containerd/config.toml"), std::string::npos);
  EXPECT_NE(first.out.find("restart needed to load config_path"), std::string::npos);
  EXPECT_NE(first.out.find("hosts.toml changed; no restart needed"), std::string::npos);
  EXPECT_NE(first.out.find("docker: /etc/docker/daemon.json changed; reload needed"),
            std::string::npos);
  EXPECT_NE(first.out.find("grub: no grub tool found"), std::string::npos);
  EXPECT_NE(first.out.find("grub: reboot needed"), std::string::npos);
  EXPECT_TRUE(commands_.empty());

  // What landed on the node.
  EXPECT_NE(slurp(root_.path() / "etc/containerd/config.toml")
                .find("config_path = \"/etc/containerd/certs.d\""),
            std::string::npos);
  auto daemon = nlohmann::json::parse(slurp(root_.path() / "etc/docker/daemon.json"));
  EXPECT_EQ(daemon["log-driver"], "json-file");
  EXPECT_EQ(daemon["registry-mirrors"][0], "http://10.0.0.5:30500");
  EXPECT_NE(slurp(root_.path() / "etc/default/grub").find("net.ifnames=0 cgroup.memory=nokmem\""),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(root_.path() / "etc/logrotate.d/docker"));

  auto second = run(apply_args());
  ASSERT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.out.find("node apply: no changes, 11 files already up to date"),
            std::string::npos)
      << second.out;
  EXPECT_EQ(second.out.find("created"), std::string::npos);
  EXPECT_EQ(second.out.find("updated"), std::string::npos);
  EXPECT_EQ(second.out.find("restart needed"), std::string::npos);

  auto check = run(check_args());
  EXPECT_EQ(check.status, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("node check: 11 files up to date"), std::string::npos) << check.out;
}

TEST_F(NodeCli, CheckDetectsADriftedFileAndApplyRestoresIt) {
  make_node();
  ASSERT_EQ(run(apply_args()).status, 0);
  const auto hosts = root_.path() / "etc/containerd/certs.d/quay.io/hosts.toml";
  const std::string good = slurp(hosts);
  spit(hosts, "server = \"https://quay.io\"\n");  // someone removed the mirror
  std::filesystem::remove(root_.path() / "etc/logrotate.d/docker");

  auto check = run(check_args());
  EXPECT_EQ(check.status, 1);
  EXPECT_NE(check.out.find("differs /etc/containerd/certs.d/quay.io/hosts.toml"), std::string::npos)
      << check.out;
  EXPECT_NE(check.out.find("+[host.\"http://10.0.0.5:30500\"]"), std::string::npos);
  EXPECT_NE(check.out.find("missing /etc/logrotate.d/docker"), std::string::npos);
  EXPECT_NE(check.out.find("node check: 2 of 11 files differ"), std::string::npos);
  EXPECT_EQ(slurp(hosts), "server = \"https://quay.io\"\n");  // check writes nothing

  auto restore = run(apply_args());
  ASSERT_EQ(restore.status, 0) << restore.err;
  EXPECT_NE(restore.out.find("updated   /etc/containerd/certs.d/quay.io/hosts.toml"),
            std::string::npos);
  EXPECT_NE(restore.out.find("containerd: hosts.toml changed; no restart needed"),
            std::string::npos);
  EXPECT_EQ(restore.out.find("restart needed to load config_path"), std::string::npos);
  EXPECT_EQ(slurp(hosts), good);
  EXPECT_EQ(run(check_args()).status, 0);
}

TEST_F(NodeCli, CheckReportsAContainerd2NodeThatWouldBypassTheMirrorAndApplyFixesIt) {
  spit(root_.path() / "etc/containerd/config.toml",
       testing::read_golden("versions/2.1/config.in.toml"));
  spit(root_.path() / "etc/vendor/certs.d/registry.internal:5000/hosts.toml",
       "server = \"https://registry.internal:5000\"\n");
  const std::vector<std::string> check{
      "check", "--root", root(), "--mirror", "http://10.0.0.5:30500", "--runtime", "containerd"};
  auto before = run(check);
  EXPECT_EQ(before.status, 1);
  EXPECT_NE(before.out.find("containerd 2.x: bypasses the mirror: config_path "
                            "\"/etc/containerd/certs.d:/etc/vendor/certs.d\" is a ':' list"),
            std::string::npos)
      << before.out;

  std::vector<std::string> apply = check;
  apply[0] = "apply";
  auto applied = run(apply);
  ASSERT_EQ(applied.status, 0) << applied.err;
  // One log line says which vendor entries were copied.
  EXPECT_NE(applied.out.find("containerd: config_path also named /etc/vendor/certs.d; containerd "
                             "2.1+ reads one directory, so its entries registry.internal:5000 "
                             "are copied into /etc/containerd/certs.d"),
            std::string::npos)
      << applied.out;
  EXPECT_NE(slurp(root_.path() / "etc/containerd/certs.d/registry.internal:5000/hosts.toml")
                .find("server = \"https://registry.internal:5000\""),
            std::string::npos);

  auto after = run(check);
  EXPECT_EQ(after.status, 0) << after.out << after.err;
  EXPECT_EQ(after.out.find("bypasses the mirror"), std::string::npos) << after.out;
}

TEST_F(NodeCli, DryRunPrintsADiffAndWritesNothing) {
  make_node();
  const std::string before = slurp(root_.path() / "etc/containerd/config.toml");
  auto args = apply_args();
  args.push_back("--dry-run");
  auto r = run(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("would update /etc/containerd/config.toml"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+[plugins.\"io.containerd.grpc.v1.cri\".registry]"), std::string::npos);
  EXPECT_NE(r.out.find("would create /etc/containerd/certs.d/docker.io/hosts.toml"),
            std::string::npos);
  EXPECT_NE(r.out.find("grub: would regenerate"), std::string::npos);
  EXPECT_EQ(slurp(root_.path() / "etc/containerd/config.toml"), before);
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "etc/containerd/certs.d"));
}

TEST_F(NodeCli, InvalidDaemonJsonIsReportedLeftAloneAndOtherFilesStillApplied) {
  make_node();
  spit(root_.path() / "etc/docker/daemon.json", "{\"log-driver\": \"json-file\"");
  auto r = run(apply_args());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/etc/docker/daemon.json: daemon.json is not valid JSON"), std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(root_.path() / "etc/docker/daemon.json"), "{\"log-driver\": \"json-file\"");
  EXPECT_TRUE(std::filesystem::exists(root_.path() / "etc/containerd/certs.d/gcr.io/hosts.toml"));
}

TEST_F(NodeCli, GrubToolIsRunWhenFoundAndRebootIsNotNeededWhenCmdlineHasTheArg) {
  make_node();
  spit(root_.path() / "usr/sbin/update-grub", "#!/bin/sh\n");
  std::filesystem::permissions(root_.path() / "usr/sbin/update-grub",
                               std::filesystem::perms::owner_all);
  spit(proc_cmdline(), "BOOT_IMAGE=/vmlinuz ro cgroup.memory=nokmem\n");
  auto r = run({"apply", "--root", root(), "--grub-nokmem", "--proc-cmdline", proc_cmdline()});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  ASSERT_EQ(commands_.size(), 1u);
  EXPECT_EQ(commands_[0], (std::vector<std::string>{"chroot", root(), "/usr/sbin/update-grub"}));
  EXPECT_NE(r.out.find("no reboot needed"), std::string::npos) << r.out;

  // The tool failing is a failure of the command.
  spit(root_.path() / "etc/default/grub", "GRUB_TIMEOUT=5\n");
  command_status_ = 3;
  auto failed = run({"apply", "--root", root(), "--grub-nokmem", "--proc-cmdline", proc_cmdline()});
  EXPECT_EQ(failed.status, 1);
  EXPECT_NE(failed.err.find("update-grub exited with status 3"), std::string::npos) << failed.err;

  // --no-grub-regenerate edits the file only.
  commands_.clear();
  spit(root_.path() / "etc/default/grub", "GRUB_TIMEOUT=5\n");
  auto skipped = run({"apply", "--root", root(), "--grub-nokmem", "--no-grub-regenerate",
                      "--proc-cmdline", proc_cmdline()});
  EXPECT_EQ(skipped.status, 0);
  EXPECT_TRUE(commands_.empty());
  EXPECT_NE(skipped.out.find("--no-grub-regenerate"), std::string::npos);
}

TEST_F(NodeCli, GrubWithoutDefaultsFileIsAnError) {
  auto r = run({"apply", "--root", root(), "--grub-nokmem", "--proc-cmdline", proc_cmdline()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/etc/default/grub: not found"), std::string::npos) << r.err;
}

TEST_F(NodeCli, EveryLoopsUntilStoppedAndKeepsTheNodeInSync) {
  make_node();
  passes_before_stop_ = 3;
  auto args = apply_args();
  args.insert(args.end(), {"--every", "10m"});
  auto r = run(args);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(waits_, (std::vector<std::chrono::seconds>(3, std::chrono::seconds(600))));
  EXPECT_NE(r.out.find("node apply: no changes"), std::string::npos);
  EXPECT_NE(r.out.find("node apply: stopping"), std::string::npos);
}

TEST_F(NodeCli, RuntimesAreDetectedFromNonEmptyConfigDirectories) {
  spit(root_.path() / "etc/containerd/config.toml", "version = 2\n");
  std::filesystem::create_directories(root_.path() / "etc/docker");  // empty: not docker
  auto r = run({"apply", "--root", root(), "--mirror", "http://m:5000"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(root_.path() / "etc/containerd/certs.d/quay.io/hosts.toml"));
  EXPECT_FALSE(std::filesystem::exists(root_.path() / "etc/docker/daemon.json"));

  TempDir bare;
  auto none = run({"apply", "--root", bare.path().string(), "--mirror", "http://m:5000"});
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("pass --runtime"), std::string::npos);
}

TEST_F(NodeCli, CrioDropInIsWritten) {
  auto r = run({"apply", "--root", root(), "--mirror", "http://m:5000", "--runtime", "crio"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(slurp(root_.path() / "etc/containers/registries.conf.d/50-regmirror.conf")
                .find("location = \"m:5000/docker.io\""),
            std::string::npos);
  EXPECT_NE(r.out.find("reload CRI-O"), std::string::npos);
}

TEST_F(NodeCli, CheckReportsKubeletLogLimits) {
  spit(root_.path() / "var/lib/kubelet/config.yaml",
       "kind: KubeletConfiguration\ncontainerLogMaxSize: 20Mi\n");
  auto r = run({"check", "--root", root(), "--logrotate"});
  EXPECT_EQ(r.status, 1);  // the logrotate file is missing
  EXPECT_NE(r.out.find("kubelet: containerLogMaxSize=20Mi containerLogMaxFiles=5 (default)"),
            std::string::npos)
      << r.out;
}

TEST_F(NodeCli, BadCommandLinesFailWithOneLineAndStatusTwo) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"apply"},
      {"apply", "--root", root()},
      {"apply", "--root", root(), "--mirror", "10.0.0.5:5000"},
      {"apply", "--root", root(), "--mirror", "http://m", "--every", "10"},
      {"apply", "--root", root(), "--mirror", "http://m", "--every", "10m", "--dry-run"},
      {"apply", "--root", root(), "--mirror", "http://m", "--bogus"},
      {"apply", "--root", root(), "--mirror", "http://m", "--skip-verify"},
      {"apply", "--root", root(), "--logrotate", "--logrotate-rotate", "ten"},
      {"apply", "--root", "/nonexistent/dir", "--logrotate"},
      {"render", "--mirror", "http://m"},
      {"check", "--root"},
  };
  for (const auto& args : bad) {
    auto r = run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.status, 2) << joined;
    EXPECT_FALSE(r.err.empty()) << joined;
    if (!args.empty()) {
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << joined << r.err;
    }
  }
}

TEST_F(NodeCli, EveryCommandHasHelp) {
  for (const char* command : {"render", "apply", "check"}) {
    auto r = run({command, "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find(std::string("usage: regmirror node ") + command), std::string::npos);
  }
  auto r = run({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("render"), std::string::npos);
}

TEST(ParseInterval, UnitsAndRejects) {
  EXPECT_EQ(*parse_interval("30s"), std::chrono::seconds(30));
  EXPECT_EQ(*parse_interval("10m"), std::chrono::seconds(600));
  EXPECT_EQ(*parse_interval("2h"), std::chrono::seconds(7200));
  for (const char* bad : {"", "10", "0m", "-1m", "m", "10d", "1.5h"}) {
    EXPECT_FALSE(parse_interval(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace regmirror::config::node
