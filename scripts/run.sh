#!/usr/bin/env bash
# Builds regmirror and serves the embedded default config on 0.0.0.0:5000, data in
# ./regmirror-data. Extra args go to `regmirror serve` (e.g. --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/regmirror serve "$@"
