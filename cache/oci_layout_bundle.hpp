#pragma once
// Checks an extracted OCI image layout (an offline bundle) before anything of it is used:
// the layout marker, index.json, every blob's bytes against its file name, and every manifest's
// references (configs and layers must all be there with their declared sizes; an index must
// bring at least one of its child manifests; the others may be left out, e.g. other platforms).
#include <filesystem>
#include <string>
#include <vector>

#include "cache/digest.hpp"
#include "config/result.hpp"

namespace regmirror::cache {

inline constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";
inline constexpr const char* kOriginalRefAnnotation = "io.regmirror.image.ref";
// Written next to index.json by `regmirror export`: index.json's own digest, so that a damaged
// index.json is refused too (it is the one file a layout does not address by digest).
inline constexpr const char* kBundleSealFile = "regmirror-bundle.json";

struct BundleImage {
  std::string ref;  // io.regmirror.image.ref, else org.opencontainers.image.ref.name
  Digest digest;
  std::string media_type;
};

struct BundleManifest {
  Digest digest;
  std::string media_type;
};

struct BundleContents {
  std::vector<BundleImage> images;        // index.json entries, in order
  std::vector<BundleManifest> manifests;  // every manifest present (indexes first)
  std::vector<Digest> blobs;              // every file under blobs/, manifests included
};

// What the layout holds when it is complete and intact; else one line naming the bad entry.
Result<BundleContents, MessageError> verify_oci_layout(const std::filesystem::path& dir);

// blobs/<algorithm>/<hex>
std::string layout_blob_path(const Digest& digest);

}  // namespace regmirror::cache
