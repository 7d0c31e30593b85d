#include "config/node/containerd_config.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "config/node/toml_text.hpp"

namespace regmirror::config::node {
namespace {

constexpr std::string_view kV2Plugin = "io.containerd.grpc.v1.cri";
constexpr std::string_view kV3Plugin = "io.containerd.cri.v1.images";

struct Line {
  std::string_view body;        // without the terminator
  std::string_view terminator;  // "\n", "\r\n" or "" for a last line without one
};

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      lines.push_back({text.substr(pos), ""});
      break;
    }
    size_t end = nl;
    if (end > pos && text[end - 1] == '\r') --end;
    lines.push_back({text.substr(pos, end - pos), text.substr(end, nl + 1 - end)});
    pos = nl + 1;
  }
  return lines;
}

std::vector<std::string> registry_path(ContainerdConfigVersion version) {
  return {"plugins", std::string(version == ContainerdConfigVersion::kV3 ? kV3Plugin : kV2Plugin),
          "registry"};
}

bool has_prefix(const std::vector<std::string>& path, const std::vector<std::string>& prefix) {
  if (path.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (path[i] != prefix[i]) return false;
  }
  return true;
}

std::string_view leading_ws(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (s[n] == ' ' || s[n] == '\t')) ++n;
  return s.substr(0, n);
}

bool is_blank_or_comment(std::string_view s) {
  size_t n = leading_ws(s).size();
  return n == s.size() || s[n] == '#' || (s[n] == '\r' && n + 1 == s.size());
}

// Position [begin, end) of the string literal value on a `key = "..."` line.
std::optional<std::pair<size_t, size_t>> string_value_span(std::string_view line) {
  size_t eq = line.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  size_t b = eq + 1;
  while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
  if (b >= line.size() || (line[b] != '"' && line[b] != '\'')) return std::nullopt;
  const char quote = line[b];
  size_t e = b + 1;
  while (e < line.size() && line[e] != quote) {
    if (quote == '"' && line[e] == '\\') ++e;
    ++e;
  }
  if (e >= line.size()) return std::nullopt;
  return std::make_pair(b, e + 1);
}

std::string prepend_dir(const std::string& current, std::string_view dir) {
  std::string out(dir);
  size_t start = 0;
  while (start <= current.size()) {
    size_t colon = current.find(':', start);
    std::string part = current.substr(start, colon - start);
    if (!part.empty() && part != dir) out += ":" + part;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

// config_path's entries, as containerd 1.x's filepath.SplitList reads it (empty parts dropped).
std::vector<std::string> split_path_list(std::string_view list) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    std::string_view part = list.substr(start, colon - start);
    if (!part.empty()) parts.emplace_back(part);
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return parts;
}

// The comment that records, in a version 3 file, which directories config_path listed before
// regmirror made it one directory; a later apply reads it back to keep copying their entries.
constexpr std::string_view kMergedPrefix = "# regmirror: config_path also had \"";
constexpr std::string_view kMergedSuffix =
    "\"; their entries are copied into config_path (containerd 2.1+ reads one directory)";

std::string merged_comment(const std::vector<std::string>& dirs) {
  std::string joined;
  for (const std::string& d : dirs) joined += (joined.empty() ? "" : ":") + d;
  return std::string(kMergedPrefix) + joined + std::string(kMergedSuffix);
}

// The directories a merged_comment() line names; nullopt for any other line.
std::optional<std::vector<std::string>> parse_merged_comment(std::string_view line) {
  std::string_view body = line.substr(leading_ws(line).size());
  if (!body.starts_with(kMergedPrefix)) return std::nullopt;
  body.remove_prefix(kMergedPrefix.size());
  size_t end = body.find('"');
  if (end == std::string_view::npos) return std::nullopt;
  return split_path_list(body.substr(0, end));
}

void add_unique(std::vector<std::string>& to, const std::string& dir, std::string_view except) {
  if (dir != except && std::find(to.begin(), to.end(), dir) == to.end()) to.push_back(dir);
}

struct VersionLine {
  std::optional<int> number;  // nullopt: no `version = N` line before the first table
  bool has_content = false;   // any key or table at all
};

NodeResult<VersionLine> config_version(const std::vector<Line>& lines) {
  VersionLine found;
  for (const Line& line : lines) {
    if (toml_is_any_header(line.body)) {
      found.has_content = true;
      break;
    }
    auto key = toml_key(line.body);
    if (!key) continue;
    found.has_content = true;
    if (*key == std::vector<std::string>{"version"}) {
      std::string_view v = line.body.substr(line.body.find('=') + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      int n = 0;
      size_t i = 0;
      for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) n = n * 10 + (v[i] - '0');
      if (i == 0) return node_error("config.toml: `version` is not a number");
      found.number = n;
      return found;
    }
  }
  return found;
}

// The string value of `<registry table of version>.config_path`, whether it is written in the
// table or as a dotted key; nullopt when the file does not set it.
std::optional<std::string> config_path_value(const std::vector<Line>& lines,
                                             ContainerdConfigVersion version) {
  const std::vector<std::string> registry = registry_path(version);
  std::vector<std::string> table;
  std::optional<std::string> value;
  for (const Line& line : lines) {
    if (toml_is_any_header(line.body)) {
      auto header = toml_table_header(line.body);
      table = header ? *header : std::vector<std::string>{};
      continue;
    }
    auto key = toml_key(line.body);
    if (!key) continue;
    std::vector<std::string> full = table;
    full.insert(full.end(), key->begin(), key->end());
    if (full.size() == registry.size() + 1 && has_prefix(full, registry) &&
        full.back() == "config_path") {
      value = toml_string_value(line.body).value_or("");
    }
  }
  return value;
}

}  // namespace

