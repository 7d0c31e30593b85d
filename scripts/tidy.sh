#!/usr/bin/env bash
# clang-tidy (checks in .clang-tidy, warnings are errors) over the sources of the given folders
# (default: cache config proxy, what CI checks), using build/compile_commands.json.
# Usage: scripts/tidy.sh [FOLDER...]     e.g. scripts/tidy.sh proxy/server   (proxy: ~5 min)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/compile_commands.json ]] || { echo "tidy.sh: build first (./scripts/build.sh)" >&2; exit 2; }
folders=("$@")
[[ ${#folders[@]} -gt 0 ]] || folders=(cache config proxy)
mapfile -t files < <(find "${folders[@]}" -name '*.cpp' | sort)
echo "clang-tidy: ${#files[@]} files in ${folders[*]}"
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy-14 -p build --quiet 2>/dev/null
echo "clang-tidy: clean"
