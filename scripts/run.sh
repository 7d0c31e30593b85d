#!/usr/bin/env bash
# Builds regmirror and serves the embedded default config on 0.0.0.0:5000, data in
# ./regmirror-data. Extra args go to `regmirror serve` (e.g. --config FILE).
# Installs only what building and running need (no test tools); a fresh ./build is configured
# without tests, an existing one is kept as it is and only the server target is built.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh run
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DREGMIRROR_TESTS=OFF >/dev/null
fi
cmake --build build -j "$(nproc)" --target regmirror
exec ./build/regmirror serve "$@"
