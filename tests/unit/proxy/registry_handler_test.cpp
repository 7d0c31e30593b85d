#include "proxy/registry/registry_handler.hpp"

#include <gtest/gtest.h>

#include "tests/unit/proxy/request_path_fixture.hpp"

namespace regmirror::proxy::registry {
namespace {

using regmirror::testing::blob_answer;
using regmirror::testing::eventually;
using regmirror::testing::Gate;
using regmirror::testing::HttpReply;
using regmirror::testing::LoopbackClient;
using regmirror::testing::oci_error_code;
using regmirror::testing::pattern_bytes;
using regmirror::testing::RequestPath;
using regmirror::testing::RequestPathOptions;
using regmirror::testing::SeenRequest;
using regmirror::testing::TestAnswer;

constexpr const char* kManifestListType =
    "application/vnd.docker.distribution.manifest.list.v2+json";

RequestPathOptions served() {
  RequestPathOptions options;
  options.serve_http = true;
  return options;
}

// The registry handler behind the real HTTP server, on the stores of RequestPath.
class RegistryHandlerTest : public ::testing::Test {
 protected:
  // One request on a fresh connection.
  HttpReply ask(const std::string& method, const std::string& target,
                const std::vector<std::string>& headers = {}) {
    LoopbackClient client(path_.address());
    EXPECT_TRUE(client.connected());
    auto reply = client.request(method, target, headers);
    EXPECT_TRUE(reply) << method << " " << target << ": no answer";
    return reply.value_or(HttpReply{});
  }
  HttpReply get(const std::string& target, const std::vector<std::string>& headers = {}) {
    return ask("GET", target, headers);
  }

  // An OCI error answer: status, JSON content type, and the code in the body.
  static void expect_oci_error(const HttpReply& reply, unsigned status, const std::string& code) {
    EXPECT_EQ(reply.status, status) << reply.body;
    EXPECT_EQ(reply.header("content-type"), "application/json");
    EXPECT_EQ(oci_error_code(reply.body), code) << reply.body;
    EXPECT_EQ(reply.header("content-length"), std::to_string(reply.body.size()));
  }

  static std::string blob_path(const cache::Digest& digest) {
    return "/v2/library/alpine/blobs/" + digest.str();
  }

