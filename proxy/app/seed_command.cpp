#include "proxy/app/seed_command.hpp"

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "proxy/app/base_image_set.hpp"
#include "proxy/app/cli_common.hpp"
#include "proxy/app/cli_options.hpp"

namespace regmirror::app {
namespace {

using nlohmann::json;

constexpr const char* kSeedUsage = R"(Usage: regmirror seed (--base-set | --images FILE) [options]

Pull images into a running mirror's cache through its registry API (index, the manifests of
the chosen platforms, every blob) and pin them so that eviction never removes them.
Re-running is cheap: blobs the mirror already has are skipped. A failing image is reported
and the others continue; the exit status is 1 when any failed. Signatures, SBOMs and
attestations of every manifest taken come along (fallback tags sha256-<hex>[.sig|.att|.sbom]
and what the referrers API lists); a pin protects them with the image.

  --base-set           the built-in base image set of a managed cluster (DESIGN.md appendix);
                       tags come from the registry's tags/list (in a closed network: the tags
                       your Harbor holds)
  --images FILE        one reference per line ('#' comments allowed); a name without a tag
                       or digest means every tag the registry lists
  --tags REGEX         only tags that fully match REGEX (for names listed without a tag)
  --platform OS/ARCH[/VARIANT]
                       platforms to take from multi-platform images (repeatable; "all" for
                       every one; default: this machine's, linux/amd64 here)
  --server URL         the mirror's registry API (default http://127.0.0.1:5000)
  --admin URL          the mirror's admin API, for pinning (default http://127.0.0.1:5001)
  --no-pin             pull only
  --no-signatures      skip signatures and other attachments
  --help               this text
)";

struct SeedArgs : ImageSelection {
  bool base_set = false;
  std::string admin = kDefaultAdminUrl;
  bool pin = true;
  bool signatures = true;
};

// Progress: a bar redrawn in place on a terminal, one plain line per image otherwise.
class Progress {
 public:
  explicit Progress(std::size_t total) : tty_(::isatty(STDOUT_FILENO) == 1), total_(total) {}

  void working(const std::string& ref) {
    current_ = ref;
    draw();
  }
  void bytes(std::uint64_t n) {
    bytes_ += n;
    if (tty_) draw();
  }
  void done(const std::string& ref, const std::string& detail) {
    ++done_;
    finish_line("ok      " + ref + "  " + detail);
  }
  void failed(const std::string& ref, const std::string& why) {
    ++done_;
    ++failed_;
    finish_line("FAILED  " + ref + ": " + why);
  }
  std::size_t failures() const { return failed_; }
  std::uint64_t total_bytes() const { return bytes_; }

 private:
  void finish_line(const std::string& text) {
    if (tty_) std::cout << "\r\033[K";
    std::cout << text << "\n";
    draw();
  }
  void draw() {
    if (!tty_) return;
    constexpr int kWidth = 30;
    int filled = total_ == 0 ? kWidth : static_cast<int>(kWidth * done_ / total_);
    std::cout << "\r\033[K[" << std::string(filled, '#') << std::string(kWidth - filled, '.')
              << "] " << done_ << "/" << total_ << " images  " << format_bytes(bytes_) << "  "
              << current_ << std::flush;
  }

  bool tty_;
  std::size_t total_;
  std::size_t done_ = 0;
  std::size_t failed_ = 0;
  std::uint64_t bytes_ = 0;
  std::string current_;
};

// The exit status when the command stops after parsing; nullopt to go on.
std::optional<int> parse(const std::vector<std::string>& args, SeedArgs& out) {
  CliOptions options("seed", kSeedUsage);
  add_selection_options(options, out);
  bool no_pin = false;
  bool no_signatures = false;
  options.flag({"--base-set"}, out.base_set)
      .value({"--admin"}, out.admin)
      .flag({"--no-pin"}, no_pin)
      .flag({"--no-signatures"}, no_signatures);
  if (auto code = CliOptions::exit_code(options.parse(args))) return *code;
  if (no_pin) out.pin = false;
  if (no_signatures) out.signatures = false;
  if (out.base_set == !out.images_file.empty()) {
    std::cerr << "regmirror seed: give exactly one of --base-set or --images FILE\n";
    return 2;
  }
  for (auto* url : {&out.server, &out.admin}) {
    auto normalized = normalize_base_url(*url);
    if (normalized.empty()) {
      std::cerr << "regmirror seed: expected a URL like http://127.0.0.1:5000, got '" << *url
                << "'\n";
      return 2;
    }
    *url = normalized;
  }
  if (out.all_platforms)
    out.platforms.clear();
  else if (out.platforms.empty())
    out.platforms.push_back(host_platform());
  return std::nullopt;
}

