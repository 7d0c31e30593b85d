#include "proxy/registry/blob_fetcher.hpp"

#include <gtest/gtest.h>

#include "tests/unit/proxy/request_path_fixture.hpp"

namespace regmirror::proxy::registry {
namespace {

using regmirror::testing::blob_answer;
using regmirror::testing::eventually;
using regmirror::testing::Gate;
using regmirror::testing::pattern_bytes;
using regmirror::testing::RequestPath;
using regmirror::testing::RequestPathOptions;
using regmirror::testing::SeenRequest;
using regmirror::testing::TestAnswer;
using State = BlobDownload::State;

RequestPathOptions quick_retries() {
  RequestPathOptions options;
  options.fetcher.resume_attempts = 1;
  options.fetcher.first_backoff = std::chrono::milliseconds(1);
  return options;
}

class BlobFetcherTest : public ::testing::Test {
 protected:
  std::shared_ptr<BlobDownload> start(const cache::Digest& digest) {
    return path_.fetcher().start_or_join(path_.network(), path_.chain(), "library/alpine", digest);
  }
  static std::string blob_target(const cache::Digest& digest) {
    return "/v2/library/alpine/blobs/" + digest.str();
  }

  RequestPath path_{quick_retries()};
};

TEST_F(BlobFetcherTest, TwoRequestsForOneDigestShareOneUpstreamTransfer) {
  const auto bytes = pattern_bytes(300 * 1024);
  const auto digest = cache::digest_of(bytes);
  auto gate = std::make_shared<Gate>();
  path_.upstream.answer([gate, bytes](const SeenRequest&) {
    gate->wait();  // the first download is still running when the second request comes
    return blob_answer(bytes);
  });
  auto first = start(digest);
  ASSERT_TRUE(eventually([&] { return path_.upstream.requests().size() == 1; }));
  auto second = start(digest);
  ASSERT_TRUE(first);
  EXPECT_EQ(first, second);
  gate->open();
  auto status = RequestPath::settled(*first);
  ASSERT_EQ(status.state, State::kComplete) << status.message;
  EXPECT_EQ(status.written, bytes.size());
  EXPECT_EQ(path_.upstream.count("GET", blob_target(digest)), 1u);
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
  EXPECT_EQ(path_.stored(digest), bytes);
  // Once committed there is nothing to start: the caller opens the store.
  ASSERT_TRUE(eventually([&] { return start(digest) == nullptr; }));
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(BlobFetcherTest, BytesThatDoNotMatchTheDigestFailAndAreNotStored) {
  const auto wanted = pattern_bytes(64 * 1024, 1);
  const auto served = pattern_bytes(64 * 1024, 2);  // same size, other content
  const auto digest = cache::digest_of(wanted);
  path_.upstream.answer([served, digest](const SeenRequest&) {
    auto answer = blob_answer(served);
    answer.headers[1].second = digest.str();
    return answer;
  });
  auto download = start(digest);
  ASSERT_TRUE(download);
  auto status = RequestPath::settled(*download);
  EXPECT_EQ(status.state, State::kFailed);
  EXPECT_EQ(status.error, OciError::kUpstreamInvalid);
  EXPECT_LT(status.releasable(), served.size());  // a client never got the whole wrong body
  EXPECT_FALSE(path_.blobs().stat(digest));
  EXPECT_FALSE(path_.stored(digest));
  EXPECT_TRUE(eventually([&] { return path_.no_temp_files(); }));
}

TEST_F(BlobFetcherTest, AnUpstreamThatCutsTheBodyFailsTheDownloadAndARetryAfterItSucceeds) {
  const auto bytes = pattern_bytes(512 * 1024);
  const auto digest = cache::digest_of(bytes);
  const std::size_t cut = 200 * 1024;
  path_.upstream.answer([bytes, cut](const SeenRequest&) {
    auto answer = blob_answer(bytes);
    answer.cut_after = cut;  // every attempt, resumes included, breaks at the same byte
    return answer;
  });
  auto broken = start(digest);
  ASSERT_TRUE(broken);
  auto status = RequestPath::settled(*broken);
  ASSERT_EQ(status.state, State::kFailed);
  EXPECT_EQ(status.error, OciError::kUnavailable);
  EXPECT_NE(status.message.find("broke at byte " + std::to_string(cut)), std::string::npos)
      << status.message;
  EXPECT_FALSE(path_.blobs().stat(digest));
  // It tried to continue from the byte reached before giving up.
  auto seen = path_.upstream.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].headers.count("range"), 0u);
  EXPECT_EQ(seen[1].headers["range"],
            "bytes=" + std::to_string(cut) + "-" + std::to_string(bytes.size() - 1));
  EXPECT_TRUE(eventually([&] { return path_.no_temp_files(); }));

