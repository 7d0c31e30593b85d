#include "config/digest_blocklist.hpp"

#include <fstream>
#include <sstream>

namespace regmirror::config {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// Empty when `digest` is a digest we can block; otherwise why not.
std::string check_digest(std::string_view digest) {
  auto colon = digest.find(':');
  if (colon == std::string_view::npos) return "not a digest (want sha256:<64 hex digits>)";
  auto algorithm = digest.substr(0, colon);
  auto hex = digest.substr(colon + 1);
  std::size_t want = 0;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return "unknown digest algorithm '" + std::string(algorithm) + "' (want sha256 or sha512)";
  }
  if (hex.size() != want || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return std::string(algorithm) + " digest must be " + std::to_string(want) +
           " lower-case hex digits";
  }
  return {};
}

}  // namespace

BlocklistParse parse_digest_blocklist(std::string_view text, const std::string& where) {
  BlocklistParse out;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    auto newline = text.find('\n');
    auto line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    if (auto why = check_digest(line); !why.empty()) {
      out.digests.clear();
      out.error = where + ":" + std::to_string(number) + ": " + why;
      return out;
    }
    out.digests.emplace(line);
  }
  return out;
}

BlocklistParse read_digest_blocklist(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return BlocklistParse{{}, path + ": cannot read the blocked digests file"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return BlocklistParse{{}, path + ": read error"};
  return parse_digest_blocklist(text.str(), path);
}

std::shared_ptr<const DigestBlocklist::Set> DigestBlocklist::current() const {
  std::lock_guard lock(mutex_);
  return digests_;
}

bool DigestBlocklist::blocked(std::string_view digest) const {
  auto set = current();
  return set->find(digest) != set->end();
}

std::size_t DigestBlocklist::size() const { return current()->size(); }

std::vector<std::string> DigestBlocklist::list() const {
  auto now = current();
  return std::vector<std::string>(now->begin(), now->end());
}

void DigestBlocklist::replace(std::set<std::string, std::less<>> digests) {
  auto next = std::make_shared<const Set>(std::move(digests));
  std::lock_guard lock(mutex_);
  digests_ = std::move(next);
}

}  // namespace regmirror::config
