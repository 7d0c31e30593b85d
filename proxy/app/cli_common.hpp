#pragma once
// Small pieces shared by the cache, seed, export and import commands.
#include <cstdint>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cache/manifest_references.hpp"
#include "proxy/app/cli_error.hpp"
#include "proxy/app/cli_http.hpp"
#include "proxy/registry/image_reference.hpp"

namespace regmirror::app {

class CliOptions;

inline constexpr const char* kDefaultServerUrl = "http://127.0.0.1:5000";
inline constexpr const char* kDefaultAdminUrl = "http://127.0.0.1:5001";
inline constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// One reference per line; blank lines and '#' comments ignored.
CliResult<std::vector<std::string>> read_image_list(const std::string& path);

// "1.5 MiB"
std::string format_bytes(std::uint64_t bytes);

// linux/<this machine's architecture>.
cache::Platform host_platform();

// The mirror's registry API for one image: {server}/v2/{host}/{repository}
std::string registry_base(const std::string& server, const proxy::registry::ImageReference& ref);

// Tags of a repository as the mirror lists them (following Link pagination), optionally
// filtered by a full-match regex.
CliResult<std::vector<std::string>> list_tags(CliHttp& http, const std::string& server,
                                              const proxy::registry::ImageReference& repo,
                                              const std::optional<std::regex>& filter);

// A manifest fetched through the mirror.
struct FetchedManifest {
  std::string body;
  std::string media_type;
  cache::Digest digest;
};
CliResult<FetchedManifest> fetch_manifest(CliHttp& http, const std::string& base,
                                          const std::string& reference);

// A signature, SBOM or attestation of an image, fetched through the mirror (so the mirror
// caches it): a fallback tag (`tag` set: sha256-<hex>[.sig|.att|.sbom]), a referrer listed by
// the referrers API, or a child of a fallback-tag index (`tag` empty).
struct Attachment {
  FetchedManifest manifest;
  std::string tag;
};
// The attachments of `manifest` that the mirror serves for the repository at `base`. A 404 on
// a fallback tag or on the referrers route means none there. `known_tags` (the repository's
// tags, when listed): only those fallback tags are asked for, so an image without signatures
// costs no manifest GETs (which Docker Hub counts).
CliResult<std::vector<Attachment>> fetch_attachments(
    CliHttp& http, const std::string& base, const cache::Digest& manifest,
    const std::optional<std::set<std::string>>& known_tags);

// Expands a list entry: with a tag or digest, itself; without, every listed tag (filtered).
CliResult<std::vector<proxy::registry::ImageReference>> expand_entry(
    CliHttp& http, const std::string& server, const std::string& entry,
    const std::optional<std::regex>& filter);

// The child manifests of an index wanted for `platforms` (empty = all of them).
std::vector<cache::Descriptor> select_platforms(const cache::ManifestReferences& index,
                                                const std::vector<cache::Platform>& platforms);

// The image-selection options `seed` and `export` share: --images, --tags, --platform, --server.
struct ImageSelection {
  std::string images_file;
  std::optional<std::regex> tags;
  std::vector<cache::Platform> platforms;
  bool all_platforms = false;
  std::string server = kDefaultServerUrl;
};

// Declares the selection options on a command's parser; values are checked as they are taken.
void add_selection_options(CliOptions& options, ImageSelection& out);

}  // namespace regmirror::app
