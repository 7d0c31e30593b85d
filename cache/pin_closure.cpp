#include "cache/pin_closure.hpp"

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

void add_closure(BlobStore& blobs, const Digest& manifest, std::set<Digest>& out, int depth) {
  if (!out.insert(manifest).second && depth > 0) return;
  auto text = read_blob_text(blobs, manifest);
  if (!text) return;
  auto refs = parse_manifest_references(*text);
  if (!refs) return;
  for (const auto& blob : refs->blobs) out.insert(blob.digest);
  // Indexes nest at most a couple of levels in practice; the bound stops a malicious cycle.
  if (depth >= 4) return;
  for (const auto& child : refs->manifests) {
    if (blobs.stat(child.digest)) add_closure(blobs, child.digest, out, depth + 1);
  }
}

}  // namespace

std::set<Digest> manifest_closure(BlobStore& blobs, const Digest& manifest) {
  std::set<Digest> out;
  add_closure(blobs, manifest, out, 0);
  return out;
}

Result<std::set<Digest>> pinned_digests(BlobStore& blobs, MetadataStore& metadata) {
  auto pins = metadata.list_pins();
  if (!pins) return pins.error();
  std::set<Digest> out;
  for (const auto& [ref, record] : *pins) {
    for (const auto& text : record.digests) {
      auto digest = Digest::parse(text);
      if (!digest) continue;
      if (out.contains(*digest)) continue;
      auto closure = manifest_closure(blobs, *digest);
      out.insert(closure.begin(), closure.end());
    }
  }
  return out;
}

}  // namespace regmirror::cache
