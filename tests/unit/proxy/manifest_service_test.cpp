#include "proxy/registry/manifest_service.hpp"

#include <gtest/gtest.h>

#include "tests/unit/proxy/request_path_fixture.hpp"

namespace regmirror::proxy::registry {
namespace {

using regmirror::testing::manifest_answer;
using regmirror::testing::RequestPath;
using regmirror::testing::SeenRequest;
using regmirror::testing::TestAnswer;

constexpr const char* kTagPath = "/v2/library/alpine/manifests/3.19";

class ManifestServiceTest : public ::testing::Test {
 protected:
  // Nothing of the tag or of `digest` is in the index, the blob store or the hot cache.
  void expect_nothing_cached(const std::string& digest) {
    EXPECT_FALSE(*path_.metadata.get_tag({"docker.io", "library/alpine", "3.19"}));
    auto parsed = cache::Digest::parse(digest);
    ASSERT_TRUE(parsed);
    EXPECT_FALSE(*path_.metadata.get_manifest(*parsed));
    EXPECT_FALSE(path_.blobs().stat(*parsed));
    EXPECT_FALSE(path_.hot.by_digest(digest));
    EXPECT_FALSE(
        path_.hot.by_tag(HotManifestCache::tag_key("docker.io", "library/alpine", "3.19")));
  }

  RequestPath path_;
};

TEST_F(ManifestServiceTest, AMissGoesUpstreamOnceWithTheManifestAcceptHeaderAndIsCached) {
  const auto body = regmirror::testing::image_manifest("alpine");
  path_.upstream.answer([body](const SeenRequest& r) {
    return r.target == kTagPath ? manifest_answer(body) : TestAnswer{404, {}, "{}", {}, {}};
  });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->outcome, CacheOutcome::kMiss);
  EXPECT_EQ(got->body, body);
  EXPECT_EQ(got->digest, cache::digest_of(body).str());
  EXPECT_EQ(got->media_type, regmirror::testing::kOciManifestType);
  EXPECT_EQ(got->validated_at, path_.now.load());
  auto seen = path_.upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, kTagPath);
  EXPECT_NE(seen[0].headers["accept"].find("application/vnd.oci.image.index.v1+json"),
            std::string::npos);
  EXPECT_NE(seen[0].headers["accept"].find("application/vnd.docker.distribution.manifest.v2+json"),
            std::string::npos);
  // Cached: the tag record, the manifest record, the bytes and the hot entries.
  auto tag = path_.metadata.get_tag({"docker.io", "library/alpine", "3.19"});
  ASSERT_TRUE(tag && *tag);
  EXPECT_EQ((*tag)->digest, got->digest);
  EXPECT_EQ(path_.stored(cache::digest_of(body)), body);
  ASSERT_TRUE(path_.hot.by_digest(got->digest));
  EXPECT_EQ(path_.hot.by_digest(got->digest)->body, body);
}

TEST_F(ManifestServiceTest, ATagWithinItsTtlAndItsDigestAreHitsWithoutAnUpstreamRequest) {
  const auto body = regmirror::testing::image_manifest("hit");
  path_.upstream.answer([body](const SeenRequest&) { return manifest_answer(body); });
  ASSERT_TRUE(path_.get_manifest("library/alpine", "3.19"));
  ASSERT_EQ(path_.upstream.requests().size(), 1u);
  path_.now += 299;  // tag_ttl is 300 s
  auto by_tag = path_.get_manifest("library/alpine", "3.19");
  ASSERT_TRUE(by_tag) << by_tag.error().message;
  EXPECT_EQ(by_tag->outcome, CacheOutcome::kHit);
  EXPECT_EQ(by_tag->body, body);
  auto by_digest = path_.get_manifest("library/alpine", cache::digest_of(body).str());
  ASSERT_TRUE(by_digest) << by_digest.error().message;
  EXPECT_EQ(by_digest->outcome, CacheOutcome::kHit);
  EXPECT_EQ(by_digest->body, body);
  EXPECT_EQ(by_digest->media_type, regmirror::testing::kOciManifestType);
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(ManifestServiceTest, APastTtlTagIsRevalidatedWithHeadNotGet) {
  const auto body = regmirror::testing::image_manifest("revalidate");
  path_.upstream.answer([body](const SeenRequest&) { return manifest_answer(body); });
  ASSERT_TRUE(path_.get_manifest("library/alpine", "3.19"));
  path_.now += 301;
  auto again = path_.get_manifest("library/alpine", "3.19");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->outcome, CacheOutcome::kHit);
  EXPECT_EQ(again->validated_at, path_.now.load());
  EXPECT_EQ(path_.upstream.count("GET", kTagPath), 1u);
  EXPECT_EQ(path_.upstream.count("HEAD", kTagPath), 1u);
}

