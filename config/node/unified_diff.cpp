#include "config/node/unified_diff.hpp"

#include <algorithm>
#include <vector>

namespace regmirror::config::node {
namespace {

constexpr size_t kMaxDiffCells = 16'000'000;

std::vector<std::string_view> split(std::string_view text, bool& missing_final_newline) {
  std::vector<std::string_view> lines;
  missing_final_newline = !text.empty() && !text.ends_with('\n');
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

enum class Op { kKeep, kDelete, kInsert };

std::string range(size_t start, size_t count) {
  // diff -u numbers an empty range by the line before it.
  std::string s = std::to_string(count == 0 ? start : start + 1);
  if (count != 1) {
    s += ',';
    s += std::to_string(count);
  }
  return s;
}

}  // namespace

std::string unified_diff(std::string_view old_text, std::string_view new_text,
                         std::string_view path, bool old_exists, int context) {
  if (old_text == new_text && old_exists) return {};
  std::string out;
  if (old_exists) {
    out.append("--- a").append(path).append(1, '\n');
  } else {
    out += "--- /dev/null\n";
  }
  out.append("+++ b").append(path).append(1, '\n');
  bool a_no_eol = false;
  bool b_no_eol = false;
  const auto a = split(old_text, a_no_eol);
  const auto b = split(new_text, b_no_eol);
  if ((a.size() + 1) * (b.size() + 1) > kMaxDiffCells) {
    out.append(1, '(').append(std::to_string(a.size())).append(" -> ");
    out.append(std::to_string(b.size())).append(" lines; too large to show a diff)\n");
    return out;
  }
  // Longest common subsequence table, filled from the end so the walk below goes forward.
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<unsigned> lcs((n + 1) * (m + 1), 0);
  auto at = [&](size_t i, size_t j) -> unsigned& { return lcs[i * (m + 1) + j]; };
  // A last line without its newline differs from the same line with one.
  auto same = [&](size_t i, size_t j) {
    return a[i] == b[j] && (i + 1 == n && a_no_eol) == (j + 1 == m && b_no_eol);
  };
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;) {
      at(i, j) = same(i, j) ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  struct Step {
    Op op;
    size_t i;  // index in a (for keep/delete)
    size_t j;  // index in b (for keep/insert)
  };
  std::vector<Step> steps;
  size_t i = 0;
  size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && same(i, j)) {
      steps.push_back({Op::kKeep, i++, j++});
    } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
      steps.push_back({Op::kDelete, i++, j});  // deletions first, as diff -u prints them
    } else {
      steps.push_back({Op::kInsert, i, j++});
    }
  }
  auto line_of = [&](const Step& s) -> std::string {
    std::string l;
    bool last_a = s.op != Op::kInsert && s.i + 1 == n && a_no_eol;
    bool last_b = s.op != Op::kDelete && s.j + 1 == m && b_no_eol;
    switch (s.op) {
      case Op::kKeep:
        l.assign(1, ' ').append(a[s.i]);
        break;
      case Op::kDelete:
        l.assign(1, '-').append(a[s.i]);
        break;
      case Op::kInsert:
        l.assign(1, '+').append(b[s.j]);
        break;
    }
    l += "\n";
    if ((s.op == Op::kDelete && last_a) || (s.op == Op::kInsert && last_b) ||
        (s.op == Op::kKeep && (last_a || last_b))) {
      l += "\\ No newline at end of file\n";
    }
    return l;
  };
  // Group changes into hunks separated by more than 2*context unchanged lines.
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  while (k < steps.size()) {
    while (k < steps.size() && steps[k].op == Op::kKeep) ++k;
    if (k == steps.size()) break;
    size_t begin = k >= ctx ? k - ctx : 0;
    size_t end = k;
    size_t keep_run = 0;
    while (end < steps.size()) {
      if (steps[end].op == Op::kKeep) {
        if (++keep_run > 2 * ctx) break;
      } else {
        keep_run = 0;
      }
      ++end;
    }
    // Trim trailing context to ctx lines.
    size_t trailing = 0;
    while (trailing < end - begin && steps[end - 1 - trailing].op == Op::kKeep) ++trailing;
    if (trailing > ctx) end -= trailing - ctx;
    size_t a_start = steps[begin].i;
    size_t b_start = steps[begin].j;
    size_t a_count = 0;
    size_t b_count = 0;
    std::string body;
    for (size_t s = begin; s < end; ++s) {
      if (steps[s].op != Op::kInsert) ++a_count;
      if (steps[s].op != Op::kDelete) ++b_count;
      body += line_of(steps[s]);
    }
    // Appended piece by piece: chained operator+ here trips GCC 12's false -Wrestrict at -O3.
    out += "@@ -";
    out += range(a_start, a_count);
    out += " +";
    out += range(b_start, b_count);
    out += " @@\n";
    out += body;
    k = end;
  }
  return out;
}

}  // namespace regmirror::config::node
