#include "proxy/upstream/www_authenticate.hpp"

#include <cctype>

namespace regmirror::proxy::upstream {
namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  void skip_spaces() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void advance() { ++pos_; }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t pos) { pos_ = pos; }

  std::string_view token() {
    auto start = pos_;
    while (pos_ < text_.size() && is_token_char(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::optional<std::string> quoted() {
    if (peek() != '"') return std::nullopt;
    advance();
    std::string out;
    while (!at_end()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (at_end()) return std::nullopt;
        c = text_[pos_++];
      }
      out.push_back(c);
    }
    return std::nullopt;  // unterminated
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<AuthChallenge> parse_www_authenticate(std::string_view header) {
  std::vector<AuthChallenge> out;
  Parser p(header);
  while (true) {
    // Challenges are comma-separated; every iteration consumes a non-empty scheme or stops.
    while (p.peek() == ',' || p.peek() == ' ' || p.peek() == '\t') p.advance();
    auto scheme = p.token();
    if (scheme.empty()) break;
    AuthChallenge challenge{lower(scheme), {}};
    while (true) {
      p.skip_spaces();
      auto mark = p.pos();
      auto name = p.token();
      p.skip_spaces();
      if (name.empty() || p.peek() != '=') {
        p.seek(mark);  // the next challenge's scheme starts here (or the header ends)
        break;
      }
      p.advance();
      p.skip_spaces();
      std::string value;
      if (p.peek() == '"') {
        auto quoted = p.quoted();
        if (!quoted) {  // unterminated quote: keep what we have, stop
          out.push_back(std::move(challenge));
          return out;
        }
        value = std::move(*quoted);
      } else {
        value = std::string(p.token());
      }
      challenge.params[lower(name)] = std::move(value);
      p.skip_spaces();
      if (p.peek() != ',') break;
      p.advance();
    }
    out.push_back(std::move(challenge));
  }
  return out;
}

}  // namespace regmirror::proxy::upstream
