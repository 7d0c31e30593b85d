#include "config/node/containerd_config.hpp"

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
  std::optional<int> version_number;
  bool has_content = false;
  for (const Line& line : lines) {
    if (toml_is_any_header(line.body)) {
      has_content = true;
      break;
    }
    auto key = toml_key(line.body);
    if (!key) continue;
    has_content = true;
    if (*key == std::vector<std::string>{"version"}) {
      std::string_view v = line.body.substr(line.body.find('=') + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      int n = 0;
      size_t i = 0;
      for (; i < v.size() && v[i] >= '0' && v[i] <= '9'; ++i) n = n * 10 + (v[i] - '0');
      if (i == 0) return node_error("config.toml: `version` is not a number");
      version_number = n;
    }
  }

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
  mirrors.push_back("mirrors");
  std::vector<std::string> configs = registry;
  configs.push_back("configs");
  const std::string table_name(containerd_registry_table(edit.version));

  std::vector<std::string> table;  // current table path
  std::optional<size_t> registry_header;
  std::optional<size_t> config_path_line;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view body = lines[i].body;
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
    std::string wanted = prepend_dir(current, certs_dir);
    if (wanted == current) {
      edit.text = std::string(config_text);
      return edit;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i == *config_path_line) {
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

}  // namespace regmirror::config::node
