#include "cache/tar_archive.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

class TarArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("regmirror-tar-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "out");
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  fs::path dir_;
};

TEST_F(TarArchiveTest, RoundTripsFilesDirectoriesAndLongNames) {
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 % 251);
  std::ofstream(dir_ / "source.bin", std::ios::binary)
      .write(big.data(), static_cast<std::streamsize>(big.size()));
  std::string long_name =
      "blobs/sha256/" + std::string(64, 'a') + "/" + std::string(60, 'b');  // > 100 bytes
  TarWriter tar;
  ASSERT_EQ(tar.open(dir_ / "a.tar"), "");
  ASSERT_EQ(tar.add_bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"), "");
  ASSERT_EQ(tar.add_directory("blobs"), "");
  ASSERT_EQ(tar.add_file("blobs/big", dir_ / "source.bin"), "");
  ASSERT_EQ(tar.add_bytes(long_name, "x"), "");
  ASSERT_EQ(tar.add_bytes("empty", ""), "");
  ASSERT_EQ(tar.finish(), "");
  EXPECT_EQ(fs::file_size(dir_ / "a.tar") % 512, 0u);

  std::vector<TarEntry> entries;
  ASSERT_EQ(extract_tar(dir_ / "a.tar", dir_ / "out", &entries), "");
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[1].name, "blobs");
  EXPECT_TRUE(entries[1].directory);
  EXPECT_EQ(read(dir_ / "out" / "blobs" / "big"), big);
  EXPECT_EQ(read(dir_ / "out" / long_name), "x");
  EXPECT_EQ(read(dir_ / "out" / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_TRUE(fs::exists(dir_ / "out" / "empty"));
}

TEST_F(TarArchiveTest, SystemTarReadsWhatWeWrite) {
  TarWriter tar;
  ASSERT_EQ(tar.open(dir_ / "a.tar"), "");
  ASSERT_EQ(tar.add_bytes("dir/file.txt", "hello"), "");
  ASSERT_EQ(tar.finish(), "");
  auto command =
      "tar -tf " + (dir_ / "a.tar").string() + " > " + (dir_ / "list").string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read(dir_ / "list");
  EXPECT_EQ(read(dir_ / "list"), "dir/file.txt\n");
}

TEST_F(TarArchiveTest, TruncatedArchiveIsRefusedNamingTheEntry) {
  TarWriter tar;
  ASSERT_EQ(tar.open(dir_ / "a.tar"), "");
  ASSERT_EQ(tar.add_bytes("first", std::string(700, 'f')), "");
  ASSERT_EQ(tar.add_bytes("second", std::string(5000, 's')), "");
  ASSERT_EQ(tar.finish(), "");
  auto full = read(dir_ / "a.tar");
  // Cut inside "second"'s data (header at 1536, data from 2048).
  std::ofstream(dir_ / "cut.tar", std::ios::binary).write(full.data(), 3000);
  auto error = extract_tar(dir_ / "cut.tar", dir_ / "out", nullptr);
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("second"), std::string::npos) << error;
  // Cut exactly at an entry boundary: the missing end-of-archive marker gives it away.
  std::ofstream(dir_ / "cut2.tar", std::ios::binary).write(full.data(), 1536);
  error = extract_tar(dir_ / "cut2.tar", dir_ / "out", nullptr);
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("first"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, FlippedHeaderByteFailsTheChecksum) {
  TarWriter tar;
  ASSERT_EQ(tar.open(dir_ / "a.tar"), "");
  ASSERT_EQ(tar.add_bytes("file", "data"), "");
  ASSERT_EQ(tar.finish(), "");
  auto bytes = read(dir_ / "a.tar");
  bytes[2] ^= 0x01;  // inside the name field
  std::ofstream(dir_ / "bad.tar", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  auto error = extract_tar(dir_ / "bad.tar", dir_ / "out", nullptr);
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, NamesEscapingTheDestinationAreRefused) {
  TarWriter tar;
  ASSERT_EQ(tar.open(dir_ / "a.tar"), "");
  ASSERT_EQ(tar.add_bytes("../escape", "x"), "");
  ASSERT_EQ(tar.finish(), "");
  auto error = extract_tar(dir_ / "a.tar", dir_ / "out", nullptr);
  EXPECT_NE(error.find("unsafe"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
}

}  // namespace
}  // namespace regmirror::cache
