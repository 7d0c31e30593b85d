#include "cache/tar_archive.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tests/unit/message_result.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;
using regmirror::testing::failure_message;
using regmirror::testing::succeeded;

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
  static void write(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // Runs a shell command in dir_; returns its exit status, output in *output when not null.
  int shell(const std::string& command, std::string* output = nullptr) const {
    auto log = dir_ / "shell.log";
    auto line = "cd '" + dir_.string() + "' && { " + command + "; } > '" + log.string() + "' 2>&1";
    int status = std::system(line.c_str());
    if (output != nullptr) *output = read(log);
    return status;
  }
  // A small OCI-layout-shaped tree under dir_/src, with one name longer than 100 bytes.
  std::string make_layout_tree() {
    auto long_name = "blobs/sha256/" + std::string(120, 'c');
    write(dir_ / "src" / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    write(dir_ / "src" / "index.json", R"({"schemaVersion":2,"manifests":[]})");
    write(dir_ / "src" / "blobs" / "sha256" / std::string(64, 'a'), std::string(3000, 'x'));
    write(dir_ / "src" / long_name, "long");
    return long_name;
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
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")));
  ASSERT_TRUE(succeeded(tar.add_directory("blobs")));
  ASSERT_TRUE(succeeded(tar.add_file("blobs/big", dir_ / "source.bin")));
  ASSERT_TRUE(succeeded(tar.add_bytes(long_name, "x")));
  ASSERT_TRUE(succeeded(tar.add_bytes("empty", "")));
  ASSERT_TRUE(succeeded(tar.finish()));
  EXPECT_EQ(fs::file_size(dir_ / "a.tar") % 512, 0u);

  std::vector<TarEntry> entries;
  ASSERT_TRUE(succeeded(extract_tar(dir_ / "a.tar", dir_ / "out", &entries)));
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[1].name, "blobs");
  EXPECT_TRUE(entries[1].directory);
  EXPECT_EQ(read(dir_ / "out" / "blobs" / "big"), big);
  EXPECT_EQ(read(dir_ / "out" / long_name), "x");
  EXPECT_EQ(read(dir_ / "out" / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_TRUE(fs::exists(dir_ / "out" / "empty"));
}

TEST_F(TarArchiveTest, NamesLongerThanUstarCanHoldRoundTripAndSystemTarReadsThem) {
  // 100 bytes of name and 155 of prefix is all ustar has; a 200-byte last component fits
  // neither, so this needs the pax extended header.
  auto long_name = "blobs/" + std::string(200, 'n') + "/" + std::string(150, 'm');
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes(long_name, "payload")));
  ASSERT_TRUE(succeeded(tar.finish()));
  std::vector<TarEntry> entries;
  ASSERT_TRUE(succeeded(extract_tar(dir_ / "a.tar", dir_ / "out", &entries)));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, long_name);
  EXPECT_EQ(entries[0].size, 7u);
  EXPECT_EQ(read(dir_ / "out" / long_name), "payload");
  std::string listing;
  ASSERT_EQ(shell("tar -tf a.tar", &listing), 0) << listing;
  EXPECT_EQ(listing, long_name + "\n");
}

TEST_F(TarArchiveTest, SystemTarReadsWhatWeWrite) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("dir/file.txt", "hello")));
  ASSERT_TRUE(succeeded(tar.finish()));
  auto command =
      "tar -tf " + (dir_ / "a.tar").string() + " > " + (dir_ / "list").string() + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read(dir_ / "list");
  EXPECT_EQ(read(dir_ / "list"), "dir/file.txt\n");
}

TEST_F(TarArchiveTest, SameContentGivesTheSameBytes) {
  for (const char* name : {"a.tar", "b.tar"}) {
    TarWriter tar;
    ASSERT_TRUE(succeeded(tar.open(dir_ / name)));
    ASSERT_TRUE(succeeded(tar.add_directory("blobs")));
    ASSERT_TRUE(succeeded(tar.add_bytes("blobs/x", "same")));
    ASSERT_TRUE(succeeded(tar.finish()));
  }
  EXPECT_EQ(read(dir_ / "a.tar"), read(dir_ / "b.tar"));
}

