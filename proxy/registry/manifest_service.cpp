#include "proxy/registry/manifest_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>
#include <optional>

#include "cache/blob_store.hpp"
#include "cache/manifest_references.hpp"
#include "cache/metadata_store.hpp"
#include "cache/referrer_index.hpp"
#include "config/reference.hpp"
#include "proxy/logging/logger.hpp"
#include "proxy/metrics/metrics.hpp"
#include "proxy/registry/hot_manifest_cache.hpp"
#include "proxy/registry/shared_result.hpp"
#include "proxy/registry/upstream_chain.hpp"
#include "proxy/server/offload.hpp"

namespace regmirror::proxy::registry {

const std::vector<std::string>& manifest_accept_headers() {
  static const std::vector<std::string> kHeaders{
      "Accept: application/vnd.oci.image.index.v1+json, "
      "application/vnd.oci.image.manifest.v1+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json, "
      "application/vnd.docker.distribution.manifest.v2+json"};
  return kHeaders;
}

namespace {

namespace asio = boost::asio;

// How long a request waits for a shared fetch of a tag it has nothing cached for.
constexpr auto kMissWait = std::chrono::minutes(3);

struct LocalManifest {
  std::string body;
  std::string media_type;
};

Manifest content(std::string body, std::string media_type, std::string digest,
                 CacheOutcome outcome, std::int64_t validated_at = 0) {
  Manifest out;
  out.body = std::move(body);
  out.media_type = std::move(media_type);
  out.digest = std::move(digest);
  out.outcome = outcome;
  out.validated_at = validated_at;
  return out;
}

Answer<Manifest> failed(OciError code, std::string message) {
  return Answer<Manifest>(boost::system::in_place_error, registry_error(code, std::move(message)));
}

// Blocking (index pool).
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

// Blocking (index pool). The client gets the verified bytes even when only caching failed.
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
  } else if (auto r = cache::index_referrer(metadata, digest, body, media_type); !r) {
    ec = r.error();
  }
  if (ec) {
    logging::error("manifest_store_failed", {{"digest", digest.str()}, {"error", ec.message()}});
  }
}

void put_tag(cache::MetadataStore& metadata, const cache::TagKey& key,
             const cache::TagRecord& record) {
  if (auto put = metadata.put_tag(key, record); !put) {
    logging::error("index_write_failed", {{"registry", key.registry},
                                          {"repo", key.repository},
                                          {"tag", key.tag},
                                          {"error", put.error().message()}});
  }
}

bool is_digest_reference(const std::string& reference) {
  return reference.find(':') != std::string::npos;
}

}  // namespace

// What is known locally about one tag, read in one trip to the index pool.
struct ManifestService::TagState {
  cache::TagKey key;
  std::optional<cache::TagRecord> record;
  std::optional<cache::Digest> local_digest;
  std::optional<LocalManifest> local;
  bool pinned = false;

  Manifest serve_local(CacheOutcome outcome) const {
    return content(local->body, local->media_type, record->digest, outcome, record->validated_at);
  }
};

ManifestService::ManifestService(cache::BlobStore& blobs, cache::MetadataStore& metadata,
                                 metrics::Metrics& metrics, asio::thread_pool& index_pool,
                                 Clock clock, bool offline, HotManifestCache* hot)
    : blobs_(blobs),
      metadata_(metadata),
      metrics_(metrics),
      index_pool_(index_pool),
      clock_(std::move(clock)),
      offline_(offline),
      hot_(hot) {}

ManifestService::~ManifestService() = default;

