#include "cache/pin_closure.hpp"

#include <optional>
#include <string_view>
#include <utility>

#include "cache/cache_error.hpp"
#include "cache/manifest_references.hpp"

namespace regmirror::cache {

Result<std::string> read_blob_text(BlobStore& blobs, const Digest& digest, std::size_t max_bytes) {
  auto reader = blobs.open(digest);
  if (!reader) return reader.error();
  auto size = (*reader)->size();
  if (size > max_bytes) return CacheErrc::kSizeMismatch;
  std::string text(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    auto n = (*reader)->read_at(done,
                                std::as_writable_bytes(std::span(text.data() + done, size - done)));
    if (!n) return n.error();
    if (*n == 0) return CacheErrc::kSizeMismatch;
    done += *n;
  }
  return text;
}

namespace {

// `manifests` (optional) collects the documents that parsed as manifests or indexes.
void add_closure(BlobStore& blobs, const Digest& manifest, std::set<Digest>& out, int depth,
                 std::vector<Digest>* manifests) {
  if (!out.insert(manifest).second && depth > 0) return;
  auto text = read_blob_text(blobs, manifest);
  if (!text) return;
  auto refs = parse_manifest_references(*text);
  if (!refs) return;
  if (manifests != nullptr) manifests->push_back(manifest);
  for (const auto& blob : refs->blobs) out.insert(blob.digest);
  // Indexes nest at most a couple of levels in practice; the bound stops a malicious cycle.
  if (depth >= 4) return;
  for (const auto& child : refs->manifests) {
    if (blobs.stat(child.digest)) add_closure(blobs, child.digest, out, depth + 1, manifests);
  }
}

}  // namespace

std::set<Digest> manifest_closure(BlobStore& blobs, const Digest& manifest) {
  std::set<Digest> out;
  add_closure(blobs, manifest, out, 0, nullptr);
  return out;
}

namespace {

// The parts of "registry/repository:tag" or "registry/repository@digest" (pin keys).
std::optional<std::pair<std::string, std::string>> pin_repository(const std::string& ref) {
  auto slash = ref.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  auto rest = std::string_view(ref).substr(slash + 1);
  auto end = rest.find('@');
  if (end == std::string_view::npos) {
    end = rest.rfind(':');
    if (end != std::string_view::npos && rest.find('/', end) != std::string_view::npos) {
      end = std::string_view::npos;
    }
  }
  if (end == 0) return std::nullopt;
  return std::make_pair(ref.substr(0, slash), std::string(rest.substr(0, end)));
}

}  // namespace

std::vector<std::string> fallback_tags(const Digest& manifest) {
  const auto base = std::string(manifest.algorithm_name()) + "-" + std::string(manifest.hex());
  return {base, base + ".sig", base + ".att", base + ".sbom"};
}

std::set<Digest> attachment_closure(BlobStore& blobs, MetadataStore& metadata,
                                    const std::string& registry, const std::string& repository,
                                    const Digest& manifest) {
  std::set<Digest> out;
  auto add = [&](const Digest& attachment) {
    if (attachment == manifest || out.contains(attachment)) return;
    auto closure = manifest_closure(blobs, attachment);
    out.insert(closure.begin(), closure.end());
  };
  for (const auto& tag : fallback_tags(manifest)) {
    auto record = metadata.get_tag(TagKey{registry, repository, tag});
    if (!record || !*record) continue;
    if (auto digest = Digest::parse((*record)->digest)) add(*digest);
  }
  if (auto referrers = metadata.list_referrers(manifest)) {
    for (const auto& referrer : *referrers) add(referrer.digest);
  }
  return out;
}

Result<std::set<Digest>> pinned_digests(BlobStore& blobs, MetadataStore& metadata) {
  auto pins = metadata.list_pins();
  if (!pins) return pins.error();
  std::set<Digest> out;
  for (const auto& [ref, record] : *pins) {
    // Per pin, not across pins: two pins of one image in different repositories each bring
    // their repository's fallback tags.
    std::set<Digest> closure;
    std::vector<Digest> manifests;  // the pinned manifest and its cached index children
    for (const auto& text : record.digests) {
      auto digest = Digest::parse(text);
      if (!digest) continue;
      if (closure.contains(*digest)) continue;
      add_closure(blobs, *digest, closure, 0, &manifests);
    }
    out.insert(closure.begin(), closure.end());
    auto where = pin_repository(ref);
    if (!where) continue;
    for (const auto& manifest : manifests) {
      auto attached = attachment_closure(blobs, metadata, where->first, where->second, manifest);
      out.insert(attached.begin(), attached.end());
    }
  }
  return out;
}

}  // namespace regmirror::cache
