// The referrers index every MetadataStore keeps (the offline answer of the referrers API):
// one subject's referrers are listed together, sorted by digest, never mixed with another
// subject's; an import writes them with the rest of its batch; Rocks keeps them across reopen.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <functional>
#include <random>

#include "cache/memory_metadata_store.hpp"
#include "cache/metadata_codec.hpp"
#include "cache/referrer_index.hpp"
#include "cache/rocks_metadata_store.hpp"
#include "tests/unit/cache/metadata_store_fixture.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;

Referrer referrer(const Digest& subject, const std::string& seed, std::string artifact_type) {
  return Referrer{subject, digest_of(seed),
                  ReferrerRecord{"application/vnd.oci.image.manifest.v1+json",
                                 seed.size(),
                                 std::move(artifact_type),
                                 {{"org.example.seed", seed}}}};
}

std::vector<std::string> digests(const std::vector<Referrer>& list) {
  std::vector<std::string> out;
  for (const auto& r : list) out.push_back(r.digest.str());
  return out;
}

class ReferrerIndex : public testing::MetadataStoreTest {};

TEST_P(ReferrerIndex, ListsOneSubjectsReferrersSortedAndNothingElse) {
  auto image = digest_of("image"), other = digest_of("other");
  EXPECT_TRUE(store_->list_referrers(image).value().empty());
  auto sig = referrer(image, "sig", "application/vnd.example.sig");
  auto sbom = referrer(image, "sbom", "application/vnd.example.sbom");
  ASSERT_TRUE(store_->put_referrer(sig));
  ASSERT_TRUE(store_->put_referrer(sbom));
  ASSERT_TRUE(store_->put_referrer(referrer(other, "foreign", "application/vnd.example.sig")));
  auto got = store_->list_referrers(image).value();
  std::vector<std::string> want{sig.digest.str(), sbom.digest.str()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(digests(got), want);
  for (const auto& r : got) {
    EXPECT_EQ(r.subject, image);
    const auto& expected = r.digest == sig.digest ? sig : sbom;
    EXPECT_EQ(r.record.artifact_type, expected.record.artifact_type);
    EXPECT_EQ(r.record.media_type, expected.record.media_type);
    EXPECT_EQ(r.record.size, expected.record.size);
    EXPECT_EQ(r.record.annotations, expected.record.annotations);
  }
  EXPECT_EQ(store_->list_referrers(other).value().size(), 1u);
}

TEST_P(ReferrerIndex, PuttingTheSamePairAgainReplacesIt) {
  auto image = digest_of("image");
  ASSERT_TRUE(store_->put_referrer(referrer(image, "sig", "old")));
  ASSERT_TRUE(store_->put_referrer(referrer(image, "sig", "new")));
  auto got = store_->list_referrers(image).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.artifact_type, "new");
}

TEST_P(ReferrerIndex, AnEmptyArtifactTypeAndNoAnnotationsRoundTrip) {
  auto image = digest_of("image");
  Referrer bare{image, digest_of("index"), {"application/vnd.oci.image.index.v1+json", 7, "", {}}};
  ASSERT_TRUE(store_->put_referrer(bare));
  auto got = store_->list_referrers(image).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.artifact_type, "");
  EXPECT_TRUE(got[0].record.annotations.empty());
  EXPECT_EQ(got[0].record.size, 7u);
}

TEST_P(ReferrerIndex, ImportWritesReferrersWithItsBatch) {
  auto image = digest_of("image");
  ImportBatch batch;
  batch.manifests.emplace_back(digest_of("sig"),
                               ManifestRecord{"application/vnd.oci.image.manifest.v1+json", 3});
  batch.referrers.push_back(referrer(image, "sig", "application/vnd.example.sig"));
  ASSERT_TRUE(store_->apply_import(batch));
  auto got = store_->list_referrers(image).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].digest, digest_of("sig"));
}

INSTANTIATE_TEST_SUITE_P(AllStores, ReferrerIndex, testing::every_metadata_store(),
                         testing::store_name);

