#!/usr/bin/env bash
# One bounded run of the side-by-side benchmark (regmirror vs distribution proxy vs nginx).
# Usage: bench/run.sh [--profile] [extra compare.py options]
#   REGMIRROR_BIN   regmirror binary (default: build/regmirror)
#   BENCH_OUT       result file (default: bench/results/latest.md; a .json goes next to it)
#   BENCH_SHORT / BENCH_LONG   wrk seconds for small bodies / the 256 MiB blob (default 5 / 10)
# Everything listens on 127.0.0.1 and every process is stopped on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
bin="${REGMIRROR_BIN:-$repo/build/regmirror}"
out="${BENCH_OUT:-$here/results/latest.md}"

for tool in wrk nginx docker-registry skopeo curl python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install wrk nginx-light docker-registry skopeo curl)" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "run.sh: regmirror binary not found at $bin (build it or set REGMIRROR_BIN)" >&2; exit 2; }

args=()
if [[ "${1:-}" == "--profile" ]]; then
  shift
  args+=(--profile "$(dirname "$out")/profile")
fi

work="$(mktemp -d /tmp/regmirror-bench-XXXXXX)"
child=""
cleanup() {
  # compare.py stops its own servers (harness process groups); this catches an interrupted run.
  if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$(dirname "$out")"
/usr/bin/python3 "$here/compare.py" --regmirror "$bin" --out "$out" --workdir "$work" \
  --short "${BENCH_SHORT:-5}" --long "${BENCH_LONG:-10}" "${args[@]}" "$@" &
child=$!
wait "$child"