asio::awaitable<Answer<Manifest>> ManifestService::get(const UpstreamChain& chain,
                                                       std::string repository,
                                                       std::string reference) {
  const bool is_tag = !is_digest_reference(reference);
  // if/else, not ?: with co_await in both arms: GCC 12 destroys such temporaries twice.
  Answer<Manifest> answer = failed(OciError::kInternal, "unreachable");
  if (is_tag) {
    answer = co_await by_tag(chain, repository, reference);
  } else {
    answer = co_await by_digest(chain, repository, reference);
  }
  const auto key = HotManifestCache::tag_key(chain.registry().name, repository, reference);
  if (answer) {
    metrics_.cache_outcome(is_tag ? "tag" : "manifest", outcome_label(answer->outcome));
    if (hot_ != nullptr) {
      hot_->put(std::make_shared<const HotManifest>(
          HotManifest{answer->digest, answer->media_type, answer->body}));
      if (is_tag && answer->outcome != CacheOutcome::kStale) {
        hot_->put_tag(key, answer->digest, answer->validated_at);
      } else if (is_tag) {
        hot_->drop_tag(key);
      }
    }
  } else if (hot_ != nullptr && is_tag) {
    hot_->drop_tag(key);
  }
  co_return answer;
}

asio::awaitable<Answer<Manifest>> ManifestService::by_digest(const UpstreamChain& chain,
                                                             std::string repository,
                                                             std::string reference) {
  auto digest = cache::Digest::parse(reference);
  // A digest that cannot exist is answered here, never forwarded.
  if (!digest) co_return failed(OciError::kManifestUnknown, "invalid digest " + reference);
  auto* blobs = &blobs_;
  auto* metadata = &metadata_;
  auto find = [blobs, metadata, d = *digest] { return load_local(*blobs, *metadata, d); };
  auto local = co_await server::offload(index_pool_, std::move(find));
  if (local) {
    co_return content(std::move(local->body), std::move(local->media_type), digest->str(),
                      CacheOutcome::kHit);
  }
  if (offline_) {
    co_return failed(OciError::kManifestUnknown, "manifest " + reference + " not cached (offline mode)");
  }
  auto got = co_await chain.fetch(repository, "GET", "/manifests/" + reference, manifest_accept_headers(),
                                  kMaxManifestBytes, "manifest", OciError::kManifestUnknown,
                                  "manifest " + reference);
  if (!got) co_return Answer<Manifest>(boost::system::in_place_error, got.error());
  if (!verify(got->response, digest)) {
    logging::error("upstream_digest_mismatch", {{"registry", chain.registry().name},
                                                {"repo", repository},
                                                {"digest", digest->str()},
                                                {"upstream", got->upstream}});
    co_return failed(OciError::kUpstreamInvalid,
                     "upstream manifest does not match digest " + digest->str());
  }
  auto media_type = media_type_of(got->response);
  auto body = std::move(got->response.body);
  auto save = [blobs, metadata, d = *digest, &body, &media_type] {
    store(*blobs, *metadata, d, body, media_type);
    return true;
  };
  co_await server::offload(index_pool_, std::move(save));
  Manifest answer = content(std::move(body), std::move(media_type), digest->str(), CacheOutcome::kMiss);
  answer.upstream = got->upstream;
  co_return answer;
}

