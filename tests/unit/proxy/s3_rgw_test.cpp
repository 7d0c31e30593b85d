// The S3 tier against a real S3 implementation: Ceph RADOS Gateway on a throwaway single-node
// cluster, started by this binary on first use (tests/integration/ceph_rgw.py, ~3 s) and
// stopped at exit. $REGMIRROR_S3_TEST_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY) reuses a running one.
// Nothing is skipped: if RGW cannot start, every test here fails with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "cache/cache_error.hpp"
#include "cache/fs_blob_store.hpp"
#include "cache/memory_metadata_store.hpp"
#include "proxy/s3/fetch_lease.hpp"
#include "proxy/s3/object_upload.hpp"
#include "proxy/s3/s3_blob_store.hpp"
#include "proxy/s3/s3_shared_metadata_store.hpp"
#include "proxy/s3/s3_tier.hpp"
#include "proxy/s3/tiered_blob_store.hpp"
#include "tests/unit/cache/blob_store_conformance.hpp"
#include "tests/unit/cache/metadata_store_fixture.hpp"

namespace regmirror::proxy::s3 {
namespace {

namespace fs = std::filesystem;

// The source tree, from the build tree's CMakeCache.txt (the test binary lives in the build tree).
fs::path source_dir() {
  std::error_code ec;
  for (auto dir = fs::read_symlink("/proc/self/exe", ec).parent_path(); !dir.empty() && dir != "/";
       dir = dir.parent_path()) {
    std::ifstream cache(dir / "CMakeCache.txt");
    std::string line;
    while (std::getline(cache, line)) {
      if (line.rfind("CMAKE_HOME_DIRECTORY:INTERNAL=", 0) == 0) return line.substr(30);
    }
  }
  return {};
}

std::string run_capture(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *status = -1;
    return out;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  *status = ::pclose(pipe);
  return out;
}

struct Rgw {
  std::string endpoint, access_key, secret_key, region = "us-east-1";
  std::string dir;
  std::string failure;
  double start_seconds = 0;

  Rgw() {
    if (const char* env = std::getenv("REGMIRROR_S3_TEST_ENDPOINT")) {
      endpoint = env;
      access_key = std::getenv("REGMIRROR_S3_TEST_ACCESS_KEY") ? std::getenv("REGMIRROR_S3_TEST_ACCESS_KEY") : "";
      secret_key = std::getenv("REGMIRROR_S3_TEST_SECRET_KEY") ? std::getenv("REGMIRROR_S3_TEST_SECRET_KEY") : "";
      return;
    }
    auto script = source_dir() / "tests" / "integration" / "ceph_rgw.py";
    if (!fs::exists(script)) {
      failure = "cannot find tests/integration/ceph_rgw.py (source dir from CMakeCache.txt: '" +
                source_dir().string() + "')";
      return;
    }
    dir = (fs::temp_directory_path() / ("regmirror-rgw-unit-" + std::to_string(::getpid()))).string();
    int status = 0;
    auto out = run_capture("/usr/bin/python3 " + script.string() + " start " + dir + " 2>&1", &status);
    auto value = [&](const std::string& name) {
      auto pos = out.find(name + "=");
      if (pos == std::string::npos) return std::string();
      auto end = out.find('\n', pos);
      return out.substr(pos + name.size() + 1, end - pos - name.size() - 1);
    };
    if (status != 0 || value("S3_ENDPOINT").empty()) {
      failure = "Ceph RGW did not start (exit " + std::to_string(status) + "): " + out;
      return;
    }
    endpoint = value("S3_ENDPOINT");
    access_key = value("S3_ACCESS_KEY");
    secret_key = value("S3_SECRET_KEY");
    start_seconds = std::stod(value("S3_START_SECONDS"));
    std::fprintf(stderr, "[s3_rgw_test] Ceph RGW at %s, started in %.1f s\n", endpoint.c_str(),
                 start_seconds);
  }
  ~Rgw() {
    if (dir.empty()) return;
    int status = 0;
    run_capture("/usr/bin/python3 " + (source_dir() / "tests/integration/ceph_rgw.py").string() +
                    " stop " + dir + " 2>&1",
                &status);
  }
};

Rgw& rgw() {
  static Rgw instance;
  return instance;
}

std::string unique_name(const char* what) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::string(what) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
         "-" + std::to_string(rd() % 100000);
}

S3ClientOptions options_for(const std::string& bucket, const std::string& secret = "") {
  S3ClientOptions options;
  options.endpoint = rgw().endpoint;
  options.bucket = bucket;
  options.path_style = true;
  options.credentials = {rgw().access_key, secret.empty() ? rgw().secret_key : secret, rgw().region,
                         "s3"};
  options.max_attempts = 2;
  return options;
}

using cache::testing::bytes_of;
using cache::testing::read_all;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

class S3Rgw : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rgw().failure.empty()) << rgw().failure;
    bucket_ = unique_name("b");
    client_ = std::make_unique<S3Client>(options_for(bucket_));
    auto created = client_->create_bucket();
    ASSERT_TRUE(created) << created.error().message;
    dir_ = fs::temp_directory_path() / unique_name("regmirror-s3-test");
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string bucket_;
  std::unique_ptr<S3Client> client_;
  fs::path dir_;
};