TEST(RocksReferrerIndex, SurvivesReopenAndReportsACorruptRecord) {
  auto dir = fs::temp_directory_path() /
             ("regmirror-referrers-reopen-" + std::to_string(std::random_device{}()));
  auto image = digest_of("image");
  {
    auto store = RocksMetadataStore::open_at(dir, nullptr).value();
    ASSERT_TRUE(store->put_referrer(referrer(image, "sig", "application/vnd.example.sig")));
  }
  {
    auto store = RocksMetadataStore::open_at(dir, nullptr).value();
    auto got = store->list_referrers(image).value();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].record.artifact_type, "application/vnd.example.sig");
    EXPECT_EQ(got[0].record.annotations.at("org.example.seed"), "sig");
  }
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(
        db->Put(rocksdb::WriteOptions(), codec::referrer_key(image, digest_of("bad")), "garbage")
            .ok());
  }
  {
    // A record that does not decode is reported, never silently dropped.
    auto store = RocksMetadataStore::open_at(dir, nullptr).value();
    EXPECT_FALSE(store->list_referrers(image));
    EXPECT_TRUE(store->list_referrers(digest_of("other")).value().empty());
  }
  fs::remove_all(dir);
}

TEST(ReferrerKey, GroupsBySubject) {
  auto a = digest_of("a"), b = digest_of("b");
  EXPECT_TRUE(codec::referrer_key(a, b).starts_with(codec::referrer_prefix(a)));
  EXPECT_FALSE(codec::referrer_key(b, a).starts_with(codec::referrer_prefix(a)));
  auto record = codec::decode_referrer(codec::encode(ReferrerRecord{"t", 5, "x", {{"k", "v"}}}));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->artifact_type, "x");
  EXPECT_EQ(record->annotations.at("k"), "v");
  EXPECT_FALSE(codec::decode_referrer("{\"media_type\":1,\"size\":2}"));
  EXPECT_FALSE(codec::decode_referrer("{\"media_type\":\"t\",\"size\":2,\"annotations\":[]}"));
}

TEST(ReferrerOf, TakesArtifactTypeThenConfigMediaTypeAndTheAnnotations) {
  auto subject = digest_of("image");
  const std::string with_type =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("artifactType":"application/vnd.example.sbom",)"
      R"("config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":")" +
      digest_of("{}").str() +
      R"(","size":2},"layers":[],)"
      R"("subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":")" +
      subject.str() + R"(","size":10},"annotations":{"org.example.kind":"sbom","n":1}})";
  auto got = referrer_of(digest_of(with_type), with_type, "application/json");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->subject, subject);
  EXPECT_EQ(got->digest, digest_of(with_type));
  EXPECT_EQ(got->record.media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(got->record.size, with_type.size());
  EXPECT_EQ(got->record.artifact_type, "application/vnd.example.sbom");
  EXPECT_EQ(got->record.annotations,
            (std::map<std::string, std::string>{{"org.example.kind", "sbom"}}));

  const std::string cosign_style =
      R"({"schemaVersion":2,"config":{"mediaType":"application/vnd.dev.cosign.artifact.sig.v1+json",)"
      R"("digest":")" +
      digest_of("c").str() +
      R"(","size":1},"layers":[],)"
      R"("subject":{"digest":")" +
      subject.str() + R"(","size":10}})";
  got = referrer_of(digest_of(cosign_style), cosign_style,
                    "application/vnd.oci.image.manifest.v1+json");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->record.artifact_type, "application/vnd.dev.cosign.artifact.sig.v1+json");
  EXPECT_EQ(got->record.media_type, "application/vnd.oci.image.manifest.v1+json");

  const std::string index =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",)"
      R"("manifests":[],"subject":{"digest":")" +
      subject.str() + R"(","size":1}})";
  got = referrer_of(digest_of(index), index, "");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->record.artifact_type, "");  // an index without artifactType: omitted
}

TEST(ReferrerOf, IgnoresManifestsWithoutAValidSubject) {
  EXPECT_FALSE(referrer_of(digest_of("x"), R"({"schemaVersion":2,"layers":[]})", ""));
  EXPECT_FALSE(referrer_of(digest_of("x"), R"({"subject":{"digest":"sha256:nope","size":1}})", ""));
  EXPECT_FALSE(referrer_of(digest_of("x"), R"({"subject":"sha256:abc"})", ""));
  EXPECT_FALSE(referrer_of(digest_of("x"), "not json", ""));
  MemoryMetadataStore store;
  EXPECT_FALSE(index_referrer(store, digest_of("x"), R"({"layers":[]})", "").value());
}

TEST(IndexReferrer, StoresUnderTheSubject) {
  MemoryMetadataStore store;
  auto subject = digest_of("image");
  const std::string body =
      R"({"artifactType":"a/b","subject":{"digest":")" + subject.str() + R"(","size":1}})";
  EXPECT_TRUE(
      index_referrer(store, digest_of(body), body, "application/vnd.oci.image.manifest.v1+json")
          .value());
  auto got = store.list_referrers(subject).value();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].digest, digest_of(body));
  EXPECT_EQ(got[0].record.artifact_type, "a/b");
}

}  // namespace
}  // namespace regmirror::cache