TEST_F(ManifestServiceTest, APastTtlTagIsServedStaleWhenTheUpstreamFailsOrRateLimits) {
  const auto body = regmirror::testing::image_manifest("stale");
  path_.upstream.answer([body](const SeenRequest&) { return manifest_answer(body); });
  ASSERT_TRUE(path_.get_manifest("library/alpine", "3.19"));
  path_.now += 301;
  for (int status : {503, 429}) {
    path_.upstream.answer([status](const SeenRequest&) {
      return TestAnswer{status, {{"Retry-After", "5"}}, "{}", {}, {}};
    });
    auto got = path_.get_manifest("library/alpine", "3.19");
    ASSERT_TRUE(got) << status << ": " << got.error().message;
    EXPECT_EQ(got->outcome, CacheOutcome::kStale) << status;
    EXPECT_EQ(got->body, body) << status;
    EXPECT_EQ(got->digest, cache::digest_of(body).str()) << status;
  }
  // A stale answer is not remembered as validated.
  EXPECT_FALSE(path_.hot.by_tag(HotManifestCache::tag_key("docker.io", "library/alpine", "3.19")));
  EXPECT_EQ(path_.upstream.count("GET", kTagPath), 1u);
}

TEST_F(ManifestServiceTest, AnUpstream404IsManifestUnknownAndNothingIsCached) {
  path_.upstream.answer([](const SeenRequest&) {
    return TestAnswer{404,
                      {{"Content-Type", "application/json"}},
                      R"({"errors":[{"code":"MANIFEST_UNKNOWN"}]})",
                      {},
                      {}};
  });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, OciError::kManifestUnknown);
  EXPECT_EQ(http_status(got.error().code), 404u);
  EXPECT_FALSE(*path_.metadata.get_tag({"docker.io", "library/alpine", "3.19"}));
  EXPECT_FALSE(path_.hot.by_tag(HotManifestCache::tag_key("docker.io", "library/alpine", "3.19")));
  EXPECT_EQ(path_.upstream.count("GET", kTagPath), 1u);
}

TEST_F(ManifestServiceTest, AnUpstream429IsTooManyRequestsCarryingRetryAfter) {
  path_.upstream.answer([](const SeenRequest&) {
    return TestAnswer{
        429, {{"Retry-After", "42"}}, R"({"errors":[{"code":"TOOMANYREQUESTS"}]})", {}, {}};
  });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, OciError::kTooManyRequests);
  EXPECT_EQ(got.error().retry_after, "42");
  EXPECT_FALSE(*path_.metadata.get_tag({"docker.io", "library/alpine", "3.19"}));
}

TEST_F(ManifestServiceTest, AnUpstreamBodyThatIsNotJsonIsUpstreamInvalidAndNothingIsCached) {
  const std::string page = "<html><body>502 Bad Gateway</body></html>";
  path_.upstream.answer([page](const SeenRequest&) {
    return TestAnswer{200, {{"Content-Type", regmirror::testing::kOciManifestType}}, page, {}, {}};
  });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, OciError::kUpstreamInvalid);
  expect_nothing_cached(cache::digest_of(page).str());
}

TEST_F(ManifestServiceTest, ATagWhoseBodyDoesNotMatchItsDockerContentDigestIsRefused) {
  const auto body = regmirror::testing::image_manifest("claimed");
  const auto other = regmirror::testing::image_manifest("other");
  path_.upstream.answer([body, other](const SeenRequest&) {
    auto answer = manifest_answer(body);
    answer.headers[1].second = cache::digest_of(other).str();  // Docker-Content-Digest lies
    return answer;
  });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, OciError::kUpstreamInvalid);
  expect_nothing_cached(cache::digest_of(body).str());
}

