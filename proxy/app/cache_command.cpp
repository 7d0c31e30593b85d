#include "proxy/app/cache_command.hpp"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "proxy/app/cli_common.hpp"
#include "proxy/app/cli_options.hpp"
#include "proxy/registry/request_target.hpp"

namespace regmirror::app {
namespace {

using nlohmann::json;

constexpr const char* kCacheUsage = R"(Usage: regmirror cache COMMAND [options]

Inspect and manage a running mirror's cache through its admin API (admin_listen).

Commands:
  ls                 cached references: digest, size (with every blob they use), pinned, last use;
                     printed page by page as the mirror answers (1000 per request)
  ls --limit N [--after REF]
                     one page of at most N references after REF (the "next:" line of the page
                     before); with --json, each page is one JSON document per line
  pin REF            keep REF (e.g. k8s.gcr.io/pause:3.2) and all its blobs forever; REF must be
                     cached already (pull or seed it first)
  unpin REF          let REF be evicted again
  forget REF         drop one cached tag (REPO:TAG): the next pull asks the upstream again; a
                     pinned tag must be unpinned first
  upstreams          each upstream's circuit breaker: closed, open (skipped) or half-open
  gc                 evict least-recently-used unpinned blobs now, down to max_cache_bytes
  gc --blocked       remove the cached copies of every digest in blocked_digests_file (blocking
                     alone refuses them but keeps them on disk)
  gc --s3 --older-than AGE
                     S3 retention (storage.s3): delete bucket blobs last written more than AGE
                     ago (30d, 12h, 90m, 3600s), keeping pinned content; local disk untouched
  verify             re-hash every blob and remove the ones whose bytes do not match
                     (exit status 1 when any was found)

Options:
  --admin URL        admin API (default http://127.0.0.1:5001)
  --json             print the admin API's JSON answer as is
  --help             this text
)";

std::string percent_encode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' || c == ':') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  // ':' is allowed in a query, but '@' needs no escaping either; '+' would read as a space.
  return out;
}

std::string format_time(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

void print_ls_header() {
  std::cout << std::left << std::setw(60) << "REFERENCE"
            << "  " << std::setw(19) << "DIGEST"
            << "  " << std::setw(10) << "SIZE"
            << "  " << std::setw(6) << "PINNED"
            << "  LAST USE\n";
}

void print_ls_rows(const json& doc) {
  for (const auto& ref : doc.value("references", json::array())) {
    auto digest = ref.value("digest", std::string());
    if (digest.size() > 19) digest = digest.substr(0, 19);
    std::string size = format_bytes(ref.value("size", std::uint64_t{0}));
    if (ref.value("missing_blobs", 0) > 0) size += "+";
    std::cout << std::left << std::setw(60) << ref.value("ref", std::string()) << "  "
              << std::setw(19) << digest << "  " << std::setw(10) << size << "  " << std::setw(6)
              << (ref.value("pinned", false) ? "yes" : "no") << "  "
              << format_time(ref.value("last_use", std::int64_t{0})) << "\n";
  }
}

void print_ls_total(const json& doc) {
  std::cout << "total " << format_bytes(doc.value("total_bytes", std::uint64_t{0})) << " in "
            << doc.value("blob_count", 0) << " blobs (pinned "
            << format_bytes(doc.value("pinned_bytes", std::uint64_t{0})) << ", limit "
            << format_bytes(doc.value("max_cache_bytes", std::uint64_t{0})) << ")\n";
}

}  // namespace

// "30d", "12h", "90m", "3600s" or plain seconds; nullopt when malformed.
std::optional<std::int64_t> parse_age_seconds(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'd': unit = 86400; digits.pop_back(); break;
    case 'h': unit = 3600; digits.pop_back(); break;
    case 'm': unit = 60; digits.pop_back(); break;
    case 's': digits.pop_back(); break;
    default: break;
  }
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != digits.npos) {
    return std::nullopt;
  }
  return std::stoll(digits) * unit;
}