std::string_view containerd_registry_table(ContainerdConfigVersion version) {
  return version == ContainerdConfigVersion::kV3
             ? R"([plugins."io.containerd.cri.v1.images".registry])"
             : R"([plugins."io.containerd.grpc.v1.cri".registry])";
}

std::string render_containerd_fragment(ContainerdConfigVersion version,
                                       std::string_view certs_dir) {
  std::string out;
  out += version == ContainerdConfigVersion::kV3
             ? "# containerd 2.x (config version 3): registry hosts come from hosts.toml files.\n"
               "version = 3\n\n"
             : "# containerd 1.6 / 1.7 (config version 2): registry hosts come from hosts.toml "
               "files.\nversion = 2\n\n";
  out += containerd_registry_table(version);
  out += "\n  config_path = " + toml_quote(certs_dir) + "\n";
  return out;
}

NodeResult<ContainerdConfigEdit> enable_config_path(std::string_view config_text,
                                                    std::string_view certs_dir) {
  const std::vector<Line> lines = split_lines(config_text);
  const std::string_view eol = !lines.empty() && lines.front().terminator == "\r\n" ? "\r\n" : "\n";

  // The version line precedes every table header.
  auto parsed_version = config_version(lines);
  if (!parsed_version) return parsed_version.error();
  const std::optional<int> version_number = parsed_version->number;
  const bool has_content = parsed_version->has_content;

  ContainerdConfigEdit edit;
  if (!version_number) {
    if (has_content) {
      return node_error(
          "config.toml has no `version = 2` line, so containerd reads it as version 1; migrate it "
          "first (`containerd config migrate`) or add `version = 2` at the top");
    }
    // Empty or comments only: containerd runs on its defaults, so a version 2 file is safe.
    edit.version = ContainerdConfigVersion::kV2;
    edit.text = std::string(config_text);
    if (!edit.text.empty() && !edit.text.ends_with('\n')) edit.text += eol;
    if (!edit.text.empty()) edit.text += eol;
    std::string fragment = render_containerd_fragment(edit.version, certs_dir);
    if (eol == "\r\n") {
      std::string crlf;
      for (char c : fragment) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
      fragment = std::move(crlf);
    }
    edit.text += fragment;
    edit.changed = true;
    return edit;
  }
  if (*version_number == 2) {
    edit.version = ContainerdConfigVersion::kV2;
  } else if (*version_number == 3) {
    edit.version = ContainerdConfigVersion::kV3;
  } else {
    return node_error("config.toml: unsupported `version = " + std::to_string(*version_number) +
                      "` (expected 2 for containerd 1.6/1.7 or 3 for containerd 2.x)");
  }

  const std::vector<std::string> registry = registry_path(edit.version);
  std::vector<std::string> mirrors = registry;
  mirrors.emplace_back("mirrors");
  std::vector<std::string> configs = registry;
  configs.emplace_back("configs");
  const std::string table_name(containerd_registry_table(edit.version));

  std::vector<std::string> table;  // current table path
  std::optional<size_t> registry_header;
  std::optional<size_t> config_path_line;
  std::optional<size_t> merged_line;  // version 3: our comment naming the merged directories
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view body = lines[i].body;
    if (edit.version == ContainerdConfigVersion::kV3 && table == registry) {
      if (auto dirs = parse_merged_comment(body)) {
        merged_line = i;
        for (const std::string& d : *dirs) add_unique(edit.merged_dirs, d, certs_dir);
        continue;
      }
    }
    if (toml_is_any_header(body)) {
      auto header = toml_table_header(body);
      table = header ? *header : std::vector<std::string>{};
      if (header && *header == registry) registry_header = i;
      if (header && has_prefix(*header, mirrors) && header->size() > mirrors.size()) {
        return node_error("config.toml: `" + std::string(body) +
                          "` sets registry mirrors, which containerd refuses together with "
                          "config_path; move them to hosts.toml files and remove that table");
      }
      if (header && has_prefix(*header, configs) && header->size() > configs.size() + 1 &&
          (*header)[configs.size() + 1] == "tls") {
        return node_error("config.toml: `" + std::string(body) +
                          "` sets registry TLS, which containerd refuses together with "
                          "config_path; move it to hosts.toml (ca, client, skip_verify)");
      }
      continue;
    }
    auto key = toml_key(body);
    if (!key || table.empty()) continue;
    std::vector<std::string> full = table;
    full.insert(full.end(), key->begin(), key->end());
    if (full == registry) {
      return node_error("config.toml: the registry table of " + table_name +
                        " is written inline; change it to a `" + table_name +
                        "` table so config_path can be set");
    }
    if (has_prefix(full, mirrors) && full.size() > mirrors.size()) {
      return node_error("config.toml: `" + std::string(body) +
                        "` sets registry mirrors, which containerd refuses together with "
                        "config_path; move them to hosts.toml files");
    }
    if (full.size() == registry.size() + 1 && has_prefix(full, registry) &&
        full.back() == "config_path") {
      config_path_line = i;
    } else if (table != registry && has_prefix(full, registry)) {
      return node_error("config.toml: `" + std::string(body) +
                        "` defines the registry table with dotted keys; use a `" + table_name +
                        "` table instead so config_path can be set");
    }
  }

  std::string out;
  out.reserve(config_text.size() + 128);
  if (config_path_line) {
    const Line& line = lines[*config_path_line];
    auto span = string_value_span(line.body);
    if (!span) {
      return node_error("config.toml: config_path is not a string: `" + std::string(line.body) +
                        "`");
    }
    std::string current = *toml_string_value(line.body);
    std::string wanted;
    if (edit.version == ContainerdConfigVersion::kV3) {
      for (const std::string& d : split_path_list(current))
        add_unique(edit.merged_dirs, d, certs_dir);
      wanted = std::string(certs_dir);
    } else {
      wanted = prepend_dir(current, certs_dir);
    }
    const std::string comment = edit.merged_dirs.empty() ? "" : merged_comment(edit.merged_dirs);
    const bool comment_current =
        comment.empty()
            ? !merged_line
            : merged_line && *merged_line + 1 == *config_path_line &&
                  lines[*merged_line].body.substr(leading_ws(lines[*merged_line].body).size()) ==
                      comment;
    if (wanted == current && comment_current) {
      edit.text = std::string(config_text);
      return edit;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      if (merged_line && i == *merged_line) continue;
      if (i == *config_path_line) {
        if (!comment.empty()) {
          out += std::string(leading_ws(line.body)) + comment + std::string(eol);
        }
        out += line.body.substr(0, span->first);
        out += toml_quote(wanted);
        out += line.body.substr(span->second);
      } else {
        out += lines[i].body;
      }
      out += lines[i].terminator;
    }
  } else if (registry_header) {
    for (size_t i = 0; i < lines.size(); ++i) {
      out += lines[i].body;
      out += lines[i].terminator.empty() ? eol : lines[i].terminator;
      if (i == *registry_header) {
        out += std::string(leading_ws(lines[i].body)) + "  config_path = " + toml_quote(certs_dir) +
               std::string(eol);
      }
    }
  } else {
    out = std::string(config_text);
    if (!out.empty() && !out.ends_with('\n')) out += eol;
    if (!lines.empty() && !is_blank_or_comment(lines.back().body)) out += eol;
    out += table_name + std::string(eol) + "  config_path = " + toml_quote(certs_dir) +
           std::string(eol);
  }
  edit.text = std::move(out);
  edit.changed = edit.text != config_text;
  return edit;
}

