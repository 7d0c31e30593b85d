#include "config/path_template.hpp"

#include <gtest/gtest.h>

#include "tests/unit/message_result.hpp"

namespace regmirror::config {
namespace {

using regmirror::testing::succeeded;

std::string expand(std::string_view tmpl, std::string_view repo) {
  auto out = expand_path_template(tmpl, repo);
  return out ? *out : "ERROR: " + out.error().message;
}

TEST(PathTemplate, ExpandsRepoOwnerAndBasename) {
  EXPECT_EQ(expand("{repo}", "sig-storage/csi-attacher"), "sig-storage/csi-attacher");
  EXPECT_EQ(expand("container_service/{basename}", "sig-storage/csi-attacher"),
            "container_service/csi-attacher");
  EXPECT_EQ(expand("container_service/{basename}", "pause"), "container_service/pause");
  EXPECT_EQ(expand("{owner}/{basename}", "owner/repository/image"), "owner/image");
  EXPECT_EQ(expand("{owner}/{basename}", "owner/image"), "owner/image");
  EXPECT_EQ(expand("mirror/{repo}", "library/alpine"), "mirror/library/alpine");
}

TEST(PathTemplate, OwnerNeedsTwoSegments) {
  EXPECT_EQ(expand("{owner}/{basename}", "image").rfind("ERROR: ", 0), 0u);
}

TEST(PathTemplate, CheckRejectsMalformedTemplates) {
  EXPECT_TRUE(succeeded(check_path_template("container_service/{basename}")));
  EXPECT_FALSE(check_path_template(""));
  EXPECT_FALSE(check_path_template("static/path"));   // no placeholder
  EXPECT_FALSE(check_path_template("{repo"));         // unclosed
  EXPECT_FALSE(check_path_template("repo}"));         // stray close
  EXPECT_FALSE(check_path_template("{tag}"));         // unknown placeholder
  EXPECT_FALSE(check_path_template("Upper/{repo}"));  // invalid result
  EXPECT_FALSE(check_path_template("../{repo}"));     // traversal
  EXPECT_FALSE(check_path_template("{repo}/"));       // empty component
}

}  // namespace
}  // namespace regmirror::config