  RequestPath path_{served()};
};

TEST_F(RegistryHandlerTest, TheBaseRouteAnswersAnEmptyJsonObjectAndTheApiVersion) {
  auto reply = get("/v2/");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.body, "{}");
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.header("content-length"), "2");
  EXPECT_EQ(reply.header("docker-distribution-api-version"), "registry/2.0");
  auto head = ask("HEAD", "/v2/");
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-length"), "2");
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(get("/healthz").body, "ok\n");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, AManifestByTagInTheIndexIsAHitWithItsExactBytesAndHeaders) {
  const auto body = regmirror::testing::image_manifest("alpine 3.19");
  auto digest = path_.put_tagged_manifest("library/alpine", "3.19", body, kManifestListType);
  // The plain name, Docker Hub's one-segment form, the path-prefix form and ?ns= all land there.
  for (const char* target : {"/v2/library/alpine/manifests/3.19", "/v2/alpine/manifests/3.19",
                             "/v2/docker.io/library/alpine/manifests/3.19",
                             "/v2/library/alpine/manifests/3.19?ns=docker.io"}) {
    auto reply = get(target);
    EXPECT_EQ(reply.status, 200u) << target << ": " << reply.body;
    EXPECT_EQ(reply.body, body) << target;
    EXPECT_EQ(reply.header("content-type"), kManifestListType) << target;
    EXPECT_EQ(reply.header("docker-content-digest"), digest.str()) << target;
    EXPECT_EQ(reply.header("content-length"), std::to_string(body.size())) << target;
    EXPECT_EQ(reply.header("x-cache"), "HIT") << target;
  }
  EXPECT_EQ(get("/v2/library/alpine/manifests/3.19?ns=docker.io").header("oci-namespace"),
            "docker.io");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, AManifestByDigestIsAnsweredFromTheHotCache) {
  const auto body = regmirror::testing::image_manifest("hot");
  const auto digest = cache::digest_of(body).str();
  // Only in the hot cache: neither the index nor the blob store knows it.
  path_.hot.put(std::make_shared<const HotManifest>(HotManifest{digest, kManifestListType, body}));
  auto reply = get("/v2/library/alpine/manifests/" + digest);
  EXPECT_EQ(reply.status, 200u) << reply.body;
  EXPECT_EQ(reply.body, body);
  EXPECT_EQ(reply.header("content-type"), kManifestListType);
  EXPECT_EQ(reply.header("docker-content-digest"), digest);
  EXPECT_EQ(reply.header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(reply.header("x-cache"), "HIT");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, HeadOfAManifestCarriesTheGetHeadersAndNoBody) {
  const auto body = regmirror::testing::image_manifest("head");
  auto digest = path_.put_tagged_manifest("library/alpine", "3.19", body,
                                          regmirror::testing::kOciManifestType);
  LoopbackClient client(path_.address());
  auto head = client.request("HEAD", "/v2/library/alpine/manifests/3.19");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200u);
  EXPECT_EQ(head->header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(head->header("docker-content-digest"), digest.str());
  EXPECT_EQ(head->header("content-type"), regmirror::testing::kOciManifestType);
  EXPECT_TRUE(head->body.empty());
  // Nothing followed the head on the wire: the next answer on the connection parses cleanly.
  auto then = client.request("GET", "/v2/library/alpine/manifests/3.19");
  ASSERT_TRUE(then);
  EXPECT_EQ(then->status, 200u);
  EXPECT_EQ(then->body, body);
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, ACachedBlobIsServedWholeWithItsHeadersAndHeadHasNoBody) {
  const auto bytes = pattern_bytes((1 << 20) + 3);
  auto digest = path_.put_blob(bytes);
  auto reply = get(blob_path(digest));
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.header("content-length"), std::to_string(bytes.size()));
  EXPECT_EQ(reply.header("content-type"), "application/octet-stream");
  EXPECT_EQ(reply.header("docker-content-digest"), digest.str());
  EXPECT_EQ(reply.header("accept-ranges"), "bytes");
  EXPECT_EQ(reply.header("x-cache"), "HIT");
  EXPECT_EQ(reply.header("content-encoding"), "");
  EXPECT_TRUE(reply.body == bytes);
  auto head = ask("HEAD", blob_path(digest));
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-length"), std::to_string(bytes.size()));
  EXPECT_EQ(head.header("docker-content-digest"), digest.str());
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, ARangeOfACachedBlobIs206WithContentRange) {
  const auto bytes = pattern_bytes(100000);
  auto digest = path_.put_blob(bytes);
  auto middle = get(blob_path(digest), {"Range: bytes=100-199"});
  EXPECT_EQ(middle.status, 206u);
  EXPECT_EQ(middle.header("content-range"), "bytes 100-199/100000");
  EXPECT_EQ(middle.header("content-length"), "100");
  EXPECT_EQ(middle.header("docker-content-digest"), digest.str());
  EXPECT_EQ(middle.body, bytes.substr(100, 100));
  // Open-ended, as containerd asks for the rest of a layer.
  auto tail = get(blob_path(digest), {"Range: bytes=99000-"});
  EXPECT_EQ(tail.status, 206u);
  EXPECT_EQ(tail.header("content-range"), "bytes 99000-99999/100000");
  EXPECT_EQ(tail.header("content-length"), "1000");
  EXPECT_EQ(tail.body, bytes.substr(99000));
  auto suffix = get(blob_path(digest), {"Range: bytes=-10"});
  EXPECT_EQ(suffix.status, 206u);
  EXPECT_EQ(suffix.body, bytes.substr(bytes.size() - 10));
}

TEST_F(RegistryHandlerTest, AnUnsatisfiableOrMalformedRangeIs416WithTheBlobSize) {
  auto digest = path_.put_blob(pattern_bytes(1000));
  for (const char* range : {"Range: bytes=1000-", "Range: bytes=5000-6000", "Range: pages=1-2"}) {
    auto reply = get(blob_path(digest), {range});
    expect_oci_error(reply, 416, "RANGE_INVALID");
    EXPECT_EQ(reply.header("content-range"), "bytes */1000") << range;
  }
}

