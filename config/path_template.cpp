#include "config/path_template.hpp"

#include "config/reference.hpp"

namespace regmirror::config {
namespace {

enum class Piece { kRepo, kOwner, kBasename };

// Walks the template, calling literal(text) and placeholder(piece); returns "" or why the
// template is malformed.
template <class Literal, class Placeholder>
std::string walk(std::string_view tmpl, Literal literal, Placeholder placeholder) {
  std::size_t i = 0;
  while (i < tmpl.size()) {
    auto open = tmpl.find('{', i);
    auto close_stray = tmpl.find('}', i);
    if (close_stray < open) return "unbalanced '}' in path template";
    if (open == std::string_view::npos) {
      literal(tmpl.substr(i));
      break;
    }
    literal(tmpl.substr(i, open - i));
    auto close = tmpl.find('}', open);
    if (close == std::string_view::npos) return "unclosed '{' in path template";
    auto name = tmpl.substr(open + 1, close - open - 1);
    if (name == "repo") {
      placeholder(Piece::kRepo);
    } else if (name == "owner") {
      placeholder(Piece::kOwner);
    } else if (name == "basename") {
      placeholder(Piece::kBasename);
    } else {
      return "unknown placeholder {" + std::string(name) + "} (use {repo}, {owner}, {basename})";
    }
    i = close + 1;
  }
  return {};
}

}  // namespace

std::string check_path_template(std::string_view tmpl) {
  if (tmpl.empty()) return "path template is empty";
  int placeholders = 0;
  auto error = walk(
      tmpl, [](std::string_view) {}, [&](Piece) { ++placeholders; });
  if (!error.empty()) return error;
  if (placeholders == 0) return "path template has no placeholder";
  // Try it on a representative name: the literal parts must keep the result valid.
  return expand_path_template(tmpl, "owner/repository/image").error;
}

Expansion expand_path_template(std::string_view tmpl, std::string_view repository) {
  auto first_slash = repository.find('/');
  auto last_slash = repository.rfind('/');
  Expansion out;
  auto error = walk(
      tmpl, [&](std::string_view text) { out.repository.append(text); },
      [&](Piece piece) {
        switch (piece) {
          case Piece::kRepo:
            out.repository.append(repository);
            break;
          case Piece::kOwner:
            if (first_slash == std::string_view::npos) {
              out.error = "repository '" + std::string(repository) + "' has no owner segment";
            }
            out.repository.append(repository.substr(0, first_slash));
            break;
          case Piece::kBasename:
            out.repository.append(last_slash == std::string_view::npos
                                      ? repository
                                      : repository.substr(last_slash + 1));
            break;
        }
      });
  if (!error.empty()) out.error = std::move(error);
  if (out.error.empty() && !is_valid_repository(out.repository)) {
    out.error = "path template gives an invalid repository '" + out.repository + "'";
  }
  return out;
}

}  // namespace regmirror::config
