#include "config/node/kubelet_log_settings.hpp"

#include <gtest/gtest.h>

namespace regmirror::config::node {
namespace {

TEST(KubeletLogSettings, ReadsYamlKeys) {
  auto s = read_kubelet_log_settings(
      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
      "kind: KubeletConfiguration\n"
      "containerLogMaxSize: 50Mi\n"
      "containerLogMaxFiles: 3 # keep little\n");
  EXPECT_EQ(s.container_log_max_size, "50Mi");
  EXPECT_EQ(s.container_log_max_files, 3);
  EXPECT_TRUE(s.max_size_from_file);
  EXPECT_TRUE(s.max_files_from_file);
}

TEST(KubeletLogSettings, ReadsJsonAndQuotedValues) {
  auto s = read_kubelet_log_settings(
      "{\n  \"kind\": \"KubeletConfiguration\",\n  \"containerLogMaxSize\": \"20Mi\",\n"
      "  \"containerLogMaxFiles\": 4\n}\n");
  EXPECT_EQ(s.container_log_max_size, "20Mi");
  EXPECT_EQ(s.container_log_max_files, 4);
}

TEST(KubeletLogSettings, AbsentKeysAndNestedKeysKeepDefaults) {
  auto s = read_kubelet_log_settings(
      "kind: KubeletConfiguration\nlogging:\n  containerLogMaxSize: 1Gi\n");
  EXPECT_EQ(s.container_log_max_size, "10Mi");
  EXPECT_EQ(s.container_log_max_files, 5);
  EXPECT_FALSE(s.max_size_from_file);
  EXPECT_FALSE(s.max_files_from_file);
}

}  // namespace
}  // namespace regmirror::config::node