TEST_F(RegistryHandlerTest, AnUnknownRouteIs404WithAnOciErrorBody) {
  expect_oci_error(get("/nope"), 404, "NOT_FOUND");
  expect_oci_error(get("/v2/library/alpine/nothing/here"), 404, "NOT_FOUND");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, AnInvalidNameOrQueryIs400NameInvalidAndNeverForwarded) {
  expect_oci_error(get("/v2/library/ALPINE/manifests/3.19"), 400, "NAME_INVALID");
  expect_oci_error(get("/v2/library//alpine/blobs/sha256:" + std::string(64, 'a')), 400,
                   "NAME_INVALID");
  expect_oci_error(get("/v2/library/alpine/manifests/3.19?ns=%zz"), 400, "NAME_INVALID");
  expect_oci_error(get("/v2/library/alpine/manifests/3.19?ns=not_a_host!"), 400, "NAME_INVALID");
  // HEAD: the same status and length, no body.
  auto head = ask("HEAD", "/v2/library/ALPINE/manifests/3.19");
  EXPECT_EQ(head.status, 400u);
  EXPECT_TRUE(head.body.empty());
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, ADigestThatCannotExistIsAnsweredByTheMirrorNeverForwarded) {
  // DESIGN.md: 404 BLOB_UNKNOWN / MANIFEST_UNKNOWN with an OCI body (not 400).
  expect_oci_error(get("/v2/library/alpine/blobs/sha256:totallywrong"), 404, "BLOB_UNKNOWN");
  expect_oci_error(get("/v2/library/alpine/manifests/sha256:totallywrong"), 404,
                   "MANIFEST_UNKNOWN");
  expect_oci_error(get("/v2/library/alpine/manifests/.INVALID"), 404, "MANIFEST_UNKNOWN");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, ABlockedDigestIs403DeniedForItsBlobAndForATagResolvingToIt) {
  auto blob = path_.put_blob(pattern_bytes(4096));
  const auto body = regmirror::testing::image_manifest("blocked");
  auto manifest = path_.put_tagged_manifest("library/alpine", "bad", body,
                                            regmirror::testing::kOciManifestType);
  path_.blocklist.replace({blob.str(), manifest.str()});
  auto reply = get(blob_path(blob));
  expect_oci_error(reply, 403, "DENIED");
  EXPECT_NE(reply.body.find("blocked"), std::string::npos) << reply.body;
  expect_oci_error(get("/v2/library/alpine/manifests/" + manifest.str()), 403, "DENIED");
  expect_oci_error(get("/v2/library/alpine/manifests/bad"), 403, "DENIED");
  // Blocking removes nothing: unblocked, it is served again.
  EXPECT_TRUE(path_.blobs().stat(blob));
  path_.blocklist.replace({});
  EXPECT_EQ(get(blob_path(blob)).status, 200u);
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, PushAndOtherMethodsAre405Unsupported) {
  expect_oci_error(ask("PUT", "/v2/library/alpine/manifests/3.19", {"Content-Length: 0"}), 405,
                   "UNSUPPORTED");
  expect_oci_error(ask("DELETE", "/v2/library/alpine/manifests/3.19"), 405, "UNSUPPORTED");
  expect_oci_error(ask("POST", "/v2/library/alpine/blobs/uploads/", {"Content-Length: 0"}), 405,
                   "UNSUPPORTED");
  expect_oci_error(ask("PATCH", "/v2/", {"Content-Length: 0"}), 405, "UNSUPPORTED");
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, UpstreamRefusalsReachTheClientAsOciErrorsWithRetryAfter) {
  path_.upstream.answer([](const SeenRequest& r) {
    if (r.target.ends_with("/limited")) {
      return TestAnswer{429, {{"Retry-After", "42"}}, "{}", {}, {}};
    }
    return TestAnswer{404, {}, "{}", {}, {}};
  });
  expect_oci_error(get("/v2/library/alpine/manifests/gone"), 404, "MANIFEST_UNKNOWN");
  auto limited = get("/v2/library/alpine/manifests/limited");
  expect_oci_error(limited, 429, "TOOMANYREQUESTS");
  EXPECT_EQ(limited.header("retry-after"), "42");
  expect_oci_error(get(blob_path(cache::digest_of("nowhere"))), 404, "BLOB_UNKNOWN");
}

