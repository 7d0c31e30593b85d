#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/build.sh -> build-fuzz/) and fuzzes each for a
# bounded time, starting from the committed seeds in tests/fuzz/corpus/<target>/ (which also
# replays every reproducer committed there). New inputs go to build-fuzz/corpus/<target>/, so
# the repository is never written to.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     SECONDS per target, default 20; all targets by default
#
# Exit status: 0 when no target found anything; 1 when one crashed, leaked, hit a sanitizer
# report, a FUZZ_CHECK, a timeout (-timeout=10 s per input) or the RSS limit: the crashing
# input's path and the end of the report are printed; 2 on a usage or build error.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
seconds="${1:-20}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
out="${REGMIRROR_FUZZ_BUILD:-$root/build-fuzz}"
mkdir -p "$out"
"$root/tests/fuzz/build.sh" "$out" >"$out/build.log" 2>&1 || {
  cat "$out/build.log" >&2; echo "run.sh: fuzz build failed" >&2; exit 2; }

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for dir in "$root"/tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for target in "${targets[@]}"; do
  bin="$out/$target"
  seeds="$root/tests/fuzz/corpus/$target"
  [[ -x "$bin" && -d "$seeds" ]] || { echo "run.sh: unknown target $target" >&2; exit 2; }
  work="$out/corpus/$target"
  artifacts="$out/artifacts/$target"
  log="$out/logs/$target.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  dict="$root/tests/fuzz/dict/$target.dict"
  [[ -f "$dict" ]] && args+=(-dict="$dict")
  [[ "$target" == fuzz_config ]] && args+=(-max_len=16384)
  before=$(ls "$artifacts" | wc -l)
  "$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  if [[ $rc -ne 0 ]]; then
    failed+=("$target")
    echo "FAIL $target (exit $rc) after ${execs:-?} runs; log: $log"
    for f in $(ls -t "$artifacts" | head -n $(( $(ls "$artifacts" | wc -l) - before ))); do
      echo "  crashing input: $artifacts/$f"
      echo "  reproduce:      $bin $artifacts/$f"
    done
    grep -E 'ERROR: |FUZZ_CHECK|runtime error|terminate called|what\(\)|SUMMARY' "$log" | head -n 8 | sed 's/^/  /'
  else
    echo "ok   $target: ${execs:-?} runs in ${seconds}s, ${cov:-cov: ?}"
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: no findings"
