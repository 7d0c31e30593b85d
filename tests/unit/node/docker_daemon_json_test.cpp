#include "config/node/docker_daemon_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/node/golden.hpp"

namespace regmirror::config::node {
namespace {

using testing::matches_golden;
using testing::read_golden;

MirrorEndpoint mirror() { return *parse_mirror_url("http://10.0.0.5:30500"); }

TEST(DockerDaemonJson, MergeKeepsOtherKeysTheirOrderAndOtherMirrors) {
  const std::string input = read_golden("docker/daemon.in.json");
  ASSERT_FALSE(input.empty());
  auto merged = merge_docker_daemon_json(input, mirror());
  ASSERT_TRUE(merged.has_value()) << merged.error().message;
  EXPECT_TRUE(matches_golden("docker/daemon.out.json", *merged));

  auto before = nlohmann::json::parse(input);
  auto after = nlohmann::json::parse(*merged);
  for (auto& [key, value] : before.items()) {
    if (key != "registry-mirrors") {
      EXPECT_EQ(after[key], value) << key;
    }
  }
  EXPECT_EQ(after["registry-mirrors"][0], "http://10.0.0.5:30500");
  EXPECT_EQ(after["registry-mirrors"][1], "https://mirror.gcr.io");
}

TEST(DockerDaemonJson, SecondMergeReturnsTheFileByteForByte) {
  auto first = merge_docker_daemon_json(read_golden("docker/daemon.in.json"), mirror());
  ASSERT_TRUE(first.has_value());
  // Reformatted by someone else, same content: not rewritten.
  const std::string compact = nlohmann::ordered_json::parse(*first).dump();
  auto second = merge_docker_daemon_json(compact, mirror());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, compact);
}

TEST(DockerDaemonJson, NoFileGivesOnlyTheMirror) {
  auto merged = merge_docker_daemon_json("", mirror());
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(*merged, "{\n  \"registry-mirrors\": [\n    \"http://10.0.0.5:30500\"\n  ]\n}\n");
}

TEST(DockerDaemonJson, MirrorListedLaterMovesFirstWithoutDuplicate) {
  auto merged = merge_docker_daemon_json(
      R"({"registry-mirrors": ["https://a.example", "http://10.0.0.5:30500/"]})", mirror());
  ASSERT_TRUE(merged.has_value());
  auto doc = nlohmann::json::parse(*merged);
  EXPECT_EQ(doc["registry-mirrors"],
            nlohmann::json::array({"http://10.0.0.5:30500", "https://a.example"}));
}

TEST(DockerDaemonJson, RefusesInvalidJsonAndWrongShapes) {
  for (const char* bad :
       {"{\"log-driver\": \"json-file\",}", "{ // comment\n}", "[1, 2]",
        "{\"registry-mirrors\": \"http://x\"}", "{\"registry-mirrors\": [1]}", "not json"}) {
    auto merged = merge_docker_daemon_json(bad, mirror());
    EXPECT_FALSE(merged.has_value()) << bad;
    if (!merged) {
      EXPECT_NE(merged.error().message.find("left unchanged"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace regmirror::config::node