TEST_F(S3Rgw, KeysWithSlashPlusEqualsAndReservedCharactersSignCorrectly) {
  for (std::string key : {"a/b+c=d", "blobs/sha256/x=y+z", "dir/with space/%41~_.-", "q?x&y#z;w"}) {
    SCOPED_TRACE("key: " + key);
    auto put = client_->put_object(key, "payload:" + key);
    ASSERT_TRUE(put) << put.error().message;
    auto got = client_->get_object(key, 1024);
    ASSERT_TRUE(got) << got.error().message;
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, "payload:" + key);
    auto head = client_->head_object(key);
    ASSERT_TRUE(head && head->has_value());
    EXPECT_EQ((*head)->size, ("payload:" + key).size());
  }
  // A listing whose prefix and delimiter need encoding in the query string.
  auto page = client_->list("a/b+c", "=", "");
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->common_prefixes.size(), 1u);
  EXPECT_EQ(page->common_prefixes[0], "a/b+c=");
  auto all = client_->list("", "", "", 2);  // paged: 4 keys, 2 per page
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->objects.size(), 2u);
  ASSERT_FALSE(all->next_token.empty());
  auto rest = client_->list("", "", all->next_token, 2);
  ASSERT_TRUE(rest) << rest.error().message;
  EXPECT_EQ(rest->objects.size(), 2u);
  EXPECT_TRUE(client_->delete_object("a/b+c=d"));
  auto gone = client_->get_object("a/b+c=d", 1024);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
}

TEST_F(S3Rgw, WrongSecretIsRefusedWithAClearError) {
  S3Client wrong(options_for(bucket_, "not-the-secret"));
  auto checked = wrong.check_bucket();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, S3Errc::kSignature);
  EXPECT_EQ(checked.error().message, "S3 refused the signature (SignatureDoesNotMatch) for bucket " +
                                         bucket_ + " (check secret_key_file)");
  EXPECT_EQ(checked.error().message.find("not-the-secret"), std::string::npos);

  // The same through the start-up path serve uses.
  config::Config config;
  config.data_dir = dir_.string();
  config::S3Config s3;
  s3.endpoint = rgw().endpoint;
  s3.bucket = bucket_;
  s3.path_style = true;
  s3.access_key_file = (dir_ / "access").string();
  s3.secret_key_file = (dir_ / "secret").string();
  std::ofstream(s3.access_key_file) << rgw().access_key << "\n";
  std::ofstream(s3.secret_key_file) << "wrong-secret\n";
  config.storage.s3 = s3;
  cache::MemoryMetadataStore meta;
  auto local = cache::FsBlobStore::open_at(dir_ / "local");
  std::string error;
  EXPECT_EQ(make_s3_tier(config, **local, meta, &error), nullptr);
  EXPECT_EQ(error, "S3 refused the signature (SignatureDoesNotMatch) for bucket " + bucket_ +
                       " (check secret_key_file)");
  std::ofstream(s3.secret_key_file) << rgw().secret_key << "\n";
  EXPECT_NE(make_s3_tier(config, **local, meta, &error), nullptr) << error;
}

TEST_F(S3Rgw, MissingBucketIsNamed) {
  S3Client missing(options_for("no-such-bucket-" + bucket_));
  auto checked = missing.check_bucket();
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, S3Errc::kNoSuchBucket);
  EXPECT_NE(checked.error().message.find("no-such-bucket-" + bucket_), std::string::npos);
}

