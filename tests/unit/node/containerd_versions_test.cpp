// One node per containerd generation, from its own config.toml to what `node apply` writes:
// 1.6 (Debian's package), 1.7 and 2.0 (`containerd config default`), 2.1+ (a vendor hosts
// directory in a ':' list, which 2.1's transfer service would read as one missing directory).
// Goldens in golden/versions/<version>/: config.out.toml, docker.io.hosts.toml, notes.txt and
// copied/<registry>/<file> for entries copied from the vendor directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "config/node/containerd_config.hpp"
#include "config/node/file_applier.hpp"
#include "config/node/node_plan.hpp"
#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

namespace fs = std::filesystem;
using testing::golden_path;
using testing::matches_golden;
using testing::read_golden;
using testing::spit;
using testing::TempDir;

constexpr std::string_view kCerts = "/etc/containerd/certs.d";
constexpr std::string_view kConfig = "/etc/containerd/config.toml";
constexpr std::string_view kVendor = "/etc/vendor/certs.d";

struct VersionCase {
  std::string version;
  size_t bypass_before;  // check_containerd2_config(...).bypass on the node's own file
  size_t notes_after;    // .notes once node apply has written it
};

void PrintTo(const VersionCase& c, std::ostream* os) { *os << c.version; }

class ContainerdVersions : public ::testing::TestWithParam<VersionCase> {
 protected:
  void SetUp() override {
    const std::string dir = "versions/" + GetParam().version;
    spit(root_.path() / fs::path(kConfig).relative_path(), read_golden(dir + "/config.in.toml"));
    const fs::path vendor = golden_path(dir + "/vendor");
    if (fs::exists(vendor)) {
      const fs::path to = root_.path() / fs::path(kVendor).relative_path();
      fs::create_directories(to);
      fs::copy(vendor, to, fs::copy_options::recursive);
      // A vendor's CA or client key is often private: its copy must keep the mode.
      for (const auto& e : fs::recursive_directory_iterator(to)) {
        if (e.path().filename() == "ca.crt") fs::permissions(e.path(), fs::perms(0600));
      }
    }
    options_.mirror = *parse_mirror_url("http://10.0.0.5:30500");
    options_.runtimes = {Runtime::kContainerd};
  }

  std::string golden_name(const DesiredFile& file) const {
    const std::string dir = "versions/" + GetParam().version + "/";
    if (file.node_path == kConfig) return dir + "config.out.toml";
    if (file.node_path == std::string(kCerts) + "/docker.io/hosts.toml") {
      return dir + "docker.io.hosts.toml";
    }
    const std::string rel = file.node_path.substr(kCerts.size() + 1);
    for (const RegistryHost& r : options_.registries) {
      if (rel.starts_with(r.name + "/")) return "";  // the other defaults: hosts_toml_test
    }
    return dir + "copied/" + rel;
  }

  static std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
  }

  TempDir root_;
  NodeOptions options_;
};

TEST_P(ContainerdVersions, ApplyMatchesGoldenThenChangesNothingAndUsesTheMirror) {
  FileApplier applier(root_.path());
  const std::string before = read_golden("versions/" + GetParam().version + "/config.in.toml");
  EXPECT_EQ(check_containerd2_config(before, kCerts).bypass.size(), GetParam().bypass_before)
      << joined(check_containerd2_config(before, kCerts).bypass);

  NodePlan plan = build_node_plan(options_, applier);
  ASSERT_TRUE(plan.errors.empty()) << plan.errors.front().error.message;
  EXPECT_TRUE(matches_golden("versions/" + GetParam().version + "/notes.txt", joined(plan.notes)));
  for (const DesiredFile& file : plan.files) {
    const std::string name = golden_name(file);
    if (!name.empty()) {
      EXPECT_TRUE(matches_golden(name, file.content)) << file.node_path;
    }
    if (file.node_path.ends_with("/ca.crt")) {
      EXPECT_EQ(file.mode, fs::perms(0600)) << file.node_path;
    }
    ASSERT_TRUE(applier.write(file).has_value()) << file.node_path;
  }

  NodePlan again = build_node_plan(options_, applier);
  ASSERT_TRUE(again.errors.empty());
  EXPECT_EQ(again.notes, plan.notes);
  ASSERT_EQ(again.files.size(), plan.files.size());
  for (const DesiredFile& file : again.files) {
    auto outcome = applier.compare(file);
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->state, FileState::kUnchanged) << file.node_path << "\n" << outcome->diff;
  }

  const std::string after = **applier.read(kConfig);
  Containerd2Check check = check_containerd2_config(after, kCerts);
  EXPECT_TRUE(check.bypass.empty()) << joined(check.bypass);
  EXPECT_EQ(check.notes.size(), GetParam().notes_after) << joined(check.notes);
}

INSTANTIATE_TEST_SUITE_P(Generations, ContainerdVersions,
                         ::testing::Values(VersionCase{"1.6", 0, 0}, VersionCase{"1.7", 0, 1},
                                           VersionCase{"2.0", 1, 0}, VersionCase{"2.1", 1, 0}),
                         [](const auto& info) {
                           std::string name = "containerd_" + info.param.version;
                           for (char& c : name) c = c == '.' ? '_' : c;
                           return name;
                         });

TEST(Containerd2Check, FlagsAOneXTableInAVersionThreeFileAndAnotherDirectory) {
  Containerd2Check c = check_containerd2_config(
      "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n"
      "  config_path = \"/etc/containerd/certs.d\"\n"
      "[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/other\"\n",
      kCerts);
  ASSERT_EQ(c.bypass.size(), 2u);
  EXPECT_NE(c.bypass[0].find("ignores"), std::string::npos) << c.bypass[0];
  EXPECT_NE(c.bypass[1].find("/etc/other"), std::string::npos) << c.bypass[1];
}

TEST(Containerd2Check, SaysNothingAboutVersionTwoWithOneDirectoryOrVersionOne) {
  EXPECT_TRUE(check_containerd2_config("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"."
                                       "registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
                                       kCerts)
                  .notes.empty());
  Containerd2Check v1 = check_containerd2_config("[plugins.cri]\n", kCerts);
  EXPECT_TRUE(v1.bypass.empty());
  EXPECT_TRUE(v1.notes.empty());
}

TEST(ContainerdConfigV3, AListAddedAfterAnEarlierMergeKeepsEveryMergedDirectory) {
  auto first = enable_config_path(
      "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry]\n"
      "  config_path = '/etc/a:/etc/containerd/certs.d'\n",
      kCerts);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(first->merged_dirs, std::vector<std::string>{"/etc/a"});
  // Someone (a vendor's bootstrap script) puts a list back in.
  std::string text = first->text;
  const std::string ours = "config_path = \"/etc/containerd/certs.d\"";
  text.replace(text.find(ours), ours.size(), "config_path = \"/etc/b:/etc/containerd/certs.d\"");
  auto second = enable_config_path(text, kCerts);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->merged_dirs, (std::vector<std::string>{"/etc/a", "/etc/b"}));
  EXPECT_NE(second->text.find("also had \"/etc/a:/etc/b\""), std::string::npos) << second->text;
  EXPECT_NE(second->text.find(ours), std::string::npos) << second->text;
  EXPECT_TRUE(check_containerd2_config(second->text, kCerts).bypass.empty());
}

}  // namespace
}  // namespace regmirror::config::node
