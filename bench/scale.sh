#!/usr/bin/env bash
# Issue 16's scale benchmark, one bounded run (about 15 minutes here):
#   bench/cache_scale.py  cost in cache size: 10k vs 1M cached blobs (start-up, eviction pass,
#                         cache ls --limit 100, RSS), data written by regmirror_scale_gen;
#   bench/connections.py  500 concurrent cold misses, 10k idle keep-alive connections, HTTPS.
# Usage: bench/scale.sh [BUILD_DIR]   (default build/; regmirror_scale_gen is built there)
# Results: bench/results/cache_scale.md and bench/results/connections.md (+ .json).
# Needs ~5 GB free in /tmp for the 1M-blob data dir (removed afterwards).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
build="${1:-$repo/build}"
for tool in wrk nginx docker-registry curl python3 ninja; do
  command -v "$tool" >/dev/null || { echo "scale.sh: $tool not found" >&2; exit 2; }
done
[[ -x "$build/regmirror" ]] || { echo "scale.sh: no regmirror in $build (./scripts/build.sh first)" >&2; exit 2; }
ninja -C "$build" regmirror_scale_gen >/dev/null

mkdir -p "$here/results"
/usr/bin/python3 "$here/cache_scale.py" --regmirror "$build/regmirror" \
  --gen "$build/regmirror_scale_gen" --out "$here/results/cache_scale.md"
/usr/bin/python3 "$here/connections.py" --regmirror "$build/regmirror" \
  --out "$here/results/connections.md"