Containerd2Check check_containerd2_config(std::string_view config_text,
                                          std::string_view certs_dir) {
  Containerd2Check check;
  const std::vector<Line> lines = split_lines(config_text);
  auto version = config_version(lines);
  if (!version || !version->number) return check;  // not a file containerd 2.x reads as such
  const auto v2 = ContainerdConfigVersion::kV2;
  const auto v3 = ContainerdConfigVersion::kV3;
  if (*version->number == 2) {
    auto value = config_path_value(lines, v2);
    if (value && split_path_list(*value).size() > 1) {
      check.notes.push_back(
          "config_path \"" + *value +
          "\" lists several directories: containerd 1.x splits it, but containerd 2.1+ (which "
          "also loads version 2 files) looks it up as one directory and would bypass the mirror; "
          "on a 2.x node migrate config.toml to version 3 (`containerd config migrate`) and run "
          "node apply again");
    }
    return check;
  }
  if (*version->number != 3) return check;
  const std::string table(containerd_registry_table(v3));
  if (auto old = config_path_value(lines, v2)) {
    check.bypass.push_back(std::string(containerd_registry_table(v2)) + " config_path \"" + *old +
                           "\" is a containerd 1.x setting that a version 3 file ignores");
  }
  auto value = config_path_value(lines, v3);
  if (!value || value->empty()) {
    check.bypass.push_back("no config_path in " + table +
                           ": containerd 2.x reads no hosts.toml and pulls from the registries "
                           "directly");
  } else if (split_path_list(*value).size() > 1) {
    check.bypass.push_back(
        "config_path \"" + *value +
        "\" is a ':' list: containerd 2.1+'s transfer service (the default pull path) looks it "
        "up as one directory, finds no hosts.toml there and pulls from the registries directly");
  } else if (split_path_list(*value).front() != certs_dir) {
    check.bypass.push_back("config_path is \"" + *value + "\", not " + std::string(certs_dir) +
                           ": the mirror's hosts.toml files are not read");
  }
  return check;
}

}  // namespace regmirror::config::node
