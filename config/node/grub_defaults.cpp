#include "config/node/grub_defaults.hpp"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

namespace regmirror::config::node {
namespace {

constexpr std::string_view kLinuxVar = "GRUB_CMDLINE_LINUX";
constexpr std::string_view kDefaultVar = "GRUB_CMDLINE_LINUX_DEFAULT";

enum class Quote { kNone, kDouble, kSingle };

// Joins pieces into one string, sized once. (Chained operator+ on temporaries also works, but
// GCC 12 at -O3 reports a false -Wrestrict inside char_traits for it.)
std::string concat(std::initializer_list<std::string_view> pieces) {
  std::size_t size = 0;
  for (auto piece : pieces) size += piece.size();
  std::string out;
  out.reserve(size);
  for (auto piece : pieces) out.append(piece);
  return out;
}

struct Segment {
  Quote quote;
  size_t begin;  // first byte of the content (after an opening quote)
  size_t end;    // one past the content (the closing quote's position)
};

// One `NAME=word` assignment found at the start of a line.
struct Assignment {
  std::string name;
  size_t word_begin;
  size_t word_end;
  std::vector<Segment> segments;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool ends_word(char c) {
  return is_space(c) || c == ';' || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' ||
         c == ')';
}

// Parses the shell word at text[pos]; nullopt on an unterminated quote.
std::optional<std::vector<Segment>> parse_word(std::string_view text, size_t& pos) {
  std::vector<Segment> segments;
  while (pos < text.size() && !ends_word(text[pos])) {
    const char c = text[pos];
    if (c == '"' || c == '\'') {
      const size_t begin = ++pos;
      while (pos < text.size() && text[pos] != c) {
        if (c == '"' && text[pos] == '\\') ++pos;
        ++pos;
      }
      if (pos >= text.size()) return std::nullopt;
      segments.push_back({c == '"' ? Quote::kDouble : Quote::kSingle, begin, pos});
      ++pos;
    } else {
      const size_t begin = pos;
      while (pos < text.size() && !ends_word(text[pos]) && text[pos] != '"' && text[pos] != '\'') {
        if (text[pos] == '\\') ++pos;
        ++pos;
      }
      pos = std::min(pos, text.size());
      segments.push_back({Quote::kNone, begin, pos});
    }
  }
  return segments;
}

// All assignments of GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT, in file order.
NodeResult<std::vector<Assignment>> find_assignments(std::string_view text) {
  std::vector<Assignment> found;
  size_t line_start = 0;
  while (line_start < text.size()) {
    size_t pos = line_start;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (text.substr(pos).starts_with("export ")) {
      pos += 7;
      while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    }
    size_t next_line = text.find('\n', pos);
    for (std::string_view name : {kDefaultVar, kLinuxVar}) {
      if (!text.substr(pos).starts_with(name) || pos + name.size() >= text.size() ||
          text[pos + name.size()] != '=') {
        continue;
      }
      Assignment a;
      a.name = std::string(name);
      a.word_begin = pos + name.size() + 1;
      size_t word_pos = a.word_begin;
      auto segments = parse_word(text, word_pos);
      if (!segments) {
        return node_error("/etc/default/grub: the value of " + a.name +
                          " has an unterminated quote; fix it by hand (grub-mkconfig would "
                          "fail on it too)");
      }
      a.segments = std::move(*segments);
      a.word_end = word_pos;
      // A quoted value may span lines; continue after it.
      next_line = text.find('\n', word_pos);
      found.push_back(std::move(a));
      break;
    }
    if (next_line == std::string_view::npos) break;
    line_start = next_line + 1;
  }
  return found;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// The value the shell would assign, with $GRUB_CMDLINE_LINUX / ${...} of `self` expanded to
// `previous` (other expansions are left as written: they cannot produce our argument).
std::string evaluate(std::string_view text, const Assignment& a, const std::string& previous) {
  std::string value;
  for (const Segment& s : a.segments) {
    std::string part;
    std::string_view raw = text.substr(s.begin, s.end - s.begin);
    if (s.quote == Quote::kSingle) {
      value += raw;
      continue;
    }
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) {
        part += raw[++i];
      } else {
        part += raw[i];
      }
    }
    const std::string braced = "${" + a.name + "}";
    part = replace_all(std::move(part), braced, previous);
    // $NAME must not match a longer name ($GRUB_CMDLINE_LINUX_DEFAULT).
    const std::string plain = "$" + a.name;
    for (size_t p = part.find(plain); p != std::string::npos; p = part.find(plain, p)) {
      const size_t after = p + plain.size();
      if (after < part.size() &&
          (std::isalnum(static_cast<unsigned char>(part[after])) || part[after] == '_')) {
        p = after;
        continue;
      }
      part.replace(p, plain.size(), previous);
      p += previous.size();
    }
    value += part;
  }
  return value;
}

}  // namespace

bool cmdline_has_arg(std::string_view cmdline, std::string_view arg) {
  const size_t eq = arg.find('=');
  const std::string_view key = arg.substr(0, eq);
  const std::string_view want = eq == std::string_view::npos ? "" : arg.substr(eq + 1);
  size_t pos = 0;
  while (pos < cmdline.size()) {
    while (pos < cmdline.size() && is_space(cmdline[pos])) ++pos;
    size_t end = pos;
    while (end < cmdline.size() && !is_space(cmdline[end])) ++end;
    std::string_view token = cmdline.substr(pos, end - pos);
    pos = end;
    if (token.empty()) continue;
    if (eq == std::string_view::npos) {
      if (token == arg) return true;
      continue;
    }
    if (!token.starts_with(key) || token.size() <= key.size() || token[key.size()] != '=') {
      continue;
    }
    std::string_view values = token.substr(key.size() + 1);
    size_t start = 0;
    for (;;) {
      size_t comma = values.find(',', start);
      if (values.substr(start, comma - start) == want) return true;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }
  return false;
}

NodeResult<GrubDefaultsEdit> add_grub_kernel_arg(std::string_view text, std::string_view arg) {
  auto assignments = find_assignments(text);
  if (!assignments) return assignments.error();

  std::string linux_value;
  std::string default_value;
  const Assignment* last_linux = nullptr;
  for (const Assignment& a : *assignments) {
    std::string& value = a.name == kLinuxVar ? linux_value : default_value;
    value = evaluate(text, a, value);
    if (a.name == kLinuxVar) last_linux = &a;
  }

  GrubDefaultsEdit edit;
  if (cmdline_has_arg(linux_value, arg) || cmdline_has_arg(default_value, arg)) {
    edit.text = std::string(text);
    return edit;
  }
  const std::string_view eol = text.find("\r\n") != std::string_view::npos ? "\r\n" : "\n";
  const std::string quoted_arg = concat({"\"", arg, "\""});
  if (last_linux == nullptr) {
    edit.text = std::string(text);
    if (!edit.text.empty() && !edit.text.ends_with('\n')) edit.text += eol;
    edit.text += std::string(kLinuxVar) + "=" + quoted_arg + std::string(eol);
    edit.changed = true;
    return edit;
  }

  const Assignment& a = *last_linux;
  const bool empty_value = linux_value.find_first_not_of(" \t") == std::string::npos;
  const std::string spaced_arg = concat({empty_value ? "" : " ", arg});
  std::string out(text.substr(0, a.word_begin));
  if (a.segments.empty()) {
    out += quoted_arg;
    out += text.substr(a.word_end);
  } else if (const Segment& last = a.segments.back(); last.quote != Quote::kNone) {
    // Inside the closing quote; an argument has no characters that need escaping.
    out += text.substr(a.word_begin, last.end - a.word_begin);
    out += spaced_arg;
    out += text.substr(last.end);
  } else {
    std::string_view word = text.substr(a.word_begin, a.word_end - a.word_begin);
    if (a.segments.size() == 1 && word.find_first_of("\\\"`") == std::string_view::npos) {
      // quiet -> "quiet arg": the usual spelling, and the same value.
      out += concat({"\"", word, spaced_arg, "\""});
    } else {
      out += concat({word, "\"", spaced_arg, "\""});
    }
    out += text.substr(a.word_end);
  }
  edit.text = std::move(out);
  edit.changed = true;
  return edit;
}

}  // namespace regmirror::config::node
