#!/usr/bin/env bash
# Builds regmirror and runs every test:
#  1. release build: gtest unit tests, integration tests against real docker-registry upstreams
#     with skopeo, containerd and Ceph RGW, and a bounded libFuzzer run of the parsers;
#     then clang-tidy over cache/, config/ and proxy/;
#  2. ASan+UBSan build: the unit tests and the integration tests that drive the data paths;
#  3. TSan build (-O1): the unit tests and the data-path integration tests that run concurrent
#     downloads, hang-ups and pulls.
# REGMIRROR_SKIP_ASAN=1 / REGMIRROR_SKIP_TSAN=1 skip step 2 / 3 (quick local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh all
./scripts/build.sh -DREGMIRROR_WERROR=ON  # CI: warnings are errors (a packager build is not)
./scripts/package.sh  # build/regmirror_<version>_amd64.deb, installed and removed by test_deb_package
export REGMIRROR_REQUIRE_DEB=1
# The container image (deploy/Containerfile); ctest's integration.test_image runs it and, with
# REGMIRROR_REQUIRE_IMAGE=1, fails instead of skipping when it is missing.
./scripts/image.sh
export REGMIRROR_REQUIRE_IMAGE=1
ctest --test-dir build --output-on-failure --timeout 900
# clang-tidy over every library (checks in .clang-tidy, warnings are errors): ~8 min on 2 cores.
./scripts/tidy.sh cache config proxy

if [[ "${REGMIRROR_SKIP_ASAN:-0}" != "1" ]]; then
  cmake --preset asan >/dev/null
  cmake --build build-asan -j "$(nproc)" --target regmirror regmirror_unit_tests
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ./build-asan/tests/regmirror_unit_tests --gtest_brief=1
  (cd tests/integration && REGMIRROR_BIN="$PWD/../../build-asan/regmirror" \
     REGMIRROR_TEST_IMAGES="$PWD/../../build/test-images" REGMIRROR_TEST_SANITIZED=1 \
     /usr/bin/python3 -m unittest test_pull_skopeo test_pull_integrity test_pull_bad_input \
       test_pull_crash test_hostile_inputs test_hostile_upstream test_security_access \
       test_dockerhub_auth test_closed_network_bundle test_client_hangups)
  echo "asan+ubsan: unit and integration tests passed"
fi

if [[ "${REGMIRROR_SKIP_TSAN:-0}" != "1" ]]; then
  cmake --preset tsan >/dev/null
  cmake --build build-tsan -j "$(nproc)" --target regmirror regmirror_unit_tests
  # Any report ends the process (exit 66): a race fails the unit binary or the mirror under test.
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
  ./build-tsan/tests/regmirror_unit_tests --gtest_brief=1
  (cd tests/integration && REGMIRROR_BIN="$PWD/../../build-tsan/regmirror" \
     REGMIRROR_TEST_IMAGES="$PWD/../../build/test-images" REGMIRROR_TEST_SANITIZED=1 \
     /usr/bin/python3 -m unittest test_pull_coalescing test_client_hangups test_pull_skopeo)
  echo "tsan: unit and integration tests passed"
fi