TEST_F(TarArchiveTest, GnuFormatArchiveFromSystemTarExtracts) {
  auto long_name = make_layout_tree();  // GNU format holds it in a 'L' long-name entry
  std::string output;
  ASSERT_EQ(shell("tar --format=gnu -C src -cf gnu.tar .", &output), 0) << output;
  std::vector<TarEntry> entries;
  ASSERT_TRUE(succeeded(extract_tar(dir_ / "gnu.tar", dir_ / "out", &entries)));
  EXPECT_EQ(read(dir_ / "out" / "oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(read(dir_ / "out" / "blobs" / "sha256" / std::string(64, 'a')), std::string(3000, 'x'));
  EXPECT_EQ(read(dir_ / "out" / long_name), "long");
  for (const auto& entry : entries) EXPECT_FALSE(entry.name.starts_with(".")) << entry.name;
  EXPECT_EQ(entries.size(), 6u);  // oci-layout, index.json, blobs, blobs/sha256, two blobs
}

TEST_F(TarArchiveTest, PaxFormatArchiveFromSystemTarExtracts) {
  auto long_name = make_layout_tree();  // pax holds it in a 'x' extended header
  std::string output;
  ASSERT_EQ(shell("tar --format=pax -C src -cf pax.tar .", &output), 0) << output;
  std::vector<TarEntry> entries;
  ASSERT_TRUE(succeeded(extract_tar(dir_ / "pax.tar", dir_ / "out", &entries)));
  EXPECT_EQ(read(dir_ / "out" / "index.json"), R"({"schemaVersion":2,"manifests":[]})");
  EXPECT_EQ(read(dir_ / "out" / "blobs" / "sha256" / std::string(64, 'a')), std::string(3000, 'x'));
  EXPECT_EQ(read(dir_ / "out" / long_name), "long");
  EXPECT_EQ(entries.size(), 6u);
}

TEST_F(TarArchiveTest, SymlinkEntryIsRefused) {
  write(dir_ / "src" / "real", "data");
  std::string output;
  ASSERT_EQ(shell("ln -s /etc/passwd src/link && tar -C src -cf a.tar real link", &output), 0)
      << output;
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("link is a symbolic link to '/etc/passwd'"), std::string::npos) << error;
  EXPECT_NE(error.find("only regular files and directories"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "out" / "link")));
}

TEST_F(TarArchiveTest, HardlinkEntryIsRefused) {
  write(dir_ / "src" / "real", "data");
  std::string output;
  ASSERT_EQ(shell("ln src/real src/second && tar -C src -cf a.tar real second", &output), 0)
      << output;
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("second is a hard link to 'real'"), std::string::npos) << error;
  EXPECT_NE(error.find("only regular files and directories"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "second"));
}

TEST_F(TarArchiveTest, FifoEntryIsRefused) {
  std::string output;
  ASSERT_EQ(shell("mkdir -p src && mkfifo src/pipe && tar -C src -cf a.tar pipe", &output), 0)
      << output;
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("pipe is a fifo"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "out" / "pipe")));
}