TEST_F(ManifestServiceTest, AManifestByDigestWithOtherBytesUpstreamIsRefusedAndNotCached) {
  const auto wanted = regmirror::testing::image_manifest("wanted");
  const auto served = regmirror::testing::image_manifest("served instead");
  const auto digest = cache::digest_of(wanted).str();
  path_.upstream.answer([served, digest](const SeenRequest&) {
    auto answer = manifest_answer(served);
    answer.headers[1].second = digest;  // claims the digest asked for
    return answer;
  });
  auto got = path_.get_manifest("library/alpine", digest);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, OciError::kUpstreamInvalid);
  EXPECT_EQ(path_.upstream.count("GET", "/v2/library/alpine/manifests/" + digest), 1u);
  expect_nothing_cached(digest);
  expect_nothing_cached(cache::digest_of(served).str());
  // A later, honest answer is taken: the refusal was not remembered as the manifest.
  path_.upstream.answer([wanted](const SeenRequest&) { return manifest_answer(wanted); });
  auto honest = path_.get_manifest("library/alpine", digest);
  ASSERT_TRUE(honest) << honest.error().message;
  EXPECT_EQ(honest->body, wanted);
  EXPECT_EQ(honest->outcome, CacheOutcome::kMiss);
}

TEST_F(ManifestServiceTest, AManifestByDigestIsCheckedAgainstTheDigestAskedForNotTheHeader) {
  // Another, self-consistent manifest (its own Docker-Content-Digest, or none): only the
  // digest in the request can tell it is the wrong one.
  const auto wanted = regmirror::testing::image_manifest("asked for");
  const auto digest = cache::digest_of(wanted).str();
  for (bool with_header : {true, false}) {
    const auto served =
        regmirror::testing::image_manifest(with_header ? "own header" : "no header");
    path_.upstream.answer([served, with_header](const SeenRequest&) {
      auto answer = manifest_answer(served);
      if (!with_header) answer.headers.pop_back();
      return answer;
    });
    auto got = path_.get_manifest("library/alpine", digest);
    ASSERT_FALSE(got) << "with_header=" << with_header;
    EXPECT_EQ(got.error().code, OciError::kUpstreamInvalid);
    expect_nothing_cached(digest);
    expect_nothing_cached(cache::digest_of(served).str());
  }
}

TEST_F(ManifestServiceTest, AManifestOverTheSizeLimitIsRefusedAndNotCached) {
  std::string huge = regmirror::testing::image_manifest("huge");
  huge.insert(huge.size() - 1,
              R"(,"annotations":{"pad":")" + std::string(kMaxManifestBytes, 'p') + "\"}");
  path_.upstream.answer([huge](const SeenRequest&) { return manifest_answer(huge); });
  auto got = path_.get_manifest("library/alpine", "3.19");
  ASSERT_FALSE(got);
  // oci_error.hpp files "too big" under UPSTREAM_INVALID; the chain reports UNAVAILABLE today.
  EXPECT_TRUE(got.error().code == OciError::kUpstreamInvalid ||
              got.error().code == OciError::kUnavailable)
      << error_code_name(got.error().code) << ": " << got.error().message;
  EXPECT_NE(got.error().message.find("too large"), std::string::npos) << got.error().message;
  expect_nothing_cached(cache::digest_of(huge).str());
}

TEST_F(ManifestServiceTest, AnImpossibleDigestOrTagIsAnsweredWithoutAskingUpstream) {
  auto digest = path_.get_manifest("library/alpine", "sha256:totallywrong");
  ASSERT_FALSE(digest);
  EXPECT_EQ(digest.error().code, OciError::kManifestUnknown);
  auto tag = path_.get_manifest("library/alpine", ".INVALID");
  ASSERT_FALSE(tag);
  EXPECT_EQ(tag.error().code, OciError::kManifestUnknown);
  EXPECT_TRUE(path_.upstream.requests().empty());
}

}  // namespace
}  // namespace regmirror::proxy::registry
