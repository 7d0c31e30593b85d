#include "config/repository_policy.hpp"

namespace regmirror::config {
namespace {

bool is_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
         c == '/';
}

std::string glob_to_regex(std::string_view path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '*') {
      if (i + 1 < path.size() && path[i + 1] == '*') {
        out += ".*";
        ++i;
      } else {
        out += "[^/]*";
      }
    } else if (c == '.') {
      out += "\\.";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Result<void, MessageError> check_repository_glob(std::string_view glob) {
  auto colon = glob.find(':');
  auto path = glob.substr(0, colon);
  if (path.empty()) return message_error("empty repository glob");
  if (path.front() == '/' || path.back() == '/')
    return message_error("glob must not start or end with '/'");
  if (path.find("//") != std::string_view::npos)
    return message_error("glob has an empty segment ('//')");
  if (path.find("***") != std::string_view::npos)
    return message_error("'***' is not a glob; use '*' or '**'");
  for (char c : path) {
    if (c != '*' && !is_path_char(c)) {
      return message_error(
          std::string("character '") + c +
          "' cannot appear in a repository name (lower-case a-z, 0-9, '.', '_', '-', '/', '*')");
    }
  }
  if (colon != std::string_view::npos) {
    auto tag = glob.substr(colon + 1);
    if (tag.empty()) return message_error("empty tag regex after ':'");
    try {
      std::regex compiled{std::string(tag), std::regex::ECMAScript};
    } catch (const std::regex_error& e) {
      return message_error("tag regex '" + std::string(tag) + "' does not compile: " + e.what());
    }
  }
  return {};
}

RepositoryPolicy::Rule RepositoryPolicy::compile(const std::string& glob) {
  auto colon = glob.find(':');
  Rule rule{glob, std::regex(glob_to_regex(std::string_view(glob).substr(0, colon))), std::nullopt};
  if (colon != std::string::npos) rule.tag.emplace(glob.substr(colon + 1), std::regex::ECMAScript);
  return rule;
}

RepositoryPolicy::RepositoryPolicy(const std::vector<std::string>& allow,
                                   const std::vector<std::string>& deny) {
  for (const auto& glob : allow) allow_.push_back(compile(glob));
  for (const auto& glob : deny) deny_.push_back(compile(glob));
}

bool RepositoryPolicy::matches(const Rule& rule, std::string_view repository, std::string_view tag,
                               bool digest_matches_tag_rule) {
  if (!std::regex_match(repository.begin(), repository.end(), rule.path)) return false;
  if (!rule.tag) return true;
  if (tag.empty()) return digest_matches_tag_rule;
  return std::regex_match(tag.begin(), tag.end(), *rule.tag);
}

std::optional<std::string> RepositoryPolicy::refusal(std::string_view repository,
                                                     std::string_view tag) const {
  for (const auto& rule : deny_) {
    if (matches(rule, repository, tag, false)) return "denied by rule '" + rule.text + "'";
  }
  if (allow_.empty()) return std::nullopt;
  for (const auto& rule : allow_) {
    if (matches(rule, repository, tag, true)) return std::nullopt;
  }
  return std::string("not in the allow list");
}

}  // namespace regmirror::config