TEST_F(S3Rgw, RangedGetStreamsOnlyTheRange) {
  const std::string content = random_bytes(100000, 7);
  ASSERT_TRUE(client_->put_object("r", content));
  std::string got;
  ObjectInfo seen;
  GetSink sink{[&](const ObjectInfo& info) { seen = info; return true; },
               [&](std::span<const std::byte> data) {
                 got.append(reinterpret_cast<const char*>(data.data()), data.size());
                 return true;
               }};
  auto info = client_->get_stream("r", std::make_pair<std::uint64_t, std::uint64_t>(1000, 1999), sink);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(seen.size, content.size());  // the whole object's size, from Content-Range
  EXPECT_EQ(got, content.substr(1000, 1000));
  GetSink missing{[](const ObjectInfo&) { return true; }, [](auto) { return true; }};
  auto absent = client_->get_stream("nope", std::nullopt, missing);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, S3Errc::kNotFound);
}

TEST_F(S3Rgw, MultipartUploadStreamsPartsAndAppearsOnlyOnComplete) {
  const std::string content = random_bytes(12 << 20, 3);  // 3 parts of 5 MiB (last 2 MiB)
  ObjectUpload upload(*client_, "big", kMinPartSize);
  for (std::size_t at = 0; at < content.size(); at += 100000) {
    ASSERT_TRUE(upload.write(bytes_of(content.substr(at, 100000))));
  }
  auto before = client_->head_object("big");
  ASSERT_TRUE(before);
  EXPECT_FALSE(before->has_value()) << "a multipart object must not be visible before complete";
  auto done = upload.complete();
  ASSERT_TRUE(done) << done.error().message;
  auto got = client_->get_object("big", content.size());
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ(cache::digest_of(**got), cache::digest_of(content));

  ObjectUpload aborted(*client_, "aborted", kMinPartSize);
  ASSERT_TRUE(aborted.write(bytes_of(content)));
  aborted.abort();
  auto absent = client_->head_object("aborted");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
}

// --- S3BlobStore and S3SharedMetadataStore in the cache layer's conformance suites ---
// (tests/unit/cache/blob_store_conformance_test.cpp, metadata_store_*_test.cpp): every case of
// the BlobStore and MetadataStore contracts runs against a fresh bucket as "s3" / "s3_shared".
// The stores borrow their client (and the shared store its local tier); those live to exit.

struct Borrowed {
  std::unique_ptr<S3Client> client;
  std::unique_ptr<cache::MetadataStore> local;
};

std::vector<Borrowed>& borrowed() {
  static std::vector<Borrowed> kept;
  return kept;
}

// A client of a new bucket, or nullptr (with the reason as a test failure).
S3Client* fresh_bucket_client() {
  if (!rgw().failure.empty()) {
    ADD_FAILURE() << rgw().failure;
    return nullptr;
  }
  auto client = std::make_unique<S3Client>(options_for(unique_name("conformance")));
  auto created = client->create_bucket();
  if (!created) {
    ADD_FAILURE() << created.error().message;
    return nullptr;
  }
  borrowed().push_back({std::move(client), nullptr});
  return borrowed().back().client.get();
}

[[maybe_unused]] const bool kS3BlobStoreInSuite = cache::testing::add_blob_store(
    {"s3", [](const fs::path& dir) -> std::unique_ptr<cache::BlobStore> {
       auto* client = fresh_bucket_client();
       if (client == nullptr) return nullptr;
       return std::make_unique<S3BlobStore>(*client, "mirror/", dir / "spool", kMinPartSize);
     }});

[[maybe_unused]] const bool kS3SharedStoreInSuite = cache::testing::add_metadata_store(
    {"s3_shared", [](const fs::path&) -> std::unique_ptr<cache::MetadataStore> {
       auto* client = fresh_bucket_client();
       if (client == nullptr) return nullptr;
       borrowed().back().local = std::make_unique<cache::MemoryMetadataStore>();
       // No registry has a tag TTL here: every get_tag asks the bucket, the path under test.
       return std::make_unique<S3SharedMetadataStore>(
           *borrowed().back().local, *client, "shared/", std::map<std::string, std::int64_t>{},
           [] { return static_cast<std::int64_t>(std::time(nullptr)); });
     }});

