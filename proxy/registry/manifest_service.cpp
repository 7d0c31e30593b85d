#include "proxy/registry/manifest_service.hpp"

#include <nlohmann/json.hpp>

#include "cache/blob_store.hpp"
#include "cache/manifest_references.hpp"
#include "cache/metadata_store.hpp"
#include "config/reference.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/upstream_chain.hpp"

namespace regmirror::proxy::registry {
namespace {

const std::vector<std::string> kAcceptManifests{
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"};

struct LocalManifest {
  std::string body;
  std::string media_type;
};

ManifestAnswer content_answer(std::string body, std::string media_type, std::string digest,
                              CacheOutcome outcome, std::int64_t validated_at = 0) {
  ManifestAnswer answer;
  answer.body = std::move(body);
  answer.media_type = std::move(media_type);
  answer.digest = std::move(digest);
  answer.outcome = outcome;
  answer.validated_at = validated_at;
  return answer;
}

ManifestAnswer error_answer(OciError error, std::string message) {
  ManifestAnswer answer;
  answer.error = error;
  answer.message = std::move(message);
  return answer;
}

std::optional<LocalManifest> load_local(cache::BlobStore& blobs, cache::MetadataStore& metadata,
                                        const cache::Digest& digest) {
  auto record = metadata.get_manifest(digest);
  if (!record) {
    logging::error("index_read_failed",
                   {{"digest", digest.str()}, {"error", record.error().message()}});
    return std::nullopt;
  }
  if (!*record) return std::nullopt;
  auto reader = blobs.open(digest);
  if (!reader) return std::nullopt;  // record without bytes: fetch again
  auto size = (*reader)->size();
  if (size > kMaxManifestBytes) return std::nullopt;
  std::string body(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    auto n = (*reader)->read_at(done,
                                std::as_writable_bytes(std::span(body.data() + done, size - done)));
    if (!n || *n == 0) return std::nullopt;
    done += *n;
  }
  return LocalManifest{std::move(body), (*record)->media_type};
}

// Content-Type without parameters; from the document itself when the header is unhelpful.
std::string media_type_of(const upstream::Response& response) {
  auto type = response.header("content-type");
  if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (!type.empty() && type != "application/json" && type != "text/plain" &&
      type != "application/octet-stream") {
    return type;
  }
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object() && doc.contains("mediaType") && doc["mediaType"].is_string()) {
    return doc["mediaType"].get<std::string>();
  }
  return type.empty() ? "application/vnd.oci.image.manifest.v1+json" : type;
}

// Checks an upstream's manifest against the digest it must have (when asked by digest) and the
// digest it claims (Docker-Content-Digest). Returns the real digest, or nullopt for garbage.
std::optional<cache::Digest> verify(const upstream::Response& response,
                                    const std::optional<cache::Digest>& expected) {
  auto algorithm = expected ? expected->algorithm() : cache::DigestAlgorithm::kSha256;
  auto actual = cache::digest_of(response.body, algorithm);
  if (expected && actual != *expected) return std::nullopt;
  auto claimed = cache::Digest::parse(response.header("docker-content-digest"));
  if (claimed && claimed->algorithm() == algorithm && *claimed != actual) return std::nullopt;
  return actual;
}

void store(cache::BlobStore& blobs, cache::MetadataStore& metadata, const cache::Digest& digest,
           const std::string& body, const std::string& media_type) {
  auto writer = blobs.begin_write(digest, body.size());
  boost::system::error_code ec;
  if (!writer) {
    ec = writer.error();
  } else if (auto w = (*writer)->write(std::as_bytes(std::span(body.data(), body.size()))); !w) {
    ec = w.error();
  } else if (auto c = (*writer)->commit(); !c) {
    ec = c.error();
  } else if (auto p = metadata.put_manifest(digest, {media_type, body.size()}); !p) {
    ec = p.error();
  }
  // The client still gets the verified bytes; only caching failed.
  if (ec)
    logging::error("manifest_store_failed", {{"digest", digest.str()}, {"error", ec.message()}});
}

ManifestAnswer upstream_failure(const ChainOutcome& outcome, const std::string& what) {
  if (outcome.all_not_found)
    return error_answer(OciError::kManifestUnknown, what + " not found upstream");
  if (outcome.rate_limited) {
    auto answer =
        error_answer(OciError::kTooManyRequests, "upstream rate limit reached for " + what);
    answer.retry_after = outcome.retry_after;
    return answer;
  }
  return error_answer(OciError::kUnavailable,
                      "no upstream could serve " + what + " (" + outcome.failure + ")");
}

}  // namespace

ManifestService::ManifestService(cache::BlobStore& blobs, cache::MetadataStore& metadata,
                                 metrics::Metrics& metrics, Clock clock, bool offline,
                                 HotManifestCache* hot)
    : blobs_(blobs),
      metadata_(metadata),
      metrics_(metrics),
      clock_(std::move(clock)),
      offline_(offline),
      hot_(hot) {}

ManifestAnswer ManifestService::get(const UpstreamChain& chain, const std::string& repository,
                                    const std::string& reference) {
  auto answer = reference.find(':') != std::string::npos ? by_digest(chain, repository, reference)
                                                         : by_tag(chain, repository, reference);
  if (!answer.error) {
    bool is_tag = reference.find(':') == std::string::npos;
    metrics_.cache_outcome(is_tag ? "tag" : "manifest", outcome_label(answer.outcome));
    if (hot_ != nullptr) {
      hot_->put(std::make_shared<const HotManifest>(
          HotManifest{answer.digest, answer.media_type, answer.body}));
      auto key = HotManifestCache::tag_key(chain.registry().name, repository, reference);
      if (is_tag && answer.outcome != CacheOutcome::kStale) {
        hot_->put_tag(key, answer.digest, answer.validated_at);
      } else if (is_tag) {
        hot_->drop_tag(key);
      }
    }
  } else if (hot_ != nullptr && reference.find(':') == std::string::npos) {
    hot_->drop_tag(HotManifestCache::tag_key(chain.registry().name, repository, reference));
  }
  return answer;
}

ManifestAnswer ManifestService::by_digest(const UpstreamChain& chain, const std::string& repository,
                                          const std::string& reference) {
  auto digest = cache::Digest::parse(reference);
  // A digest that cannot exist is answered here, never forwarded.
  if (!digest) return error_answer(OciError::kManifestUnknown, "invalid digest " + reference);
  if (auto local = load_local(blobs_, metadata_, *digest)) {
    return content_answer(std::move(local->body), std::move(local->media_type), digest->str(),
                          CacheOutcome::kHit);
  }
  if (offline_) return error_answer(OciError::kManifestUnknown, "not cached (offline mode)");
  auto outcome = chain.fetch(repository, "GET", "/manifests/" + reference, kAcceptManifests,
                             kMaxManifestBytes, "manifest");
  if (!outcome.response) return upstream_failure(outcome, "manifest " + reference);
  if (!verify(*outcome.response, digest)) {
    logging::error(
        "upstream_digest_mismatch",
        {{"registry", chain.registry().name}, {"repo", repository}, {"digest", digest->str()}});
    return error_answer(OciError::kUpstreamInvalid,
                        "upstream manifest does not match digest " + digest->str());
  }
  auto media_type = media_type_of(*outcome.response);
  store(blobs_, metadata_, *digest, outcome.response->body, media_type);
  ManifestAnswer answer = content_answer(std::move(outcome.response->body), std::move(media_type),
                                         digest->str(), CacheOutcome::kMiss);
  answer.upstream = chain.upstream_url(outcome.winner);
  return answer;
}

ManifestAnswer ManifestService::by_tag(const UpstreamChain& chain, const std::string& repository,
                                       const std::string& tag) {
  if (!config::is_valid_tag(tag)) {
    return error_answer(OciError::kManifestUnknown, "invalid tag " + tag);
  }
  const cache::TagKey key{chain.registry().name, repository, tag};
  std::optional<cache::TagRecord> record;
  if (auto got = metadata_.get_tag(key); got) {
    record = *got;
  } else {
    logging::error("index_read_failed", {{"registry", key.registry},
                                         {"repo", repository},
                                         {"tag", tag},
                                         {"error", got.error().message()}});
  }
  std::optional<LocalManifest> local;
  std::optional<cache::Digest> local_digest;
  if (record) {
    local_digest = cache::Digest::parse(record->digest);
    if (local_digest) local = load_local(blobs_, metadata_, *local_digest);
  }
  const auto now = clock_();
  auto serve_local = [&](CacheOutcome outcome) {
    return content_answer(local->body, local->media_type, record->digest, outcome,
                          record->validated_at);
  };

  if (local) {
    bool fresh = now - record->validated_at < chain.registry().tag_ttl.count();
    if (fresh) return serve_local(CacheOutcome::kHit);
    if (offline_ || chain.quota_low()) return serve_local(CacheOutcome::kStale);
    // Revalidate with HEAD, which Docker Hub does not count against the pull limit.
    auto head =
        chain.fetch(repository, "HEAD", "/manifests/" + tag, kAcceptManifests, 0, "manifest");
    if (head.response) {
      auto current = cache::Digest::parse(head.response->header("docker-content-digest"));
      if (current && *current == *local_digest) {
        record->validated_at = now;
        if (auto put = metadata_.put_tag(key, *record); !put) {
          logging::error("index_write_failed",
                         {{"repo", repository}, {"tag", tag}, {"error", put.error().message()}});
        }
        return serve_local(CacheOutcome::kHit);
      }
      if (current) {
        // The tag moved: to content we may already hold (a tag moved back, or shared).
        if (auto moved = load_local(blobs_, metadata_, *current)) {
          cache::TagRecord updated{current->str(), moved->media_type, moved->body.size(), now, now};
          (void)metadata_.put_tag(key, updated);
          return content_answer(std::move(moved->body), std::move(moved->media_type),
                                current->str(), CacheOutcome::kHit, now);
        }
      }
      // Otherwise fall through to a GET.
    } else if (head.all_not_found) {
      (void)metadata_.delete_tag(key);
      return error_answer(OciError::kManifestUnknown, "tag " + tag + " no longer exists upstream");
    } else {
      logging::warn("tag_served_stale", {{"registry", key.registry},
                                         {"repo", repository},
                                         {"tag", tag},
                                         {"digest", record->digest},
                                         {"reason", head.failure}});
      return serve_local(CacheOutcome::kStale);
    }
  } else if (offline_) {
    return error_answer(OciError::kManifestUnknown, "tag " + tag + " not cached (offline mode)");
  }

  auto outcome = chain.fetch(repository, "GET", "/manifests/" + tag, kAcceptManifests,
                             kMaxManifestBytes, "manifest");
  if (!outcome.response) {
    if (local && !outcome.all_not_found) return serve_local(CacheOutcome::kStale);
    return upstream_failure(outcome, "manifest " + repository + ":" + tag);
  }
  auto digest = verify(*outcome.response, std::nullopt);
  // By tag nothing vouches for the bytes but the upstream: a body that is not a manifest
  // (truncated JSON, an HTML error page) must not become what the tag means for a TTL.
  if (digest && !cache::parse_manifest_references(outcome.response->body)) {
    logging::error("upstream_manifest_malformed",
                   {{"registry", key.registry}, {"repo", repository}, {"tag", tag}});
    if (local) return serve_local(CacheOutcome::kStale);
    return error_answer(OciError::kUpstreamInvalid, "upstream sent a malformed manifest for " +
                                                        repository + ":" + tag);
  }
  if (!digest) {
    logging::error("upstream_digest_mismatch",
                   {{"registry", key.registry}, {"repo", repository}, {"tag", tag}});
    if (local) return serve_local(CacheOutcome::kStale);
    return error_answer(OciError::kUpstreamInvalid,
                        "upstream manifest does not match its Docker-Content-Digest");
  }
  auto media_type = media_type_of(*outcome.response);
  store(blobs_, metadata_, *digest, outcome.response->body, media_type);
  cache::TagRecord updated{digest->str(), media_type, outcome.response->body.size(), now, now};
  if (auto put = metadata_.put_tag(key, updated); !put) {
    logging::error("index_write_failed",
                   {{"repo", repository}, {"tag", tag}, {"error", put.error().message()}});
  }
  ManifestAnswer answer = content_answer(std::move(outcome.response->body), std::move(media_type),
                                         digest->str(), CacheOutcome::kMiss, now);
  answer.upstream = chain.upstream_url(outcome.winner);
  return answer;
}

}  // namespace regmirror::proxy::registry
