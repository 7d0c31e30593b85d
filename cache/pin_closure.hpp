#pragma once
// Everything a pin keeps alive: a manifest, the child manifests of an index that are in the
// cache, and every blob those manifests reference (whether cached yet or not); and, for each of
// those manifests, its signatures and other attachments: the cached fallback-tag manifests of
// its digest in the pinned repository (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) and the
// referrers indexed under it, with what they reference. So eviction never keeps an image while
// dropping what verifies it.
#include <cstddef>
#include <set>
#include <string>
#include <vector>

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

// The fallback tags of `manifest` (the tag schema of cosign and of the OCI distribution spec
// for registries without the referrers API): "sha256-<hex>" and its .sig/.att/.sbom forms.
std::vector<std::string> fallback_tags(const Digest& manifest);

// The attachments of `manifest` cached for `registry`/`repository` (fallback tags and
// referrers, see above), each with its manifest_closure(). Read errors leave an attachment out.
std::set<Digest> attachment_closure(BlobStore& blobs, MetadataStore& metadata,
                                    const std::string& registry, const std::string& repository,
                                    const Digest& manifest);

// The union of every pin's recorded digests and the closure of every pinned manifest that is
// cached now (so a pin also covers what it references even if it was recorded before), with
// the attachments of every pinned manifest, found now (so a signature pushed after the pin is
// protected too).
Result<std::set<Digest>> pinned_digests(BlobStore& blobs, MetadataStore& metadata);

}  // namespace regmirror::cache