// What only the bucket shows: the content-addressed key layout, wrong bytes that never reach
// the bucket even as a multipart upload, and listings that skip foreign keys.
class S3BlobStoreTest : public S3Rgw {
 protected:
  void SetUp() override {
    S3Rgw::SetUp();
    if (HasFatalFailure()) return;
    store_ = std::make_unique<S3BlobStore>(*client_, "mirror/", dir_ / "spool", kMinPartSize);
  }
  std::unique_ptr<S3BlobStore> store_;
};

TEST_F(S3BlobStoreTest, CommittedBlobIsContentAddressedInTheBucket) {
  const std::string content = "layer bytes";
  auto digest = cache::digest_of(content);
  auto writer = store_->begin_write(digest, content.size());
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write(bytes_of(content)));
  ASSERT_TRUE((*writer)->commit());
  auto raw = client_->get_object("mirror/blobs/sha256/" + std::string(digest.hex()), 1024);
  ASSERT_TRUE(raw && raw->has_value());
  EXPECT_EQ(**raw, content);
}

TEST_F(S3BlobStoreTest, WrongBytesNeverReachTheBucket) {
  auto digest = cache::digest_of("the real content");
  auto writer = store_->begin_write(digest, std::nullopt);
  ASSERT_TRUE((*writer)->write(bytes_of("evil content....")));
  EXPECT_EQ((*writer)->commit().error(), cache::CacheErrc::kDigestMismatch);
  auto raw = client_->head_object(store_->key_of(digest));
  ASSERT_TRUE(raw);
  EXPECT_FALSE(raw->has_value());
}

TEST_F(S3BlobStoreTest, WrongBytesOfAMultipartBlobAreNeverVisible) {
  const std::string content = random_bytes(11 << 20, 5);
  auto digest = cache::digest_of("something else");
  auto writer = store_->begin_write(digest, std::nullopt);
  ASSERT_TRUE((*writer)->write(bytes_of(content)));  // two parts already uploaded
  EXPECT_EQ((*writer)->commit().error(), cache::CacheErrc::kDigestMismatch);
  EXPECT_EQ(store_->stat(digest).error(), cache::CacheErrc::kNotFound);
}

TEST_F(S3BlobStoreTest, ReadersOfALargeBlobSurviveRemoval) {
  const std::string content = random_bytes(3 << 20, 9);
  auto digest = cache::digest_of(content);
  auto writer = store_->begin_write(digest, content.size());
  ASSERT_TRUE((*writer)->write(bytes_of(content)));
  ASSERT_TRUE((*writer)->commit());
  auto reader = store_->open(digest);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(store_->remove(digest));
  EXPECT_EQ(cache::digest_of(read_all(**reader)), digest);
}

TEST_F(S3BlobStoreTest, ForEachListsCommittedBlobsAndSkipsForeignKeys) {
  std::set<cache::Digest> written;
  for (int i = 0; i < 3; ++i) {
    auto content = "blob " + std::to_string(i);
    auto digest = cache::digest_of(content);
    auto writer = store_->begin_write(digest, content.size());
    ASSERT_TRUE((*writer)->write(bytes_of(content)));
    ASSERT_TRUE((*writer)->commit());
    written.insert(digest);
  }
  ASSERT_TRUE(client_->put_object("mirror/blobs/sha256/not-a-digest", "x"));  // ignored
  std::set<cache::Digest> listed;
  ASSERT_TRUE(store_->for_each([&](const cache::Digest& d, const cache::BlobInfo&) { listed.insert(d); }));
  EXPECT_EQ(listed, written);
}

// --- Tiered store ---

