#include "cache/oci_layout_bundle.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cache/manifest_references.hpp"

namespace regmirror::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Whether the file hashes to `digest`; else why not.
Result<void, MessageError> check_file(const fs::path& path, const Digest& digest) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return message_error("cannot read");
  DigestHasher hasher(digest.algorithm());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    auto n = in.gcount();
    if (n > 0) hasher.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  if (in.bad()) return message_error("read error");
  auto actual = hasher.finish();
  if (actual != digest) return message_error("content hashes to " + actual.str());
  return {};
}

}  // namespace

std::string layout_blob_path(const Digest& digest) {
  return "blobs/" + std::string(digest.algorithm_name()) + "/" + std::string(digest.hex());
}

Result<BundleContents, MessageError> verify_oci_layout(const fs::path& dir) {
  BundleContents out;
  auto marker = read_file(dir / "oci-layout");
  if (!marker) return message_error("not an OCI image layout: oci-layout is missing");
  auto marker_doc = json::parse(*marker, nullptr, false);
  if (!marker_doc.is_object() || !marker_doc.contains("imageLayoutVersion")) {
    return message_error("corrupt bundle: oci-layout is not a valid layout marker");
  }
  auto index_text = read_file(dir / "index.json");
  if (!index_text) return message_error("not an OCI image layout: index.json is missing");
  if (auto seal = read_file(dir / kBundleSealFile)) {
    auto seal_doc = json::parse(*seal, nullptr, false);
    if (!seal_doc.is_object() || !seal_doc.contains("index_digest") ||
        !seal_doc["index_digest"].is_string()) {
      return message_error(std::string("corrupt bundle: ") + kBundleSealFile + " does not parse");
    }
    auto expected = Digest::parse(seal_doc["index_digest"].get<std::string>());
    if (!expected || digest_of(*index_text) != *expected) {
      return message_error("corrupt bundle: index.json does not match the digest recorded in " +
                           std::string(kBundleSealFile));
    }
  }
  auto index = json::parse(*index_text, nullptr, false);
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
    return message_error("corrupt bundle: index.json has no manifests list");
  }

  // Every blob file must hash to its name.
  std::map<Digest, std::uint64_t> present;
  std::error_code ec;
  if (fs::exists(dir / "blobs", ec)) {
    for (auto it = fs::recursive_directory_iterator(dir / "blobs", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      auto relative = fs::relative(it->path(), dir).generic_string();
      auto algorithm = it->path().parent_path().filename().string();
      auto digest = Digest::parse(algorithm + ":" + it->path().filename().string());
      if (!digest || layout_blob_path(*digest) != relative) {
        return message_error("corrupt bundle: unexpected file " + relative);
      }
      if (auto intact = check_file(it->path(), *digest); !intact) {
        return message_error("corrupt bundle: " + relative + ": " + intact.error().message);
      }
      present[*digest] = it->file_size();
    }
    if (ec) return message_error("cannot list " + (dir / "blobs").string() + ": " + ec.message());
  }
  for (const auto& [digest, size] : present) out.blobs.push_back(digest);

  // Walk the manifests from index.json.
  std::set<Digest> seen;
  std::function<Result<void, MessageError>(const Descriptor&, int)> walk =
      [&](const Descriptor& descriptor, int depth) -> Result<void, MessageError> {
    auto where = layout_blob_path(descriptor.digest);
    auto it = present.find(descriptor.digest);
    if (it == present.end()) return message_error("incomplete bundle: " + where + " is missing");
    if (it->second != descriptor.size) {
      return message_error("corrupt bundle: " + where + " has " + std::to_string(it->second) +
                           " bytes, its descriptor says " + std::to_string(descriptor.size));
    }
    if (!seen.insert(descriptor.digest).second) return {};
    auto text = read_file(dir / where);
    auto refs = text ? parse_manifest_references(*text) : std::nullopt;
    if (!refs) return message_error("corrupt bundle: " + where + " is not a manifest");
    auto media_type = descriptor.media_type.empty() ? refs->media_type : descriptor.media_type;
    if (media_type.empty()) {
      media_type = refs->is_index ? "application/vnd.oci.image.index.v1+json"
                                  : "application/vnd.oci.image.manifest.v1+json";
    }
    out.manifests.push_back({descriptor.digest, media_type});
    if (refs->is_index) {
      if (depth >= 4) return message_error("corrupt bundle: indexes nested too deep at " + where);
      std::size_t carried = 0;
      for (const auto& child : refs->manifests) {
        if (!present.contains(child.digest)) continue;
        ++carried;
        if (auto walked = walk(child, depth + 1); !walked) return walked;
      }
      if (carried == 0)
        return message_error("incomplete bundle: index " + where +
                             " comes without any of its manifests");
      return {};
    }
    for (const auto& blob : refs->blobs) {
      auto blob_path = layout_blob_path(blob.digest);
      auto found = present.find(blob.digest);
      if (found == present.end())
        return message_error("incomplete bundle: " + blob_path + " (referenced by " + where +
                             ") is missing");
      if (found->second != blob.size) {
        return message_error("corrupt bundle: " + blob_path + " has " +
                             std::to_string(found->second) + " bytes, " + where + " says " +
                             std::to_string(blob.size));
      }
    }
    return {};
  };

  for (const auto& entry : index["manifests"]) {
    auto text = entry.dump();
    auto refs = parse_manifest_references(json{{"manifests", json::array({entry})}}.dump());
    if (!refs || refs->manifests.size() != 1)
      return message_error("corrupt bundle: index.json has a bad descriptor " +
                           text.substr(0, 120));
    const auto& descriptor = refs->manifests.front();
    if (auto walked = walk(descriptor, 0); !walked) return walked.error();
    std::string ref;
    if (entry.contains("annotations") && entry["annotations"].is_object()) {
      const auto& annotations = entry["annotations"];
      if (annotations.contains(kOriginalRefAnnotation) &&
          annotations[kOriginalRefAnnotation].is_string()) {
        ref = annotations[kOriginalRefAnnotation].get<std::string>();
      } else if (annotations.contains(kRefNameAnnotation) &&
                 annotations[kRefNameAnnotation].is_string()) {
        ref = annotations[kRefNameAnnotation].get<std::string>();
      }
    }
    std::string media_type = descriptor.media_type;
    for (const auto& manifest : out.manifests) {
      if (manifest.digest == descriptor.digest) media_type = manifest.media_type;
    }
    out.images.push_back({std::move(ref), descriptor.digest, media_type});
  }
  if (out.images.empty()) return message_error("empty bundle: index.json lists no images");
  // Indexes first, so an importer can present them in a sensible order.
  std::stable_partition(out.manifests.begin(), out.manifests.end(),
                        [](const BundleManifest& m) { return is_index_media_type(m.media_type); });
  return out;
}

}  // namespace regmirror::cache
