#include "config/path_template.hpp"

#include "config/reference.hpp"

namespace regmirror::config {
namespace {

enum class Piece { kRepo, kOwner, kBasename };

// Walks the template, calling literal(text) and placeholder(piece); fails with why the
// template is malformed.
template <class Literal, class Placeholder>
Result<void, MessageError> walk(std::string_view tmpl, Literal literal, Placeholder placeholder) {
  std::size_t i = 0;
  while (i < tmpl.size()) {
    auto open = tmpl.find('{', i);
    auto close_stray = tmpl.find('}', i);
    if (close_stray < open) return message_error("unbalanced '}' in path template");
    if (open == std::string_view::npos) {
      literal(tmpl.substr(i));
      break;
    }
    literal(tmpl.substr(i, open - i));
    auto close = tmpl.find('}', open);
    if (close == std::string_view::npos) return message_error("unclosed '{' in path template");
    auto name = tmpl.substr(open + 1, close - open - 1);
    if (name == "repo") {
      placeholder(Piece::kRepo);
    } else if (name == "owner") {
      placeholder(Piece::kOwner);
    } else if (name == "basename") {
      placeholder(Piece::kBasename);
    } else {
      return message_error("unknown placeholder {" + std::string(name) +
                           "} (use {repo}, {owner}, {basename})");
    }
    i = close + 1;
  }
  return {};
}

}  // namespace

Result<void, MessageError> check_path_template(std::string_view tmpl) {
  if (tmpl.empty()) return message_error("path template is empty");
  int placeholders = 0;
  auto walked = walk(
      tmpl, [](std::string_view) {}, [&](Piece) { ++placeholders; });
  if (!walked) return walked;
  if (placeholders == 0) return message_error("path template has no placeholder");
  // Try it on a representative name: the literal parts must keep the result valid.
  if (auto expanded = expand_path_template(tmpl, "owner/repository/image"); !expanded) {
    return expanded.error();
  }
  return {};
}

Result<std::string, MessageError> expand_path_template(std::string_view tmpl,
                                                       std::string_view repository) {
  auto first_slash = repository.find('/');
  auto last_slash = repository.rfind('/');
  std::string out;
  bool owner_missing = false;
  auto walked = walk(
      tmpl, [&](std::string_view text) { out.append(text); },
      [&](Piece piece) {
        switch (piece) {
          case Piece::kRepo:
            out.append(repository);
            break;
          case Piece::kOwner:
            if (first_slash == std::string_view::npos) owner_missing = true;
            out.append(repository.substr(0, first_slash));
            break;
          case Piece::kBasename:
            out.append(last_slash == std::string_view::npos ? repository
                                                            : repository.substr(last_slash + 1));
            break;
        }
      });
  if (!walked) return walked.error();
  if (owner_missing) {
    return message_error("repository '" + std::string(repository) + "' has no owner segment");
  }
  if (!is_valid_repository(out)) {
    return message_error("path template gives an invalid repository '" + out + "'");
  }
  return out;
}

}  // namespace regmirror::config
