#include "proxy/app/cli_common.hpp"

#include "proxy/app/cli_options.hpp"

#include <sys/utsname.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "cache/pin_closure.hpp"

namespace regmirror::app {

CliResult<std::vector<std::string>> read_image_list(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  if (!in) return cli_error("cannot read image list " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    auto last = line.find_last_not_of(" \t\r");
    out.push_back(line.substr(first, last - first + 1));
  }
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

cache::Platform host_platform() {
  utsname name{};
  std::string machine = ::uname(&name) == 0 ? name.machine : "x86_64";
  if (machine == "x86_64") return {"linux", "amd64", ""};
  if (machine == "aarch64" || machine == "arm64") return {"linux", "arm64", ""};
  if (machine.starts_with("armv7")) return {"linux", "arm", "v7"};
  return {"linux", machine, ""};
}

std::string registry_base(const std::string& server, const proxy::registry::ImageReference& ref) {
  return server + "/v2/" + ref.host + "/" + ref.repository;
}

CliResult<std::vector<std::string>> list_tags(CliHttp& http, const std::string& server,
                                              const proxy::registry::ImageReference& repo,
                                              const std::optional<std::regex>& filter) {
  std::vector<std::string> tags;
  std::string url = registry_base(server, repo) + "/tags/list?n=1000";
  for (int page = 0; page < 100 && !url.empty(); ++page) {
    auto answer = http.request("GET", url);
    if (!answer.ok()) return cli_error("listing tags of " + repo.name() + ": " + answer.describe());
    auto doc = nlohmann::json::parse(answer.body, nullptr, false);
    if (!doc.is_object()) {
      return cli_error("listing tags of " + repo.name() + ": the answer is not JSON");
    }
    if (doc.contains("tags") && doc["tags"].is_array()) {
      for (const auto& tag : doc["tags"]) {
        if (!tag.is_string()) continue;
        auto text = tag.get<std::string>();
        if (!filter || std::regex_match(text, *filter)) tags.push_back(text);
      }
    }
    // Link: </v2/.../tags/list?n=1000&last=x>; rel="next"
    url.clear();
    auto link = answer.header("link");
    auto open = link.find('<');
    auto close = link.find('>');
    if (open != std::string::npos && close != std::string::npos && close > open) {
      auto target = link.substr(open + 1, close - open - 1);
      url = target.starts_with("http") ? target : server + target;
    }
  }
  return tags;
}

CliResult<FetchedManifest> fetch_manifest(CliHttp& http, const std::string& base,
                                          const std::string& reference) {
  auto answer = http.request("GET", base + "/manifests/" + reference, {kManifestAccept});
  if (!answer.ok()) return cli_error("manifest " + reference + ": " + answer.describe());
  auto actual = cache::digest_of(answer.body);
  if (reference.find(':') != std::string::npos) {
    auto wanted = cache::Digest::parse(reference);
    if (wanted && *wanted != actual) {
      return cli_error("manifest " + reference + ": the mirror's bytes hash to " + actual.str());
    }
  }
  auto type = answer.header("content-type");
  if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  return FetchedManifest{std::move(answer.body), type, actual};
}

CliResult<std::vector<Attachment>> fetch_attachments(
    CliHttp& http, const std::string& base, const cache::Digest& manifest,
    const std::optional<std::set<std::string>>& known_tags) {
  std::vector<Attachment> out;
  std::set<cache::Digest> seen{manifest};
  auto take = [&](FetchedManifest fetched, std::string tag) {
    if (!seen.insert(fetched.digest).second) return;
    out.push_back(Attachment{std::move(fetched), std::move(tag)});
  };
  for (const auto& tag : cache::fallback_tags(manifest)) {
    if (known_tags && !known_tags->contains(tag)) continue;
    auto answer = http.request("GET", base + "/manifests/" + tag, {kManifestAccept});
    if (answer.error.empty() && answer.status == 404) continue;
    if (!answer.ok()) return cli_error("signature tag " + tag + ": " + answer.describe());
    auto type = answer.header("content-type");
    if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
    auto digest = cache::digest_of(answer.body);
    take(FetchedManifest{std::move(answer.body), type, digest}, tag);
  }
  std::vector<std::string> listed;
  auto referrers = http.request("GET", base + "/referrers/" + manifest.str(),
                                {"Accept: application/vnd.oci.image.index.v1+json"});
  if (referrers.ok()) {
    auto doc = nlohmann::json::parse(referrers.body, nullptr, false);
    if (doc.is_object() && doc.contains("manifests") && doc["manifests"].is_array()) {
      for (const auto& d : doc["manifests"]) {
        if (d.is_object() && d.contains("digest") && d["digest"].is_string()) {
          listed.push_back(d["digest"].get<std::string>());
        }
      }
    }
  } else if (!(referrers.error.empty() && referrers.status == 404)) {
    return cli_error("referrers of " + manifest.str() + ": " + referrers.describe());
  }
  // The children of a fallback-tag index (the OCI referrers tag schema) are referrers too.
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto refs = cache::parse_manifest_references(out[i].manifest.body);
    if (!refs || !refs->is_index || out[i].tag.empty()) continue;
    for (const auto& child : refs->manifests) listed.push_back(child.digest.str());
  }
  for (const auto& digest : listed) {
    auto parsed = cache::Digest::parse(digest);
    if (!parsed || seen.contains(*parsed)) continue;
    auto fetched = fetch_manifest(http, base, digest);
    if (!fetched) return fetched.error();
    take(std::move(*fetched), "");
  }
  return out;
}

CliResult<std::vector<proxy::registry::ImageReference>> expand_entry(
    CliHttp& http, const std::string& server, const std::string& entry,
    const std::optional<std::regex>& filter) {
  auto ref = proxy::registry::parse_image_reference(entry);
  if (!ref) return cli_error("bad reference '" + entry + "': " + ref.error().message);
  std::vector<proxy::registry::ImageReference> out;
  if (!ref->tag.empty() || !ref->digest.empty()) {
    out.push_back(*ref);
    return out;
  }
  auto tags = list_tags(http, server, *ref, filter);
  if (!tags) return tags.error();
  if (tags->empty()) {
    return cli_error(filter ? "no tag of " + ref->name() + " matches --tags"
                            : "no tags listed for " + ref->name());
  }
  for (const auto& tag : *tags) {
    auto tagged = *ref;
    tagged.tag = tag;
    out.push_back(std::move(tagged));
  }
  return out;
}

std::vector<cache::Descriptor> select_platforms(const cache::ManifestReferences& index,
                                                const std::vector<cache::Platform>& platforms) {
  std::vector<cache::Descriptor> out;
  for (const auto& child : index.manifests) {
    if (platforms.empty()) {
      out.push_back(child);
      continue;
    }
    if (!child.platform) continue;
    for (const auto& want : platforms) {
      if (cache::platform_matches(want, *child.platform)) {
        out.push_back(child);
        break;
      }
    }
  }
  return out;
}

void add_selection_options(CliOptions& options, ImageSelection& out) {
  options.value({"--images"}, out.images_file)
      .value({"--server"}, out.server)
      .value({"--tags"},
             [&out](const std::string& text) {
               try {
                 out.tags = std::regex(text, std::regex::ECMAScript);
               } catch (const std::regex_error& e) {
                 return "invalid regular expression '" + text + "': " + e.what();
               }
               return std::string();
             })
      .value({"--platform"}, [&out](const std::string& text) {
        if (text == "all") {
          out.all_platforms = true;
          return std::string();
        }
        auto platform = cache::parse_platform(text);
        if (!platform) return "expected OS/ARCH[/VARIANT] or all, got '" + text + "'";
        out.platforms.push_back(*platform);
        return std::string();
      });
}

}  // namespace regmirror::app
