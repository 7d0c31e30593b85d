#pragma once
// Everything a pin keeps alive: a manifest, the child manifests of an index that are in the
// cache, and every blob those manifests reference (whether cached yet or not).
#include <cstddef>
#include <set>
#include <string>

#include "cache/blob_store.hpp"
#include "cache/metadata_store.hpp"

namespace regmirror::cache {

inline constexpr std::size_t kMaxManifestDocumentBytes = 4 << 20;

// Reads a whole small blob (a manifest). kNotFound when absent; kSizeMismatch when larger
// than `max_bytes`.
Result<std::string> read_blob_text(BlobStore& blobs, const Digest& digest,
                                   std::size_t max_bytes = kMaxManifestDocumentBytes);

// `manifest` and what it references, recursively through cached index children. A manifest
// that is not cached contributes only its own digest.
std::set<Digest> manifest_closure(BlobStore& blobs, const Digest& manifest);

// The union of every pin's recorded digests and the closure of every pinned manifest that is
// cached now (so a pin also covers what it references even if it was recorded before).
Result<std::set<Digest>> pinned_digests(BlobStore& blobs, MetadataStore& metadata);

}  // namespace regmirror::cache