namespace {

// `cache ls`: one page (--limit) or every page in turn, printed as it arrives, so neither side
// holds the whole cache listing.
int list_pages(CliHttp& http, const std::string& base, std::optional<std::size_t> limit,
               std::string after, bool raw_json) {
  bool first = true;
  for (;;) {
    std::string url = base + "/admin/cache?limit=" + std::to_string(limit.value_or(1000));
    if (!after.empty()) url += "&after=" + percent_encode(after);
    auto answer = http.request("GET", url);
    if (!answer.ok()) {
      std::cerr << "regmirror cache ls: " << answer.describe() << "\n";
      return 1;
    }
    auto doc = json::parse(answer.body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      std::cerr << "regmirror cache ls: the admin API answered something that is not JSON\n";
      return 1;
    }
    auto next = doc.value("next", std::string());
    if (raw_json) {
      std::cout << doc.dump() << "\n";
    } else {
      if (first) print_ls_header();
      print_ls_rows(doc);
      if (next.empty() || limit) print_ls_total(doc);
      if (!next.empty() && limit) std::cout << "next: " << next << "\n";
    }
    std::cout.flush();
    first = false;
    if (next.empty() || limit) return 0;
    after = next;
  }
}

}  // namespace

int run_cache_command(const std::vector<std::string>& args) {
  std::string admin = kDefaultAdminUrl;
  bool raw_json = false;
  bool s3 = false;
  bool blocked = false;
  std::optional<std::int64_t> older_than;
  std::optional<std::size_t> limit;
  std::string after;
  std::vector<std::string> positional;
  CliOptions options("cache", kCacheUsage);
  options.value({"--admin"}, admin)
      .flag({"--json"}, raw_json)
      .flag({"--s3"}, s3)
      .flag({"--blocked"}, blocked)
      .value({"--limit"},
             [&limit](const std::string& text) {
               if (text.empty() || text.size() > 5 ||
                   text.find_first_not_of("0123456789") != std::string::npos ||
                   std::stoul(text) == 0 || std::stoul(text) > 10000) {
                 return std::string("needs a number from 1 to 10000");
               }
               limit = std::stoul(text);
               return std::string();
             })
      .value({"--after"},
             [&after](const std::string& text) {
               if (text.empty()) return std::string("needs a reference (REGISTRY/REPO:TAG)");
               after = text;
               return std::string();
             })
      .value({"--older-than"},
             [&older_than](const std::string& text) {
               older_than = parse_age_seconds(text);
               if (!older_than) return std::string("needs an age like 30d, 12h, 90m or 3600s");
               return std::string();
             })
      .positionals(positional);
  if (auto code = CliOptions::exit_code(options.parse(args))) return *code;
  if (positional.empty()) {
    std::cerr << "regmirror cache: missing command: ls, pin, unpin, forget, upstreams, gc or "
                 "verify (see --help)\n";
    return 2;
  }
  auto base = normalize_base_url(admin);
  if (base.empty()) {
    std::cerr << "regmirror cache: --admin must be http://HOST:PORT, got '" << admin << "'\n";
    return 2;
  }
  const auto& command = positional[0];
  bool takes_ref = command == "pin" || command == "unpin" || command == "forget";
  bool known = takes_ref || command == "ls" || command == "gc" || command == "verify" ||
               command == "upstreams";
  if (!known) {
    std::cerr << "regmirror cache: unknown command '" << command
              << "' (ls, pin, unpin, forget, upstreams, gc, verify)\n";
    return 2;
  }
  if (positional.size() != (takes_ref ? 2U : 1U)) {
    std::cerr << "regmirror cache " << command << ": "
              << (takes_ref ? "needs exactly one reference" : "takes no arguments") << "\n";
    return 2;
  }

  if ((limit || !after.empty()) && command != "ls") {
    std::cerr << "regmirror cache " << command << ": --limit/--after only apply to ls\n";
    return 2;
  }
  if (blocked && (command != "gc" || s3)) {
    std::cerr << "regmirror cache " << command << ": --blocked only applies to gc (without --s3)\n";
    return 2;
  }
  if ((s3 || older_than) && command != "gc") {
    std::cerr << "regmirror cache " << command << ": --s3/--older-than only apply to gc\n";
    return 2;
  }
  if (s3 != older_than.has_value()) {
    std::cerr << "regmirror cache gc: --s3 and --older-than go together\n";
    return 2;
  }

  CliHttp http;
  if (command == "ls") return list_pages(http, base, limit, after, raw_json);
  HttpAnswer answer;
  if (command == "pin") {
    answer = http.request("POST", base + "/admin/pins", {"Content-Type: application/json"},
                          json{{"ref", positional[1]}}.dump());
  } else if (command == "unpin") {
    answer = http.request("DELETE", base + "/admin/pins?ref=" + percent_encode(positional[1]));
  } else if (command == "forget") {
    answer = http.request("DELETE", base + "/admin/tags?ref=" + percent_encode(positional[1]));
  } else if (command == "upstreams") {
    answer = http.request("GET", base + "/admin/upstreams");
  } else if (command == "gc" && s3) {
    answer = http.request("POST", base + "/admin/gc?s3=1&older_than_seconds=" +
                                      std::to_string(*older_than),
                          {"Content-Type: application/json"}, "{}");
  } else if (command == "gc" && blocked) {
    answer = http.request("POST", base + "/admin/gc?blocked=1", {"Content-Type: application/json"}, "{}");
  } else if (command == "gc") {
    answer = http.request("POST", base + "/admin/gc", {"Content-Type: application/json"}, "{}");
  } else {
    answer = http.request("POST", base + "/admin/verify", {"Content-Type: application/json"}, "{}");
  }
  if (!answer.ok()) {
    std::cerr << "regmirror cache " << command << ": " << answer.describe() << "\n";
    return 1;
  }
  auto doc = json::parse(answer.body, nullptr, false);
  if (raw_json || doc.is_discarded()) {
    std::cout << answer.body;
    if (command == "verify" && !doc.is_discarded() && !doc.value("bad", json::array()).empty())
      return 1;
    return 0;
  }
  if (command == "pin") {
    std::cout << "pinned " << doc.value("ref", std::string()) << " ("
              << doc.value("digest", std::string()) << ", " << doc.value("digests", 0)
              << " digests, " << format_bytes(doc.value("bytes", std::uint64_t{0})) << " cached";
    if (doc.value("missing_blobs", 0) > 0)
      std::cout << ", " << doc.value("missing_blobs", 0) << " blobs not cached yet";
    std::cout << ")\n";
  } else if (command == "unpin") {
    std::cout << "unpinned " << doc.value("ref", std::string()) << "\n";
  } else if (command == "forget") {
    std::cout << "forgot " << doc.value("ref", std::string()) << " (was "
              << doc.value("digest", std::string()) << ")\n";
  } else if (command == "upstreams") {
    for (const auto& u : doc.value("upstreams", json::array())) {
      std::cout << u.value("registry", std::string()) << "  " << u.value("upstream", std::string())
                << "  " << u.value("state", std::string());
      if (u.value("consecutive_failures", 0) > 0) {
        std::cout << "  failures=" << u.value("consecutive_failures", 0);
      }
      if (u.value("retry_in_ms", 0) > 0) std::cout << "  retry_in=" << u.value("retry_in_ms", 0) << "ms";
      std::cout << "\n";
    }
  } else if (command == "gc" && s3) {
    auto removed = doc.value("removed", json::array());
    std::uint64_t freed = 0;
    for (const auto& blob : removed) freed += blob.value("size", std::uint64_t{0});
    std::cout << "bucket: scanned " << doc.value("scanned", 0) << " blobs, removed "
              << removed.size() << " (" << format_bytes(freed) << "), kept "
              << doc.value("kept_pinned", 0) << " pinned and " << doc.value("kept_recent", 0)
              << " recent\n";
  } else if (command == "gc" && blocked) {
    auto removed = doc.value("removed", json::array());
    std::uint64_t freed = 0;
    for (const auto& blob : removed) {
      freed += blob.value("size", std::uint64_t{0});
      std::cout << "removed " << blob.value("digest", std::string()) << "\n";
    }
    std::cout << doc.value("blocked", 0) << " digests blocked; removed " << removed.size()
              << " cached (" << format_bytes(freed) << ")\n";
  } else if (command == "gc") {
    auto removed = doc.value("removed", json::array());
    std::uint64_t freed = 0;
    for (const auto& blob : removed) freed += blob.value("size", std::uint64_t{0});
    std::cout << "removed " << removed.size() << " blobs (" << format_bytes(freed)
              << "); cache now " << format_bytes(doc.value("bytes_after", std::uint64_t{0}))
              << " of " << format_bytes(doc.value("max_cache_bytes", std::uint64_t{0})) << "\n";
  } else {
    auto bad = doc.value("bad", json::array());
    for (const auto& blob : bad) {
      std::cout << "bad blob " << blob.value("digest", std::string()) << ": "
                << blob.value("reason", std::string())
                << (blob.value("removed", false) ? " (removed)" : " (could not remove)") << "\n";
    }
    std::cout << "checked " << doc.value("checked", 0) << " blobs, " << bad.size() << " bad\n";
    if (!bad.empty()) return 1;
  }
  return 0;
}

}  // namespace regmirror::app
