#pragma once
// The little TOML the node helpers need: quoting values they write, and recognising table
// headers and keys in files they edit line by line. Editing by line (instead of parse and
// re-serialise) keeps an operator's comments, order and formatting intact.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regmirror::config::node {

// A TOML basic string ("...") with the characters TOML requires escaped.
std::string toml_quote(std::string_view value);

// The dotted key path of a `[table]` header line, quotes removed: `[plugins."a.b".registry]`
// -> {"plugins", "a.b", "registry"}. nullopt for lines that are not a standard table header
// (array-of-tables `[[x]]` included, since their tables never match a registry section).
std::optional<std::vector<std::string>> toml_table_header(std::string_view line);

// True for `[[...]]` lines too: both end the body of the current table.
bool toml_is_any_header(std::string_view line);

// For a `key = value` line: the key's dotted parts, quotes removed. nullopt otherwise.
std::optional<std::vector<std::string>> toml_key(std::string_view line);

// For a `key = "string"` or `key = 'string'` line: the string value, unescaped.
std::optional<std::string> toml_string_value(std::string_view line);

}  // namespace regmirror::config::node
