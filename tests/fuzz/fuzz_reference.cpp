// Repository/tag/host grammar and upstream path templates (config/reference.hpp,
// config/path_template.hpp). Input: "<template>\n<repository>" (no '\n': the whole input is
// tried as repository, tag, host and template).
//
// Properties: the repository and tag checks agree with an independent std::regex reading of
// the distribution grammar; a template that passed check_path_template gives a valid
// repository equal to a plain substitution of its placeholders or an error, and fails on a
// valid multi-segment name only by length.
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>

#include "config/path_template.hpp"
#include "config/reference.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace regmirror::config;

// Written from the distribution reference grammar, independently of reference.cpp.
const std::regex& repository_regex() {
  static const std::regex rx(
      "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*");
  return rx;
}

const std::regex& tag_regex() {
  static const std::regex rx("[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  return rx;
}

// libstdc++'s std::regex recurses per character; keep the oracle to sizes it handles.
constexpr std::size_t kOracleMax = 400;

void check_name(std::string_view s) {
  bool repo = is_valid_repository(s);
  bool tag = is_valid_tag(s);
  bool host = is_valid_registry_host(s);
  if (s.size() <= kOracleMax) {
    std::string text(s);
    bool want_repo = s.size() <= kMaxRepositoryLength && std::regex_match(text, repository_regex());
    FUZZ_CHECK(repo == want_repo);
    FUZZ_CHECK(tag == std::regex_match(text, tag_regex()));
  }
  if (host) {
    for (char c : s) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-' || c == ':';
      FUZZ_CHECK(ok);  // a host never carries '/', '%', NUL or spaces into a URL
    }
  }
}

// The expansion written out independently of path_template.cpp: a checked template is literal
// text and {repo}, {owner}, {basename} placeholders.
std::string substitute(std::string_view tmpl, std::string_view repository) {
  auto first_slash = repository.find('/');
  auto last_slash = repository.rfind('/');
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] != '{') {
      out.push_back(tmpl[i++]);
      continue;
    }
    auto close = tmpl.find('}', i);
    auto name = tmpl.substr(i + 1, close - i - 1);
    if (name == "repo") {
      out.append(repository);
    } else if (name == "owner") {
      out.append(repository.substr(0, first_slash));
    } else {
      out.append(last_slash == std::string_view::npos ? repository
                                                      : repository.substr(last_slash + 1));
    }
    i = close + 1;
  }
  return out;
}

void check_template(std::string_view tmpl, std::string_view repository) {
  if (!check_path_template(tmpl)) return;
  auto expansion = expand_path_template(tmpl, repository);
  if (expansion) {
    FUZZ_CHECK(is_valid_repository(*expansion));
    FUZZ_CHECK(*expansion == substitute(tmpl, repository));
  }
  if (is_valid_repository(repository) && repository.find('/') != std::string_view::npos) {
    // {owner}, {basename} and {repo} of a valid name start and end with an alphanumeric, like
    // the names the template was checked with, so only the length can break the result.
    if (!expansion) FUZZ_CHECK(substitute(tmpl, repository).size() > kMaxRepositoryLength);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  if (newline == std::string_view::npos) {
    check_name(input);
    check_template(input, "owner/repository/image");
    return 0;
  }
  auto tmpl = input.substr(0, newline);
  auto repository = input.substr(newline + 1);
  check_name(repository);
  check_template(tmpl, repository);
  return 0;
}