  path_.upstream.answer([bytes](const SeenRequest&) { return blob_answer(bytes); });
  auto retry = start(digest);
  ASSERT_TRUE(retry);
  EXPECT_NE(retry, broken);  // a new attempt, not the failed one
  auto retried = RequestPath::settled(*retry);
  ASSERT_EQ(retried.state, State::kComplete) << retried.message;
  EXPECT_EQ(path_.stored(digest), bytes);
}

TEST_F(BlobFetcherTest, ABrokenTransferIsContinuedFromTheByteReachedWithARangeRequest) {
  const auto bytes = pattern_bytes(700 * 1024, 3);
  const auto digest = cache::digest_of(bytes);
  const std::size_t cut = 333 * 1024 + 7;
  auto calls = std::make_shared<std::atomic<int>>(0);
  path_.upstream.answer([bytes, cut, calls](const SeenRequest& r) {
    if ((*calls)++ == 0) {
      auto answer = blob_answer(bytes);
      answer.cut_after = cut;
      return answer;
    }
    auto range = r.headers.find("range");
    if (range == r.headers.end()) return blob_answer(bytes);
    const auto first = std::stoull(range->second.substr(6));
    return TestAnswer{206,
                      {{"Content-Range", "bytes " + std::to_string(first) + "-" +
                                             std::to_string(bytes.size() - 1) + "/" +
                                             std::to_string(bytes.size())}},
                      bytes.substr(first),
                      {},
                      {}};
  });
  auto download = start(digest);
  ASSERT_TRUE(download);
  auto status = RequestPath::settled(*download);
  ASSERT_EQ(status.state, State::kComplete) << status.message;
  EXPECT_EQ(path_.stored(digest), bytes);
  auto seen = path_.upstream.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].headers["range"],
            "bytes=" + std::to_string(cut) + "-" + std::to_string(bytes.size() - 1));
}

TEST_F(BlobFetcherTest, AMultiMebibyteBlobEndsUpByteIdenticalInTheStore) {
  const auto bytes = pattern_bytes((9 << 20) + 12345, 4);  // not a multiple of any buffer size
  const auto digest = cache::digest_of(bytes);
  path_.upstream.answer([bytes](const SeenRequest&) { return blob_answer(bytes); });
  auto download = start(digest);
  ASSERT_TRUE(download);
  auto status = RequestPath::settled(*download);
  ASSERT_EQ(status.state, State::kComplete) << status.message;
  EXPECT_EQ(status.written, bytes.size());
  auto info = path_.blobs().stat(digest);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, bytes.size());
  auto stored = path_.stored(digest);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->size(), bytes.size());
  EXPECT_TRUE(*stored == bytes);  // not EXPECT_EQ: a 9 MiB diff is no help
  EXPECT_EQ(cache::digest_of(*stored), digest);
  EXPECT_EQ(std::filesystem::file_size(path_.blobs().path_of(digest)), bytes.size());
  EXPECT_TRUE(path_.no_temp_files());
}

TEST_F(BlobFetcherTest, AnUpstream404IsBlobUnknownAnd429CarriesRetryAfter) {
  const auto digest = cache::digest_of("absent");
  path_.upstream.answer([](const SeenRequest&) { return TestAnswer{404, {}, "{}", {}, {}}; });
  auto missing = start(digest);
  ASSERT_TRUE(missing);
  auto status = RequestPath::settled(*missing);
  EXPECT_EQ(status.state, State::kFailed);
  EXPECT_EQ(status.error, OciError::kBlobUnknown);

  path_.upstream.answer([](const SeenRequest&) {
    return TestAnswer{429, {{"Retry-After", "17"}}, "{}", {}, {}};
  });
  auto limited = start(digest);
  ASSERT_TRUE(limited);
  status = RequestPath::settled(*limited);
  EXPECT_EQ(status.state, State::kFailed);
  EXPECT_EQ(status.error, OciError::kTooManyRequests);
  EXPECT_EQ(status.retry_after, "17");
  EXPECT_FALSE(path_.blobs().stat(digest));
}

}  // namespace
}  // namespace regmirror::proxy::registry