TEST_F(S3Rgw, TieredStoreTeesWritesAndFillsAnEmptyLocalTierFromTheBucket) {
  S3BlobStore bucket(*client_, "", dir_ / "spool", kMinPartSize);
  auto local_a = cache::FsBlobStore::open_at(dir_ / "a");
  auto local_b = cache::FsBlobStore::open_at(dir_ / "b");
  TieredBlobStore replica_a(**local_a, bucket);
  TieredBlobStore replica_b(**local_b, bucket);
  const std::string content = random_bytes(9 << 20, 11);  // multipart through the tee
  auto digest = cache::digest_of(content);

  auto writer = replica_a.begin_write(digest, content.size());
  ASSERT_TRUE(writer);
  ASSERT_TRUE((*writer)->write(bytes_of(content)));
  ASSERT_TRUE((*writer)->commit());
  EXPECT_TRUE((*local_a)->stat(digest));
  ASSERT_TRUE(bucket.stat(digest));

  // Replica B has nothing locally: open() streams from the bucket and fills its disk.
  EXPECT_EQ((*local_b)->stat(digest).error(), cache::CacheErrc::kNotFound);
  EXPECT_EQ(replica_b.stat(digest)->size, content.size());
  {
    auto reader = replica_b.open(digest);
    ASSERT_TRUE(reader);
    EXPECT_EQ(cache::digest_of(read_all(**reader)), digest);
  }
  EXPECT_EQ((*local_b)->stat(digest)->size, content.size());

  // Local eviction never deletes from the bucket.
  ASSERT_TRUE(replica_b.remove(digest));
  EXPECT_TRUE(bucket.stat(digest));
  std::size_t local_count = 0;
  ASSERT_TRUE(replica_b.for_each([&](const cache::Digest&, const cache::BlobInfo&) { ++local_count; }));
  EXPECT_EQ(local_count, 0u);

  // Wrong bytes: neither tier gets them.
  auto bad_digest = cache::digest_of("expected");
  auto bad = replica_a.begin_write(bad_digest, std::nullopt);
  ASSERT_TRUE((*bad)->write(bytes_of("not expected")));
  EXPECT_EQ((*bad)->commit().error(), cache::CacheErrc::kDigestMismatch);
  EXPECT_EQ(bucket.stat(bad_digest).error(), cache::CacheErrc::kNotFound);
  EXPECT_EQ(replica_a.stat(bad_digest).error(), cache::CacheErrc::kNotFound);
}

TEST_F(S3Rgw, CorruptBucketObjectNeverReachesAReaderWhole) {
  S3BlobStore bucket(*client_, "", dir_ / "spool", kMinPartSize);
  auto local = cache::FsBlobStore::open_at(dir_ / "l");
  TieredBlobStore tiered(**local, bucket);
  const std::string content = "genuine bytes";
  auto digest = cache::digest_of(content);
  // Someone overwrote the object with other bytes of the same length.
  ASSERT_TRUE(client_->put_object(bucket.key_of(digest), "tampered byte"));
  auto reader = tiered.open(digest);
  ASSERT_TRUE(reader);
  std::string out(content.size(), '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = (*reader)->read_at(got, std::as_writable_bytes(std::span(out.data() + got, out.size() - got)));
    if (!n || *n == 0) break;
    got += *n;
  }
  EXPECT_LT(got, content.size()) << "the last byte must be withheld when the digest does not match";
  EXPECT_EQ((*local)->stat(digest).error(), cache::CacheErrc::kNotFound);
}

// --- Shared tag records ---

TEST_F(S3Rgw, TagValidatedByOneReplicaIsFreshForAnother) {
  std::int64_t now = 1000;
  cache::MemoryMetadataStore local_a, local_b;
  S3SharedMetadataStore a(local_a, *client_, "p/", {{"docker.io", 300}}, [&] { return now; });
  S3SharedMetadataStore b(local_b, *client_, "p/", {{"docker.io", 300}}, [&] { return now; });
  cache::TagKey key{"docker.io", "library/alpine", "3.19"};
  auto digest = cache::digest_of("manifest").str();
  cache::TagRecord old_record{digest, "application/vnd.oci.image.manifest.v1+json", 8, 100, 100};
  ASSERT_TRUE(b.put_tag(key, old_record));  // B knows it from long ago
  cache::TagRecord fresh{digest, old_record.media_type, 8, 100, 990};
  ASSERT_TRUE(a.put_tag(key, fresh));       // A revalidated it just now
  auto seen = b.get_tag(key);
  ASSERT_TRUE(seen && seen->has_value());
  EXPECT_EQ((*seen)->validated_at, 990) << "B must see A's validation";
  EXPECT_EQ((*local_b.get_tag(key))->validated_at, 990) << "and keep it locally";

  // An empty replica knows every tag and manifest in the bucket.
  cache::MemoryMetadataStore local_c;
  S3SharedMetadataStore c(local_c, *client_, "p/", {}, [&] { return now; });
  auto from_bucket = c.get_tag(key);
  ASSERT_TRUE(from_bucket && from_bucket->has_value());
  EXPECT_EQ((*from_bucket)->digest, digest);
  ASSERT_TRUE(a.put_manifest(*cache::Digest::parse(digest), {fresh.media_type, 8}));
  auto manifest = c.get_manifest(*cache::Digest::parse(digest));
  ASSERT_TRUE(manifest && manifest->has_value());
  EXPECT_EQ((*manifest)->media_type, fresh.media_type);
  ASSERT_TRUE(a.put_tag({"docker.io", "library/alpine", "3.20"}, fresh));
  ASSERT_TRUE(a.put_tag({"docker.io", "library/alpine/sub", "x"}, fresh));  // another repo
  auto tags = c.list_tags("docker.io", "library/alpine");
  ASSERT_TRUE(tags);
  EXPECT_EQ(*tags, (std::vector<std::string>{"3.19", "3.20"}));
  auto all = c.list_all_tags();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  ASSERT_TRUE(c.delete_tag(key));
  auto deleted = b.list_tags("docker.io", "library/alpine");
  ASSERT_TRUE(deleted);
  EXPECT_EQ(*deleted, (std::vector<std::string>{"3.19", "3.20"})) << "B's local copy remains";
  auto absent = client_->get_object(c.tag_object_key(key), 1024);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
}

