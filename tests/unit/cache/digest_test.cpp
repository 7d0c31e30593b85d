#include "cache/digest.hpp"

#include <gtest/gtest.h>

#include <string>

namespace regmirror::cache {
namespace {

TEST(Digest, ParsesSha256AndSha512) {
  auto d = Digest::parse("sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->algorithm(), DigestAlgorithm::kSha256);
  EXPECT_EQ(d->hex(), std::string(64, 'a'));
  EXPECT_TRUE(Digest::parse("sha512:" + std::string(128, '0')));
}

TEST(Digest, RejectsWhatCannotNameContent) {
  for (const std::string& text :
       {std::string("sha256:totallywrong"), std::string("sha256:") + std::string(63, 'a'),
        std::string("sha256:") + std::string(65, 'a'), std::string("sha256:") + std::string(64, 'A'),
        std::string("md5:") + std::string(32, 'a'), std::string(64, 'a'), std::string(""),
        std::string("sha256:"), std::string("sha256:../../") + std::string(58, 'a'),
        std::string("sha512:") + std::string(64, 'a')}) {
    EXPECT_FALSE(Digest::parse(text)) << text;
  }
}

TEST(Digest, HashesKnownVectors) {
  EXPECT_EQ(digest_of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest_of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_of("abc", DigestAlgorithm::kSha512).hex().substr(0, 16), "ddaf35a193617aba");
}

TEST(Digest, IncrementalEqualsOneShot) {
  DigestHasher hasher;
  hasher.update("a");
  hasher.update("b");
  hasher.update("c");
  EXPECT_EQ(hasher.finish(), digest_of("abc"));
}

}  // namespace
}  // namespace regmirror::cache
