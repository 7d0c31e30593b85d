#include "proxy/app/export_command.hpp"

#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "cache/oci_layout_bundle.hpp"
#include "cache/tar_archive.hpp"
#include "proxy/app/cli_common.hpp"
#include "proxy/app/cli_options.hpp"
#include "proxy/app/temp_dir.hpp"

namespace regmirror::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kExportUsage =
    R"(Usage: regmirror export --images FILE -o BUNDLE.tar [options]

Write images, pulled through a running mirror, as an offline bundle: a standard OCI image
layout tarball (oci-layout, index.json, blobs/sha256/...) that `regmirror import` loads into a
mirror in a closed network and `skopeo copy oci-archive:BUNDLE.tar:REFERENCE ...` can read.
Each image is listed in index.json under org.opencontainers.image.ref.name and
io.regmirror.image.ref = its full reference (e.g. registry.k8s.io/pause:3.2 is written as
given: k8s.gcr.io/pause:3.2). Signatures, SBOMs and attestations of every manifest taken come
along: fallback tags sha256-<hex>[.sig|.att|.sbom] as tagged entries, referrers (what the
mirror's referrers API lists) as untagged ones; import restores and pins them. Any failure
aborts the export; no partial bundle is left.

  --images FILE        one reference per line ('#' comments allowed); a name without a tag
                       or digest means every tag the registry lists
  -o, --output FILE    the bundle to write
  --tags REGEX         only tags that fully match REGEX (for names listed without a tag)
  --platform OS/ARCH[/VARIANT]
                       platforms to take from multi-platform images (repeatable; "all" for
                       every one; default: this machine's)
  --server URL         the mirror's registry API (default http://127.0.0.1:5000)
  --no-signatures      skip signatures and other attachments
  --help               this text
)";

struct ExportArgs : ImageSelection {
  std::string output;
  bool signatures = true;
};

// The exit status when the command stops after parsing; nullopt to go on.
std::optional<int> parse(const std::vector<std::string>& args, ExportArgs& out) {
  CliOptions options("export", kExportUsage);
  add_selection_options(options, out);
  bool no_signatures = false;
  options.value({"--output", "-o"}, out.output).flag({"--no-signatures"}, no_signatures);
  if (auto code = CliOptions::exit_code(options.parse(args))) return *code;
  if (no_signatures) out.signatures = false;
  if (out.images_file.empty() || out.output.empty()) {
    std::cerr << "regmirror export: --images FILE and -o BUNDLE.tar are required\n";
    return 2;
  }
  auto server = normalize_base_url(out.server);
  if (server.empty()) {
    std::cerr << "regmirror export: --server: expected a URL like http://127.0.0.1:5000, got '"
              << out.server << "'\n";
    return 2;
  }
  out.server = server;
  if (out.all_platforms)
    out.platforms.clear();
  else if (out.platforms.empty())
    out.platforms.push_back(host_platform());
  return std::nullopt;
}

class LayoutBuilder {
 public:
  LayoutBuilder(CliHttp& http, fs::path root) : http_(http), root_(std::move(root)) {}

  // Stores a manifest already fetched.
  CliResult<void> put_bytes(const cache::Digest& digest, const std::string& bytes) {
    auto path = root_ / cache::layout_blob_path(digest);
    if (fs::exists(path)) return {};
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return cli_error("writing " + path.string() + " failed");
    return {};
  }

  // Downloads a blob through the mirror, verifying it on the way.
  CliResult<void> fetch_blob(const std::string& base, const cache::Descriptor& blob) {
    auto path = root_ / cache::layout_blob_path(blob.digest);
    if (fs::exists(path)) return {};
    fs::create_directories(path.parent_path());
    auto partial = path;
    partial += ".partial";
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) return cli_error("cannot write " + partial.string());
    cache::DigestHasher hasher(blob.digest.algorithm());
    std::uint64_t size = 0;
    auto answer = http_.download(base + "/blobs/" + blob.digest.str(), {},
                                 [&](std::span<const std::byte> data) {
                                   hasher.update(data);
                                   size += data.size();
                                   out.write(reinterpret_cast<const char*>(data.data()),
                                             static_cast<std::streamsize>(data.size()));
                                   return static_cast<bool>(out);
                                 });
    out.close();
    if (!answer.ok()) {
      fs::remove(partial);
      return cli_error("blob " + blob.digest.str() + ": " + answer.describe());
    }
    if (hasher.finish() != blob.digest || size != blob.size) {
      fs::remove(partial);
      return cli_error("blob " + blob.digest.str() +
                       ": the mirror's bytes do not match the digest and size");
    }
    fs::rename(partial, path);
    bytes_ += size;
    return {};
  }

  std::uint64_t bytes() const { return bytes_; }

 private:
  CliHttp& http_;
  fs::path root_;
  std::uint64_t bytes_ = 0;
};