asio::awaitable<Answer<Manifest>> ManifestService::by_tag(const UpstreamChain& chain,
                                                          std::string repository, std::string tag) {
  if (!config::is_valid_tag(tag)) co_return failed(OciError::kManifestUnknown, "invalid tag " + tag);
  auto state = std::make_shared<TagState>();
  state->key = cache::TagKey{chain.registry().name, repository, tag};
  auto* blobs = &blobs_;
  auto* metadata = &metadata_;
  auto read = [blobs, metadata, state] {
    const auto& key = state->key;
    if (auto got = metadata->get_tag(key); got) {
      state->record = *got;
    } else {
      logging::error("index_read_failed", {{"registry", key.registry},
                                           {"repo", key.repository},
                                           {"tag", key.tag},
                                           {"error", got.error().message()}});
    }
    if (state->record) {
      state->local_digest = cache::Digest::parse(state->record->digest);
      if (state->local_digest) state->local = load_local(*blobs, *metadata, *state->local_digest);
    }
    auto pin = metadata->get_pin(key.registry + "/" + key.repository + ":" + key.tag);
    state->pinned = pin && pin->has_value();
    return true;
  };
  co_await server::offload(index_pool_, std::move(read));

  if (state->local) {
    const auto now = clock_();
    if (now - state->record->validated_at < chain.registry().tag_ttl.count()) {
      co_return state->serve_local(CacheOutcome::kHit);
    }
    if (offline_ || chain.quota_low()) co_return state->serve_local(CacheOutcome::kStale);
  } else if (offline_) {
    co_return failed(OciError::kManifestUnknown, "tag " + tag + " not cached (offline mode)");
  }

  // One upstream exchange per tag at a time, however many clients ask.
  const auto flight_key = HotManifestCache::tag_key(state->key.registry, repository, tag);
  auto [flight, leader] = join_flight(flight_key);
  if (leader) {
    auto executor = co_await asio::this_coro::executor;
    const bool revalidating = state->local.has_value();
    auto work = [this, &chain, state, flight = flight, flight_key,
                 revalidating]() -> asio::awaitable<void> {
      Answer<Manifest> answer = failed(OciError::kInternal, "unreachable");
      if (revalidating) {
        answer = co_await revalidate(chain, state);
      } else {
        answer = co_await fetch_tag(chain, state);
      }
      flight->set(std::move(answer));
      end_flight(flight_key);
    };
    asio::co_spawn(executor, std::move(work), asio::detached);
  }
  if (!state->local) {
    auto answer = co_await flight->wait_for(std::chrono::duration_cast<std::chrono::milliseconds>(kMissWait));
    if (!answer) {
      co_return failed(OciError::kUnavailable, "upstreams too slow for " + repository + ":" + tag);
    }
    co_return std::move(*answer);
  }
  auto answer = co_await flight->wait_for(chain.registry().revalidate_budget);
  if (!answer) {
    logging::warn("tag_served_stale", {{"registry", state->key.registry},
                                       {"repo", repository},
                                       {"tag", tag},
                                       {"digest", state->record->digest},
                                       {"reason", "revalidation over budget; it goes on in the background"}});
    co_return state->serve_local(CacheOutcome::kStale);
  }
  co_return std::move(*answer);
}

asio::awaitable<Answer<Manifest>> ManifestService::revalidate(const UpstreamChain& chain,
                                                              std::shared_ptr<TagState> state) {
  const auto& key = state->key;
  const std::string what = "manifest " + key.repository + ":" + key.tag;
  auto* blobs = &blobs_;
  auto* metadata = &metadata_;
  // HEAD: Docker Hub does not count it against the pull limit.
  auto head = co_await chain.fetch(key.repository, "HEAD", "/manifests/" + key.tag,
                                   manifest_accept_headers(), 0, "manifest", OciError::kManifestUnknown, what);
  const auto now = clock_();
  if (!head) {
    const bool gone = head.error().code == OciError::kManifestUnknown;
    if (gone && !state->pinned &&
        chain.registry().on_upstream_not_found == config::NotFoundPolicy::kForget) {
      auto drop = [metadata, k = key] { return static_cast<bool>(metadata->delete_tag(k)); };
      co_await server::offload(index_pool_, std::move(drop));
      logging::info("tag_forgotten", {{"registry", key.registry},
                                      {"repo", key.repository},
                                      {"tag", key.tag},
                                      {"digest", state->record->digest}});
      co_return failed(OciError::kManifestUnknown,
                       "tag " + key.tag + " no longer exists upstream");
    }
    logging::warn(gone ? "tag_gone_upstream_kept" : "tag_served_stale",
                  {{"registry", key.registry},
                   {"repo", key.repository},
                   {"tag", key.tag},
                   {"digest", state->record->digest},
                   {"pinned", state->pinned ? "true" : "false"},
                   {"reason", head.error().message}});
    co_return state->serve_local(CacheOutcome::kStale);
  }
  auto current = cache::Digest::parse(head->response.header("docker-content-digest"));
  if (current && *current == *state->local_digest) {
    state->record->validated_at = now;
    auto save = [metadata, k = key, r = *state->record] {
      put_tag(*metadata, k, r);
      return true;
    };
    co_await server::offload(index_pool_, std::move(save));
    co_return state->serve_local(CacheOutcome::kHit);
  }
  if (state->pinned) {
    // Frozen: a pinned tag keeps the digest it was pinned with until re-pinned or unpinned.
    logging::warn("pinned_tag_moved_upstream", {{"registry", key.registry},
                                                {"repo", key.repository},
                                                {"tag", key.tag},
                                                {"digest", state->record->digest},
                                                {"upstream_digest", current ? current->str() : ""}});
    co_return state->serve_local(CacheOutcome::kStale);
  }
  if (current) {
    // The tag moved: to content we may already hold (a tag moved back, or shared).
    auto find = [blobs, metadata, d = *current] { return load_local(*blobs, *metadata, d); };
    auto moved = co_await server::offload(index_pool_, std::move(find));
    if (moved) {
      cache::TagRecord updated{current->str(), moved->media_type, moved->body.size(), now, now};
      auto save = [metadata, k = key, updated] {
        put_tag(*metadata, k, updated);
        return true;
      };
      co_await server::offload(index_pool_, std::move(save));
      co_return content(std::move(moved->body), std::move(moved->media_type), current->str(),
                        CacheOutcome::kHit, now);
    }
  }
  co_return co_await fetch_tag(chain, state);
}