TEST_F(TarArchiveTest, TruncatedArchiveIsRefusedNamingTheEntry) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("first", std::string(700, 'f'))));
  ASSERT_TRUE(succeeded(tar.add_bytes("second", std::string(5000, 's'))));
  ASSERT_TRUE(succeeded(tar.finish()));
  auto full = read(dir_ / "a.tar");
  // Cut inside "second"'s data (header at 1536, data from 2048).
  std::ofstream(dir_ / "cut.tar", std::ios::binary).write(full.data(), 3000);
  auto error = failure_message(extract_tar(dir_ / "cut.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("second"), std::string::npos) << error;
  // Cut exactly at an entry boundary: the missing end-of-archive marker gives it away.
  std::ofstream(dir_ / "cut2.tar", std::ios::binary).write(full.data(), 1536);
  error = failure_message(extract_tar(dir_ / "cut2.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("first"), std::string::npos) << error;
  // Cut inside the second header.
  std::ofstream(dir_ / "cut3.tar", std::ios::binary).write(full.data(), 1536 + 100);
  error = failure_message(extract_tar(dir_ / "cut3.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("first"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, TruncatedInsideAnExtendedHeaderIsRefused) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("first", "f")));
  ASSERT_TRUE(succeeded(tar.add_bytes(std::string(300, 'p'), "long")));  // pax header at 1024
  ASSERT_TRUE(succeeded(tar.finish()));
  auto full = read(dir_ / "a.tar");
  for (std::size_t cut : {1024 + 512 + 100, 1024 + 512 + 512}) {  // in its body; right after it
    std::ofstream(dir_ / "cut.tar", std::ios::binary)
        .write(full.data(), static_cast<std::streamsize>(cut));
    auto error = failure_message(extract_tar(dir_ / "cut.tar", dir_ / "out", nullptr));
    EXPECT_NE(error.find("truncated"), std::string::npos) << cut << ": " << error;
    EXPECT_NE(error.find("first"), std::string::npos) << cut << ": " << error;
  }
}

TEST_F(TarArchiveTest, UnfinishedArchiveReadsAsTruncated) {
  {
    TarWriter tar;
    ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
    ASSERT_TRUE(
        succeeded(tar.add_bytes("first", std::string(2 << 20, 'f'))));  // past one write block
    ASSERT_TRUE(succeeded(tar.add_bytes("second", "s")));
  }  // no finish()
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, GarbageIsRefusedAsNotATarArchive) {
  std::mt19937 random(42);
  std::string garbage(4096, '\0');
  for (auto& c : garbage) c = static_cast<char>(random());
  write(dir_ / "garbage.tar", garbage);
  auto error = failure_message(extract_tar(dir_ / "garbage.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("corrupt bundle: not a tar archive"), std::string::npos) << error;
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));

  write(dir_ / "empty.tar", "");
  error = failure_message(extract_tar(dir_ / "empty.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  write(dir_ / "short.tar", garbage.substr(0, 100));
  error = failure_message(extract_tar(dir_ / "short.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, FlippedHeaderByteFailsTheChecksum) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("file", "data")));
  ASSERT_TRUE(succeeded(tar.add_bytes("next", "data")));
  ASSERT_TRUE(succeeded(tar.finish()));
  auto bytes = read(dir_ / "a.tar");
  bytes[2] ^= 0x01;  // inside the name field
  std::ofstream(dir_ / "bad.tar", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  auto error = failure_message(extract_tar(dir_ / "bad.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
  // The same in the second header names the entry before it.
  bytes[2] ^= 0x01;
  bytes[1024 + 2] ^= 0x01;
  std::ofstream(dir_ / "bad2.tar", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  error = failure_message(extract_tar(dir_ / "bad2.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
  EXPECT_NE(error.find("after entry file"), std::string::npos) << error;
}

TEST_F(TarArchiveTest, NamesEscapingTheDestinationAreRefused) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("../escape", "x")));
  ASSERT_TRUE(succeeded(tar.finish()));
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("unsafe"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(dir_ / "escape"));

  for (const char* name : {"/abs/escape", "blobs/../../escape"}) {
    TarWriter other;
    ASSERT_TRUE(succeeded(other.open(dir_ / "b.tar")));
    ASSERT_TRUE(succeeded(other.add_bytes(name, "x")));
    ASSERT_TRUE(succeeded(other.finish()));
    error = failure_message(extract_tar(dir_ / "b.tar", dir_ / "out", nullptr));
    EXPECT_NE(error.find("unsafe"), std::string::npos) << name << ": " << error;
  }
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_TRUE(fs::is_empty(dir_ / "out"));
}

TEST_F(TarArchiveTest, ControlBytesInNamesStayOnOneLine) {
  TarWriter tar;
  ASSERT_TRUE(succeeded(tar.open(dir_ / "a.tar")));
  ASSERT_TRUE(succeeded(tar.add_bytes("../a\nb", "x")));
  ASSERT_TRUE(succeeded(tar.finish()));
  auto error = failure_message(extract_tar(dir_ / "a.tar", dir_ / "out", nullptr));
  EXPECT_NE(error.find("../a\\x0ab"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

}  // namespace
}  // namespace regmirror::cache
