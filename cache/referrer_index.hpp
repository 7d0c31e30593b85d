#pragma once
// The referrers index: a manifest whose JSON names a `subject` (signatures, SBOMs,
// attestations pushed the OCI 1.1 way) is recorded under that subject's digest, with the
// descriptor the referrers API lists for it. Every path that stores a manifest (pull-through,
// seed, import) calls index_referrer() once its bytes are kept.
#include <optional>
#include <string_view>

#include "cache/metadata_store.hpp"

namespace regmirror::cache {

// The referrer entry of the manifest `body` (digest `digest`, served as `media_type`), or
// nullopt when it has no valid `subject` or is not a JSON object. Rules of the OCI
// distribution spec (Listing Referrers): artifactType is the manifest's artifactType, else its
// config's mediaType (image manifests only); annotations are the manifest's own.
std::optional<Referrer> referrer_of(const Digest& digest, std::string_view body,
                                    std::string_view media_type);

// Indexes `body` when it is a referrer. Blocking (index write). Returns whether it was one; a
// failed write is returned as the error.
Result<bool> index_referrer(MetadataStore& metadata, const Digest& digest, std::string_view body,
                            std::string_view media_type);

}  // namespace regmirror::cache