// --- Leases ---

TEST_F(S3Rgw, LeaseLetsOneReplicaFetchAndTheOthersWaitForTheObject) {
  auto conditional = FetchLease::probe_conditional_create(*client_, "");
  ASSERT_TRUE(conditional) << conditional.error().message;
  std::fprintf(stderr, "[s3_rgw_test] conditional create (If-None-Match: *) supported: %s\n",
               *conditional ? "yes" : "no");
  std::int64_t now = 5000;
  S3BlobStore bucket(*client_, "", dir_ / "spool", kMinPartSize);
  auto key_of = [&bucket](const cache::Digest& d) { return bucket.key_of(d); };
  LeaseOptions options;
  options.poll = std::chrono::milliseconds(50);
  options.fallback_settle = std::chrono::milliseconds(50);
  FetchLease a(*client_, "", "replica-a", *conditional, key_of, options, [&] { return now; });
  FetchLease b(*client_, "", "replica-b", *conditional, key_of, options, [&] { return now; });
  const std::string content = "layer";
  auto digest = cache::digest_of(content);

  ASSERT_TRUE(a.try_acquire(digest));
  EXPECT_FALSE(b.try_acquire(digest));
  std::thread holder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto writer = bucket.begin_write(digest, content.size());
    (void)(*writer)->write(bytes_of(content));
    (void)(*writer)->commit();
    a.release(digest);
  });
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(b.wait_for_object(digest, started + std::chrono::seconds(20)));
  holder.join();

  // A holder that gives up without the object: the waiter returns false at once, not at the deadline.
  auto other = cache::digest_of("other");
  ASSERT_TRUE(a.try_acquire(other));
  a.release(other);
  EXPECT_FALSE(b.wait_for_object(other, std::chrono::steady_clock::now() + std::chrono::seconds(20)));

  // A dead holder's lease expires and can be taken over.
  auto third = cache::digest_of("third");
  ASSERT_TRUE(a.try_acquire(third));
  EXPECT_FALSE(b.try_acquire(third));
  now += 3600;  // a's renewals use the same clock; freeze them by checking before the next tick
  ASSERT_TRUE(client_->put_object(a.key_of(third), R"({"owner":"replica-a","expires_at":1})"));
  EXPECT_TRUE(b.try_acquire(third));
  b.release(third);
  a.release(third);
}

TEST_F(S3Rgw, PresignedUrlServesTheBlobAndATamperedOneIsRefused) {
  const std::string content = "presigned content";
  ASSERT_TRUE(client_->put_object("blobs/sha256/p+q=r", content));
  auto url = client_->presign_get("blobs/sha256/p+q=r", std::chrono::seconds(60));
  ASSERT_EQ(url.rfind(rgw().endpoint + "/" + bucket_ + "/blobs/sha256/p%2Bq%3Dr?", 0), 0u) << url;
  int status = 0;
  auto body = run_capture("curl -s '" + url + "'", &status);
  EXPECT_EQ(body, content);
  auto tampered = url;
  tampered[tampered.size() - 1] = tampered.back() == '0' ? '1' : '0';
  auto code = run_capture("curl -s -o /dev/null -w '%{http_code}' '" + tampered + "'", &status);
  EXPECT_EQ(code, "403");
}

}  // namespace
}  // namespace regmirror::proxy::s3
