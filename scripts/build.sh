#!/usr/bin/env bash
# Configures and builds everything, tests included, into ./build (Release). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh all
# Tests on explicitly: a ./build that scripts/run.sh configured has them off.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DREGMIRROR_TESTS=ON "$@" >/dev/null
cmake --build build -j "$(nproc)"