TEST_F(RegistryHandlerTest, ABlobMissStreamsTheUpstreamBytesAndTheNextRequestIsAHit) {
  const auto bytes = pattern_bytes((8 << 20) + 4099, 7);
  const auto digest = cache::digest_of(bytes);
  path_.upstream.answer([bytes](const SeenRequest&) { return blob_answer(bytes); });
  auto miss = get(blob_path(digest));
  EXPECT_EQ(miss.status, 200u);
  EXPECT_EQ(miss.header("x-cache"), "MISS");
  EXPECT_EQ(miss.header("content-length"), std::to_string(bytes.size()));
  EXPECT_EQ(miss.header("docker-content-digest"), digest.str());
  EXPECT_TRUE(miss.body == bytes);
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(path_.blobs().stat(digest)); }));
  auto hit = get(blob_path(digest), {"Range: bytes=4096-"});
  EXPECT_EQ(hit.status, 206u);
  EXPECT_EQ(hit.header("x-cache"), "HIT");
  EXPECT_TRUE(hit.body == bytes.substr(4096));
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(RegistryHandlerTest, AManifestMissCarriesTheUpstreamTypeAndDigestAndIsThenHot) {
  const auto body = regmirror::testing::image_manifest("miss");
  const auto digest = cache::digest_of(body).str();
  path_.upstream.answer([body](const SeenRequest&) {
    return regmirror::testing::manifest_answer(body, kManifestListType);
  });
  auto miss = get("/v2/library/alpine/manifests/3.19");
  EXPECT_EQ(miss.status, 200u) << miss.body;
  EXPECT_EQ(miss.body, body);
  EXPECT_EQ(miss.header("x-cache"), "MISS");
  EXPECT_EQ(miss.header("content-type"), kManifestListType);
  EXPECT_EQ(miss.header("docker-content-digest"), digest);
  EXPECT_EQ(miss.header("content-length"), std::to_string(body.size()));
  auto head = ask("HEAD", "/v2/library/alpine/manifests/" + digest);
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("x-cache"), "HIT");
  EXPECT_EQ(head.header("content-type"), kManifestListType);
  EXPECT_EQ(head.header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(RegistryHandlerTest, ARangeOfABlobBeingDownloadedIs206FromTheDownload) {
  const auto bytes = pattern_bytes((8 << 20) + 17, 10);
  const auto digest = cache::digest_of(bytes);
  path_.upstream.answer([bytes](const SeenRequest&) { return blob_answer(bytes); });
  const std::uint64_t first = 3 << 20;
  auto part = get(blob_path(digest), {"Range: bytes=" + std::to_string(first) + "-"});
  EXPECT_EQ(part.status, 206u);
  EXPECT_EQ(part.header("x-cache"), "MISS");
  EXPECT_EQ(part.header("content-range"), "bytes " + std::to_string(first) + "-" +
                                              std::to_string(bytes.size() - 1) + "/" +
                                              std::to_string(bytes.size()));
  EXPECT_EQ(part.header("content-length"), std::to_string(bytes.size() - first));
  EXPECT_TRUE(part.body == bytes.substr(first));
  // The whole blob was fetched and cached, not only the range asked for.
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(path_.blobs().stat(digest)); }));
  EXPECT_TRUE(path_.stored(digest) == bytes);
  auto seen = path_.upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].headers.count("range"), 0u);
}

TEST_F(RegistryHandlerTest, WrongBytesFromTheUpstreamNeverReachAClientWhole) {
  const auto wanted = pattern_bytes(2 << 20, 11);
  const auto served = pattern_bytes(2 << 20, 12);
  const auto digest = cache::digest_of(wanted);
  path_.upstream.answer([served, digest](const SeenRequest&) {
    auto answer = blob_answer(served);
    answer.headers[1].second = digest.str();
    return answer;
  });
  LoopbackClient client(path_.address());
  auto reply = client.request("GET", blob_path(digest));
  EXPECT_FALSE(reply) << "a complete response of wrong bytes reached the client";
  EXPECT_FALSE(path_.blobs().stat(digest));
  // The server goes on serving, and a later honest upstream answer is taken.
  path_.upstream.answer([wanted](const SeenRequest&) { return blob_answer(wanted); });
  auto retry = get(blob_path(digest));
  EXPECT_EQ(retry.status, 200u);
  EXPECT_TRUE(retry.body == wanted);
}

TEST_F(RegistryHandlerTest, HeadOfAnUncachedBlobAsksTheUpstreamWithHeadAndDownloadsNothing) {
  const auto bytes = pattern_bytes(123457, 5);
  const auto digest = cache::digest_of(bytes);
  path_.upstream.answer([bytes](const SeenRequest&) { return blob_answer(bytes); });
  auto head = ask("HEAD", blob_path(digest));
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.header("content-length"), std::to_string(bytes.size()));
  EXPECT_EQ(head.header("docker-content-digest"), digest.str());
  EXPECT_EQ(head.header("x-cache"), "MISS");
  EXPECT_TRUE(head.body.empty());
  auto seen = path_.upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "HEAD");
  EXPECT_EQ(seen[0].target, blob_path(digest));
  EXPECT_FALSE(path_.blobs().stat(digest));
}

