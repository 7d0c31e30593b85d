#include "proxy/app/import_command.hpp"

#include <iostream>
#include <nlohmann/json.hpp>

#include "cache/oci_layout_bundle.hpp"
#include "cache/tar_archive.hpp"
#include "proxy/app/cli_common.hpp"
#include "proxy/app/cli_options.hpp"
#include "proxy/app/temp_dir.hpp"

namespace regmirror::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kImportUsage = R"(Usage: regmirror import BUNDLE.tar [options]

Load an offline bundle (an OCI image layout tarball, e.g. from `regmirror export`) into a
running mirror. The whole bundle is unpacked and every digest and reference checked before
anything is uploaded: a truncated or corrupted bundle is refused and the cache is left as it
was. Images appear (and are pinned) all at once, after every blob has been stored. Importing
the same bundle again changes nothing.

  --admin URL          the mirror's admin API (default http://127.0.0.1:5001)
  --tmp-dir DIR        where to unpack (default $TMPDIR or /tmp; needs the bundle's size)
  --no-pin             do not pin the imported images
  --help               this text
)";

}  // namespace

int run_import_command(const std::vector<std::string>& args) {
  std::string bundle;
  std::string admin = kDefaultAdminUrl;
  std::string tmp_dir;
  bool pin = true;
  bool no_pin = false;
  std::vector<std::string> positional;
  CliOptions options("import", kImportUsage);
  options.value({"--admin"}, admin).value({"--tmp-dir"}, tmp_dir).flag({"--no-pin"}, no_pin)
      .positionals(positional);
  if (auto code = CliOptions::exit_code(options.parse(args))) return *code;
  pin = !no_pin;
  if (positional.size() > 1) {
    return options.usage_error("one bundle at a time (got '" + positional[0] + "' and '" +
                               positional[1] + "')");
  }
  if (!positional.empty()) bundle = positional[0];
  if (bundle.empty()) {
    std::cerr << "regmirror import: missing BUNDLE.tar (see regmirror import --help)\n";
    return 2;
  }
  auto base = normalize_base_url(admin);
  if (base.empty()) {
    std::cerr << "regmirror import: --admin must be http://HOST:PORT, got '" << admin << "'\n";
    return 2;
  }
  if (!fs::is_regular_file(bundle)) {
    std::cerr << "regmirror import: " << bundle << ": no such file\n";
    return 2;
  }

  TempDir work("regmirror-import-", tmp_dir);
  if (work.path().empty()) {
    std::cerr << "regmirror import: cannot create a work directory\n";
    return 1;
  }
  // 1. Unpack and check everything; nothing is sent before this passes.
  if (auto extracted = cache::extract_tar(bundle, work.path(), nullptr); !extracted) {
    std::cerr << "regmirror import: " << bundle << ": " << extracted.error().message << "\n";
    return 1;
  }
  auto verified = cache::verify_oci_layout(work.path());
  if (!verified) {
    std::cerr << "regmirror import: " << bundle << ": " << verified.error().message << "\n";
    return 1;
  }
  const cache::BundleContents& contents = *verified;
  json tags = json::array();
  json pins = json::array();
  for (const auto& image : contents.images) {
    if (image.ref.empty()) continue;  // content only: reachable by digest
    auto ref = proxy::registry::parse_image_reference(image.ref);
    if (!ref) {
      std::cerr << "regmirror import: " << bundle << ": image " << image.digest.str()
                << " has a bad reference '" << image.ref << "': " << ref.error().message << "\n";
      return 1;
    }
    if (!ref->tag.empty()) {
      auto tagged = *ref;
      tagged.digest.clear();
      tags.push_back({{"ref", tagged.str()}, {"digest", image.digest.str()}});
    }
    auto pinned = *ref;
    if (pinned.tag.empty()) pinned.digest = image.digest.str();
    if (pin) pins.push_back(pinned.tag.empty() ? pinned.str() : pinned.name() + ":" + pinned.tag);
  }

  // 2. Upload the blobs the mirror does not have (manifests are blobs too).
  CliHttp http;
  std::size_t uploaded = 0;
  std::size_t present = 0;
  std::uint64_t bytes = 0;
  for (const auto& digest : contents.blobs) {
    auto url = base + "/admin/blobs/" + digest.str();
    auto head = http.request("HEAD", url);
    if (!head.error.empty()) {
      std::cerr << "regmirror import: cannot reach the admin API: " << head.error << "\n";
      return 1;
    }
    if (head.status == 200) {
      ++present;
      continue;
    }
    auto file = work.path() / cache::layout_blob_path(digest);
    auto answer = http.upload_file(url, file);
    if (!answer.ok()) {
      std::cerr << "regmirror import: uploading " << cache::layout_blob_path(digest) << ": "
                << answer.describe() << "\n";
      return 1;
    }
    ++uploaded;
    bytes += fs::file_size(file);
  }

  // 3. Make it visible, all at once.
  json manifests = json::array();
  for (const auto& manifest : contents.manifests) {
    manifests.push_back({{"digest", manifest.digest.str()}, {"media_type", manifest.media_type}});
  }
  auto answer = http.request("POST", base + "/admin/import", {"Content-Type: application/json"},
                             json{{"manifests", manifests}, {"tags", tags}, {"pins", pins}}.dump());
  if (!answer.ok()) {
    std::cerr << "regmirror import: " << answer.describe() << "\n";
    return 1;
  }
  for (const auto& tag : tags) std::cout << "imported " << tag["ref"].get<std::string>() << "\n";
  std::cout << "imported " << contents.images.size() << " images: " << uploaded
            << " blobs uploaded (" << format_bytes(bytes) << "), " << present
            << " already present, " << tags.size() << " tags, " << pins.size() << " pins\n";
  return 0;
}

}  // namespace regmirror::app