// The three small files of a layout, written to disk for the check and again into the tarball.
struct LayoutTexts {
  std::string_view marker;  // oci-layout
  std::string_view index;   // index.json
  std::string_view seal;    // cache::kBundleSealFile
};

// Writes the checked layout under `layout` as the tarball `path`: oci-layout, then the blobs
// (`blob_files`, sorted) with their directories, then index.json and the seal.
CliResult<void> write_bundle(const fs::path& path, const fs::path& layout,
                             const std::vector<fs::path>& blob_files, const LayoutTexts& texts) {
  cache::TarWriter tar;
  if (auto opened = tar.open(path); !opened) return opened;
  if (auto marker = tar.add_bytes("oci-layout", texts.marker); !marker) return marker;
  if (auto blobs = tar.add_directory("blobs"); !blobs) return blobs;
  std::set<std::string> dirs;
  for (const auto& file : blob_files) {
    auto dir = fs::relative(file.parent_path(), layout).generic_string();
    if (dirs.insert(dir).second) {
      if (auto added = tar.add_directory(dir); !added) return added;
    }
    if (auto added = tar.add_file(fs::relative(file, layout).generic_string(), file); !added) {
      return added;
    }
  }
  if (auto index = tar.add_bytes("index.json", texts.index); !index) return index;
  if (auto seal = tar.add_bytes(cache::kBundleSealFile, texts.seal); !seal) return seal;
  return tar.finish();
}

}  // namespace

