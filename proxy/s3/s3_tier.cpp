#include "proxy/s3/s3_tier.hpp"

#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "proxy/logging/logger.hpp"
#include "proxy/server/unix_time.hpp"

namespace regmirror::proxy::s3 {
namespace {

bool read_key_file(const std::string& path, const std::string& name, std::string* out,
                   std::string* error) {
  if (path.empty()) {
    *error = "storage.s3." + name + ": is required";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "storage.s3." + name + ": cannot read " + path;
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  while (!out->empty() && (out->back() == '\n' || out->back() == '\r' || out->back() == ' ')) {
    out->pop_back();
  }
  if (out->empty()) {
    *error = "storage.s3." + name + ": " + path + " is empty";
    return false;
  }
  return true;
}

std::string replica_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "replica");
  std::random_device rd;
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

}  // namespace

std::string S3Tier::presign_blob_get(const cache::Digest& digest) const {
  return client->presign_get(bucket_blobs->key_of(digest), redirect_expiry);
}

std::unique_ptr<S3Tier> make_s3_tier(const config::Config& config, cache::BlobStore& local,
                                     cache::MetadataStore& local_meta, std::string* error) {
  if (!config.storage.s3) {
    *error = "storage.s3 is not configured";
    return nullptr;
  }
  const auto& s3 = *config.storage.s3;
  S3ClientOptions options;
  options.endpoint = s3.endpoint;
  options.bucket = s3.bucket;
  options.path_style = s3.path_style;
  options.credentials.region = s3.region;
  if (!read_key_file(s3.access_key_file, "access_key_file", &options.credentials.access_key, error) ||
      !read_key_file(s3.secret_key_file, "secret_key_file", &options.credentials.secret_key, error)) {
    return nullptr;
  }
  auto tier = std::make_unique<S3Tier>();
  tier->client = std::make_unique<S3Client>(std::move(options));
  if (auto checked = tier->client->check_bucket(); !checked) {
    *error = checked.error().message;
    return nullptr;
  }
  auto conditional = FetchLease::probe_conditional_create(*tier->client, s3.prefix);
  if (!conditional) {
    *error = conditional.error().message;
    return nullptr;
  }
  logging::info("s3_tier_ready", {{"endpoint", s3.endpoint},
                                  {"bucket", s3.bucket},
                                  {"prefix", s3.prefix},
                                  {"conditional_create", *conditional ? "true" : "false"}});

  tier->bucket_blobs = std::make_unique<S3BlobStore>(
      *tier->client, s3.prefix, std::filesystem::path(config.data_dir) / "s3-spool",
      static_cast<std::size_t>(s3.part_size_bytes));
  tier->blobs = std::make_unique<TieredBlobStore>(local, *tier->bucket_blobs);
  std::map<std::string, std::int64_t> ttl;
  for (const auto& [name, registry] : config.registries) ttl[name] = registry.tag_ttl.count();
  tier->metadata = std::make_unique<S3SharedMetadataStore>(local_meta, *tier->client, s3.prefix,
                                                           std::move(ttl), unix_now);
  LeaseOptions lease_options;
  lease_options.ttl = std::chrono::seconds(s3.lease_ttl_seconds);
  auto* bucket = tier->bucket_blobs.get();
  tier->lease = std::make_unique<FetchLease>(
      *tier->client, s3.prefix, replica_id(), *conditional,
      [bucket](const cache::Digest& digest) { return bucket->key_of(digest); }, lease_options,
      unix_now);
  tier->redirect_blobs = s3.redirect_blobs;
  tier->redirect_expiry = std::chrono::seconds(s3.redirect_expiry_seconds);
  tier->lease_wait = std::chrono::seconds(s3.lease_wait_seconds);
  return tier;
}

}  // namespace regmirror::proxy::s3
