#pragma once
// A unified diff of two texts, for `node apply --dry-run` and `node check`.
#include <string>
#include <string_view>

namespace regmirror::config::node {

// `--- a/<path>` / `+++ b/<path>` headers and hunks with `context` lines around each change,
// in the format of `diff -u`. Empty when the texts are equal. A missing old file is passed as
// an empty text with old_exists = false (header `--- /dev/null`). Inputs beyond a few thousand
// lines are summarised instead of diffed (the files this tool writes are small; an unexpected
// huge file is not worth quadratic time).
std::string unified_diff(std::string_view old_text, std::string_view new_text,
                         std::string_view path, bool old_exists = true, int context = 3);

}  // namespace regmirror::config::node
