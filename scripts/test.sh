#!/usr/bin/env bash
# Builds regmirror and runs every test: unit tests (gtest), integration tests against real
# docker-registry upstreams with skopeo and containerd, and a short fuzz run of the parsers.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900
