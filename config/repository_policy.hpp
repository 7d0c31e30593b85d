#pragma once
// Which repositories of one registry clients may pull: a registry's "allow" and "deny" globs.
// A glob is `path[:tag-regex]`: in the path, `*` matches the characters of one segment (no '/'),
// `**` any number of segments; the optional tag regex (ECMAScript, whole-tag match) narrows a
// rule to manifests requested by a matching tag. Deny wins; with an allow list, a repository
// no allow rule matches is refused. Requests by digest (blobs, manifests, referrers) and tags
// lists are judged by the path part alone.
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "config/result.hpp"

namespace regmirror::config {

// Whether `glob` is well formed; else why not (for load.cpp's messages).
Result<void, MessageError> check_repository_glob(std::string_view glob);

class RepositoryPolicy {
 public:
  RepositoryPolicy() = default;
  // Globs must have passed check_repository_glob.
  RepositoryPolicy(const std::vector<std::string>& allow, const std::vector<std::string>& deny);

  bool empty() const { return allow_.empty() && deny_.empty(); }

  // nullopt when allowed; otherwise the reason naming the rule ("denied by rule 'x/**'").
  // `tag`: the tag asked for, empty for digests, blobs, tag lists and referrers.
  std::optional<std::string> refusal(std::string_view repository, std::string_view tag) const;

 private:
  struct Rule {
    std::string text;
    std::regex path;
    std::optional<std::regex> tag;
  };
  static Rule compile(const std::string& glob);
  // For allow rules an unconstrained reference (digest) satisfies a tag-narrowed rule;
  // for deny rules it does not.
  static bool matches(const Rule& rule, std::string_view repository, std::string_view tag,
                      bool digest_matches_tag_rule);

  std::vector<Rule> allow_;
  std::vector<Rule> deny_;
};

}  // namespace regmirror::config