// Pulls one image through the mirror; what was done (for the progress line), or why not.
CliResult<std::string> seed_one(CliHttp& http, const SeedArgs& args,
                                const proxy::registry::ImageReference& ref, Progress& progress) {
  auto base = registry_base(args.server, ref);
  auto top = fetch_manifest(http, base, ref.digest.empty() ? ref.tag : ref.digest);
  if (!top) return top.error();
  auto refs = cache::parse_manifest_references(top->body);
  if (!refs) {
    return cli_error("manifest " + top->digest.str() + " is not an image manifest or index");
  }
  std::vector<cache::ManifestReferences> images;
  std::vector<cache::Digest> taken{top->digest};  // every manifest seeded, for its attachments
  std::size_t manifest_count = 1;
  if (refs->is_index) {
    auto children = select_platforms(*refs, args.platforms);
    if (children.empty())
      return cli_error("no manifest for the requested platform(s) in index " + top->digest.str());
    for (const auto& child : children) {
      auto fetched = fetch_manifest(http, base, child.digest.str());
      if (!fetched) return fetched.error();
      auto child_refs = cache::parse_manifest_references(fetched->body);
      if (!child_refs || child_refs->is_index)
        return cli_error("manifest " + child.digest.str() + " is not an image manifest");
      images.push_back(std::move(*child_refs));
      taken.push_back(fetched->digest);
      ++manifest_count;
    }
  } else {
    images.push_back(std::move(*refs));
  }
  std::set<cache::Digest> blobs;
  for (const auto& image : images) {
    for (const auto& blob : image.blobs) blobs.insert(blob.digest);
  }
  std::size_t attachments = 0;
  if (args.signatures) {
    // One tags/list instead of a GET per possible fallback tag; when the listing fails, ask.
    std::optional<std::set<std::string>> known;
    if (auto listed = list_tags(http, args.server, ref, std::nullopt)) {
      known.emplace(listed->begin(), listed->end());
    }
    for (const auto& digest : taken) {
      auto found = fetch_attachments(http, base, digest, known);
      if (!found) return found.error();
      for (const auto& attachment : *found) {
        ++attachments;
        auto attached = cache::parse_manifest_references(attachment.manifest.body);
        if (!attached) continue;  // not an image manifest: nothing more to pull
        for (const auto& blob : attached->blobs) blobs.insert(blob.digest);
      }
    }
  }
  std::size_t already = 0;
  std::uint64_t fetched_bytes = 0;
  for (const auto& digest : blobs) {
    auto url = base + "/blobs/" + digest.str();
    auto head = http.request("HEAD", url);
    if (head.ok() && head.header("x-cache") == "HIT") {
      ++already;
      continue;
    }
    cache::DigestHasher hasher(digest.algorithm());
    auto answer = http.download(url, {}, [&](std::span<const std::byte> data) {
      hasher.update(data);
      fetched_bytes += data.size();
      progress.bytes(data.size());
      return true;
    });
    if (!answer.ok()) return cli_error("blob " + digest.str() + ": " + answer.describe());
    if (hasher.finish() != digest)
      return cli_error("blob " + digest.str() + ": the mirror's bytes do not match the digest");
  }
  if (args.pin) {
    auto pin = http.request("POST", args.admin + "/admin/pins", {"Content-Type: application/json"},
                            json{{"ref", ref.str()}}.dump());
    if (!pin.ok()) return cli_error("pulled, but pinning failed: " + pin.describe());
  }
  return std::to_string(manifest_count) + " manifests, " + std::to_string(blobs.size()) +
         " blobs (" + std::to_string(already) + " already cached), " +
         format_bytes(fetched_bytes) + " fetched" +
         (args.signatures ? ", " + std::to_string(attachments) + " signatures/attachments" : "") +
         (args.pin ? ", pinned" : "");
}

}  // namespace

int run_seed_command(const std::vector<std::string>& args) {
  SeedArgs parsed;
  if (auto code = parse(args, parsed)) return *code;
  std::vector<std::string> entries;
  if (parsed.base_set) {
    entries = base_image_set();
  } else {
    auto listed = read_image_list(parsed.images_file);
    if (!listed) {
      std::cerr << "regmirror seed: " << listed.error().message << "\n";
      return 2;
    }
    entries = std::move(*listed);
    if (entries.empty()) {
      std::cerr << "regmirror seed: " << parsed.images_file << " lists no images\n";
      return 2;
    }
  }
  CliHttp http;
  // Resolve every entry to tagged references first, so the progress has a total.
  std::vector<proxy::registry::ImageReference> refs;
  std::vector<std::pair<std::string, std::string>> bad_entries;
  for (const auto& entry : entries) {
    auto expanded = expand_entry(http, parsed.server, entry, parsed.tags);
    if (!expanded) {
      bad_entries.emplace_back(entry, expanded.error().message);
      continue;
    }
    refs.insert(refs.end(), expanded->begin(), expanded->end());
  }
  Progress progress(refs.size() + bad_entries.size());
  for (const auto& [entry, why] : bad_entries) progress.failed(entry, why);
  for (const auto& ref : refs) {
    progress.working(ref.str());
    auto seeded = seed_one(http, parsed, ref, progress);
    if (seeded) {
      progress.done(ref.str(), *seeded);
    } else {
      progress.failed(ref.str(), seeded.error().message);
    }
  }
  std::cout << "seeded " << (refs.size() + bad_entries.size() - progress.failures()) << " of "
            << (refs.size() + bad_entries.size()) << " images, "
            << format_bytes(progress.total_bytes()) << " fetched";
  if (progress.failures() > 0) std::cout << ", " << progress.failures() << " failed";
  std::cout << "\n";
  return progress.failures() == 0 ? 0 : 1;
}

}  // namespace regmirror::app