TEST_F(RegistryHandlerTest, ADownloadGoesOnAndIsCachedWhenItsOnlyClientHangsUp) {
  const auto bytes = pattern_bytes(5 << 20, 6);
  const auto digest = cache::digest_of(bytes);
  auto gate = std::make_shared<Gate>();
  path_.upstream.answer([gate, bytes](const SeenRequest&) {
    gate->wait();
    return blob_answer(bytes);
  });
  {
    LoopbackClient quitter(path_.address());
    ASSERT_TRUE(quitter.send_raw("GET " + blob_path(digest) + " HTTP/1.1\r\nHost: m\r\n\r\n"));
    ASSERT_TRUE(eventually([&] { return path_.upstream.requests().size() == 1; }));
    quitter.reset();  // gone before the upstream has sent a byte
  }
  gate->open();
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(path_.blobs().stat(digest)); }));
  EXPECT_TRUE(path_.stored(digest) == bytes);
  auto hit = get(blob_path(digest));
  EXPECT_EQ(hit.header("x-cache"), "HIT");
  EXPECT_TRUE(hit.body == bytes);
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(RegistryHandlerTest, ARefusedPushWithABodyStillGetsItsAnswer) {
  // The handler answers without reading the body; the server drains it so the answer is not
  // lost to a reset when the connection closes with unread bytes.
  const std::string body(512 * 1024, 'b');
  LoopbackClient client(path_.address());
  ASSERT_TRUE(
      client.send_raw("PUT /v2/library/alpine/manifests/3.19 HTTP/1.1\r\nHost: m\r\n"
                      "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body));
  auto reply = client.read_reply();
  ASSERT_TRUE(reply);
  expect_oci_error(*reply, 405, "UNSUPPORTED");
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(path_.upstream.requests().empty());
}

TEST_F(RegistryHandlerTest, ConcurrentMissesForOneBlobShareOneUpstreamTransfer) {
  const auto bytes = pattern_bytes(3 << 20, 8);
  const auto digest = cache::digest_of(bytes);
  auto gate = std::make_shared<Gate>();
  path_.upstream.answer([gate, bytes](const SeenRequest&) {
    gate->wait();
    return blob_answer(bytes);
  });
  LoopbackClient first(path_.address());
  LoopbackClient second(path_.address());
  const std::string request = "GET " + blob_path(digest) + " HTTP/1.1\r\nHost: m\r\n\r\n";
  ASSERT_TRUE(first.send_raw(request));
  ASSERT_TRUE(eventually([&] { return path_.upstream.requests().size() == 1; }));
  ASSERT_TRUE(second.send_raw(request));
  // The second request has joined the running download once the coalesced-waiter count says so.
  ASSERT_TRUE(eventually([&] {
    return get("/metrics").body.find("regmirror_coalesced_waiters_total 1") != std::string::npos;
  }));
  gate->open();
  auto one = first.read_reply();
  auto two = second.read_reply();
  ASSERT_TRUE(one && two);
  EXPECT_EQ(one->status, 200u);
  EXPECT_EQ(two->status, 200u);
  EXPECT_TRUE(one->body == bytes);
  EXPECT_TRUE(two->body == bytes);
  EXPECT_EQ(path_.upstream.requests().size(), 1u);
}

TEST_F(RegistryHandlerTest, AClientThatHangsUpMidBlobCostsOnlyItsOwnConnection) {
  const auto bytes = pattern_bytes(16 << 20, 9);  // far more than the socket buffers hold
  auto digest = path_.put_blob(bytes);
  {
    LoopbackClient quitter(path_.address());
    ASSERT_TRUE(quitter.send_raw("GET " + blob_path(digest) + " HTTP/1.1\r\nHost: m\r\n\r\n"));
    EXPECT_FALSE(quitter.read_some().empty());  // the answer has started
    quitter.reset();
  }
  EXPECT_EQ(get("/v2/").status, 200u);
  auto whole = get(blob_path(digest));
  EXPECT_EQ(whole.status, 200u);
  EXPECT_TRUE(whole.body == bytes);
}

}  // namespace
}  // namespace regmirror::proxy::registry