asio::awaitable<Answer<Manifest>> ManifestService::fetch_tag(const UpstreamChain& chain,
                                                             std::shared_ptr<TagState> state) {
  const auto& key = state->key;
  auto* blobs = &blobs_;
  auto* metadata = &metadata_;
  auto got = co_await chain.fetch(key.repository, "GET", "/manifests/" + key.tag, manifest_accept_headers(),
                                  kMaxManifestBytes, "manifest", OciError::kManifestUnknown,
                                  "manifest " + key.repository + ":" + key.tag);
  if (!got) {
    if (state->local) co_return state->serve_local(CacheOutcome::kStale);
    co_return Answer<Manifest>(boost::system::in_place_error, got.error());
  }
  auto digest = verify(got->response, std::nullopt);
  // By tag nothing vouches for the bytes but the upstream: a body that is not a manifest
  // (truncated JSON, an HTML error page) must not become what the tag means for a TTL.
  if (digest && !cache::parse_manifest_references(got->response.body)) {
    logging::error("upstream_manifest_malformed", {{"registry", key.registry},
                                                   {"repo", key.repository},
                                                   {"tag", key.tag},
                                                   {"upstream", got->upstream}});
    if (state->local) co_return state->serve_local(CacheOutcome::kStale);
    co_return failed(OciError::kUpstreamInvalid, "upstream sent a malformed manifest for " +
                                                     key.repository + ":" + key.tag);
  }
  if (!digest) {
    logging::error("upstream_digest_mismatch", {{"registry", key.registry},
                                                {"repo", key.repository},
                                                {"tag", key.tag},
                                                {"upstream", got->upstream}});
    if (state->local) co_return state->serve_local(CacheOutcome::kStale);
    co_return failed(OciError::kUpstreamInvalid,
                     "upstream manifest does not match its Docker-Content-Digest");
  }
  const auto now = clock_();
  auto media_type = media_type_of(got->response);
  auto body = std::move(got->response.body);
  cache::TagRecord updated{digest->str(), media_type, body.size(), now, now};
  auto save = [blobs, metadata, k = key, d = *digest, &body, &media_type, updated] {
    store(*blobs, *metadata, d, body, media_type);
    put_tag(*metadata, k, updated);
    return true;
  };
  co_await server::offload(index_pool_, std::move(save));
  Manifest answer = content(std::move(body), std::move(media_type), digest->str(), CacheOutcome::kMiss, now);
  answer.upstream = got->upstream;
  co_return answer;
}

std::pair<std::shared_ptr<SharedResult<Answer<Manifest>>>, bool> ManifestService::join_flight(
    const std::string& key) {
  std::lock_guard lock(flights_mutex_);
  auto& slot = flights_[key];
  const bool leader = slot == nullptr;
  if (leader) slot = std::make_shared<SharedResult<Answer<Manifest>>>();
  return {slot, leader};
}

void ManifestService::end_flight(const std::string& key) {
  std::lock_guard lock(flights_mutex_);
  flights_.erase(key);
}

}  // namespace regmirror::proxy::registry
