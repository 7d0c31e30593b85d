#include "cache/oci_layout_bundle.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/unit/message_result.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using regmirror::testing::failure_message;
using regmirror::testing::succeeded;

class OciLayoutBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("regmirror-layout-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "blobs" / "sha256");
    const std::string config = R"({"architecture":"amd64","os":"linux"})";
    config_ = put(config);
    layer_ = put(std::string(4000, 'L'));
    manifest_text_ = json{{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                          {"config",
                           {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                            {"digest", config_.str()},
                            {"size", config.size()}}},
                          {"layers",
                           {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                             {"digest", layer_.str()},
                             {"size", 4000}}}}}
                         .dump();
    manifest_ = put(manifest_text_);
    std::ofstream(dir_ / "oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    write_index();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Digest put(const std::string& bytes) {
    auto digest = digest_of(bytes);
    std::ofstream(dir_ / layout_blob_path(digest), std::ios::binary) << bytes;
    return digest;
  }
  void write_index() {
    index_text_ =
        json{
            {"schemaVersion", 2},
            {"manifests",
             {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
               {"digest", manifest_.str()},
               {"size", manifest_text_.size()},
               {"annotations",
                {{kRefNameAnnotation, "3.2"}, {kOriginalRefAnnotation, "k8s.gcr.io/pause:3.2"}}}}}}}
            .dump();
    std::ofstream(dir_ / "index.json") << index_text_;
    std::ofstream(dir_ / kBundleSealFile)
        << json{{"index_digest", digest_of(index_text_).str()}}.dump();
  }

  fs::path dir_;
  Digest config_ = digest_of("");
  Digest layer_ = digest_of("");
  Digest manifest_ = digest_of("");
  std::string manifest_text_;
  std::string index_text_;
};

TEST_F(OciLayoutBundleTest, CompleteLayoutListsImagesManifestsAndBlobs) {
  auto verified = verify_oci_layout(dir_);
  ASSERT_TRUE(succeeded(verified));
  const BundleContents& contents = *verified;
  ASSERT_EQ(contents.images.size(), 1u);
  EXPECT_EQ(contents.images[0].ref, "k8s.gcr.io/pause:3.2");  // the original reference wins
  EXPECT_EQ(contents.images[0].digest, manifest_);
  ASSERT_EQ(contents.manifests.size(), 1u);
  EXPECT_EQ(contents.manifests[0].media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(contents.blobs.size(), 3u);
}

TEST_F(OciLayoutBundleTest, FlippedByteInALayerIsNamed) {
  auto path = dir_ / layout_blob_path(layer_);
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(1234);
  file.put('M');
  file.close();
  auto error = failure_message(verify_oci_layout(dir_));
  EXPECT_NE(error.find(std::string(layer_.hex())), std::string::npos) << error;
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

TEST_F(OciLayoutBundleTest, MissingLayerIsNamed) {
  fs::remove(dir_ / layout_blob_path(layer_));
  auto error = failure_message(verify_oci_layout(dir_));
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  EXPECT_NE(error.find(std::string(layer_.hex())), std::string::npos) << error;
}

TEST_F(OciLayoutBundleTest, EditedIndexJsonBreaksTheSeal) {
  auto text = index_text_;
  auto at = text.find("pause:3.2");
  text[at] = 'P';  // still valid JSON, different reference
  std::ofstream(dir_ / "index.json") << text;
  auto error = failure_message(verify_oci_layout(dir_));
  EXPECT_NE(error.find("index.json"), std::string::npos) << error;
}

TEST_F(OciLayoutBundleTest, NotALayoutWithoutMarker) {
  fs::remove(dir_ / "oci-layout");
  auto error = failure_message(verify_oci_layout(dir_));
  EXPECT_NE(error.find("oci-layout"), std::string::npos) << error;
}

}  // namespace
}  // namespace regmirror::cache