int run_export_command(const std::vector<std::string>& args) {
  ExportArgs parsed;
  if (auto code = parse(args, parsed)) return *code;
  auto entries = read_image_list(parsed.images_file);
  if (!entries || entries->empty()) {
    std::cerr << "regmirror export: "
              << (entries ? parsed.images_file + " lists no images" : entries.error().message)
              << "\n";
    return 2;
  }
  fs::path output = parsed.output;
  auto parent = output.parent_path().empty() ? fs::path(".") : output.parent_path();
  TempDir work("regmirror-export-", parent);
  if (work.path().empty()) {
    std::cerr << "regmirror export: cannot create a work directory next to " << output.string()
              << "\n";
    return 1;
  }
  auto layout = work.path() / "layout";
  fs::create_directories(layout / "blobs");
  CliHttp http;
  LayoutBuilder builder(http, layout);
  json index_manifests = json::array();
  std::size_t images = 0;
  for (const auto& entry : *entries) {
    auto refs = expand_entry(http, parsed.server, entry, parsed.tags);
    if (!refs) {
      std::cerr << "regmirror export: " << refs.error().message << "\n";
      return 1;
    }
    for (const auto& ref : *refs) {
      auto base = registry_base(parsed.server, ref);
      auto fail = [&](const std::string& why) {
        std::cerr << "regmirror export: " << ref.str() << ": " << why << "\n";
        return 1;
      };
      auto top = fetch_manifest(http, base, ref.digest.empty() ? ref.tag : ref.digest);
      if (!top) return fail(top.error().message);
      auto top_refs = cache::parse_manifest_references(top->body);
      if (!top_refs)
        return fail("manifest " + top->digest.str() + " is not an image manifest or index");
      if (auto put = builder.put_bytes(top->digest, top->body); !put) {
        return fail(put.error().message);
      }
      std::vector<cache::ManifestReferences> image_manifests;
      std::vector<cache::Digest> taken{top->digest};  // for their attachments
      if (top_refs->is_index) {
        auto children = select_platforms(*top_refs, parsed.platforms);
        if (children.empty())
          return fail("no manifest for the requested platform(s) in index " + top->digest.str());
        for (const auto& child : children) {
          auto fetched = fetch_manifest(http, base, child.digest.str());
          if (!fetched) return fail(fetched.error().message);
          auto child_refs = cache::parse_manifest_references(fetched->body);
          if (!child_refs || child_refs->is_index)
            return fail("manifest " + child.digest.str() + " is not an image manifest");
          if (auto put = builder.put_bytes(fetched->digest, fetched->body); !put) {
            return fail(put.error().message);
          }
          image_manifests.push_back(std::move(*child_refs));
          taken.push_back(fetched->digest);
        }
      } else {
        image_manifests.push_back(*top_refs);
      }
      for (const auto& image : image_manifests) {
        for (const auto& blob : image.blobs) {
          if (auto got = builder.fetch_blob(base, blob); !got) return fail(got.error().message);
        }
      }
      auto media_type = top->media_type.empty() || top->media_type == "application/json"
                            ? top_refs->media_type
                            : top->media_type;
      index_manifests.push_back(
          {{"mediaType", media_type},
           {"digest", top->digest.str()},
           {"size", top->body.size()},
           {"annotations",
            {{cache::kRefNameAnnotation, ref.str()}, {cache::kOriginalRefAnnotation, ref.str()}}}});
      ++images;
      std::cout << "exported " << ref.str() << " (" << top->digest.str() << ")\n";
      if (!parsed.signatures) continue;
      // Listed with their own entries: a fallback tag under its tag (import tags and pins
      // it), a referrer without a name (import indexes it under its subject).
      std::optional<std::set<std::string>> known;
      if (auto listed = list_tags(http, parsed.server, ref, std::nullopt)) {
        known.emplace(listed->begin(), listed->end());
      }
      for (const auto& digest : taken) {
        auto found = fetch_attachments(http, base, digest, known);
        if (!found) return fail(found.error().message);
        for (const auto& attachment : *found) {
          const auto& manifest = attachment.manifest;
          auto attached = cache::parse_manifest_references(manifest.body);
          if (!attached) return fail("attachment " + manifest.digest.str() + " does not parse");
          if (auto put = builder.put_bytes(manifest.digest, manifest.body); !put) {
            return fail(put.error().message);
          }
          for (const auto& blob : attached->blobs) {
            if (auto got = builder.fetch_blob(base, blob); !got) return fail(got.error().message);
          }
          auto type = manifest.media_type.empty() || manifest.media_type == "application/json"
                          ? attached->media_type
                          : manifest.media_type;
          if (type.empty()) type = "application/vnd.oci.image.manifest.v1+json";
          json entry{{"mediaType", type},
                     {"digest", manifest.digest.str()},
                     {"size", manifest.body.size()}};
          if (!attachment.tag.empty()) {
            auto tagged = ref;
            tagged.tag = attachment.tag;
            tagged.digest.clear();
            entry["annotations"] = {{cache::kRefNameAnnotation, tagged.str()},
                                    {cache::kOriginalRefAnnotation, tagged.str()}};
          }
          index_manifests.push_back(std::move(entry));
          std::cout << "exported " << (attachment.tag.empty() ? "referrer" : attachment.tag)
                    << " of " << digest.str() << " (" << manifest.digest.str() << ")\n";
        }
      }
    }
  }
  auto index_text = json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests",
       index_manifests}}.dump();
  const std::string layout_marker = R"({"imageLayoutVersion":"1.0.0"})";
  auto seal = json{{"index_digest", cache::digest_of(index_text).str()}}.dump();

  // Check our own work the way import will, then write the tarball under a temporary name.
  {
    std::ofstream(layout / "oci-layout") << layout_marker;
    std::ofstream(layout / "index.json") << index_text;
    std::ofstream(layout / cache::kBundleSealFile) << seal;
    if (auto contents = cache::verify_oci_layout(layout); !contents) {
      std::cerr << "regmirror export: the layout failed its own check: " << contents.error().message
                << "\n";
      return 1;
    }
  }
  std::vector<fs::path> blob_files;
  for (const auto& file : fs::recursive_directory_iterator(layout / "blobs")) {
    if (file.is_regular_file()) blob_files.push_back(file.path());
  }
  std::sort(blob_files.begin(), blob_files.end());
  auto partial = work.path() / "bundle.tar";
  if (auto written = write_bundle(partial, layout, blob_files, {layout_marker, index_text, seal});
      !written) {
    std::cerr << "regmirror export: " << written.error().message << "\n";
    return 1;
  }
  std::error_code ec;
  fs::rename(partial, output, ec);
  if (ec) {
    std::cerr << "regmirror export: cannot write " << output.string() << ": " << ec.message()
              << "\n";
    return 1;
  }
  std::cout << "wrote " << output.string() << ": " << images << " images, " << blob_files.size()
            << " blobs, " << format_bytes(fs::file_size(output)) << "\n";
  return 0;
}

}  // namespace regmirror::app
