#!/usr/bin/env bash
# Installs the Debian 12 packages regmirror needs. Idempotent; skips apt entirely when everything
# is already there.
#   install-deps.sh [all]   build, test, package and benchmark (CI, scripts/test.sh)
#   install-deps.sh run     build and run the server only (scripts/run.sh)
#   install-deps.sh --list SET   print SET's packages, one a line, and install nothing
set -euo pipefail
# Building and running: compiler, build tools and the libraries the binary links.
run_packages=(
  cmake ninja-build g++ ccache pkg-config git ca-certificates
  libboost1.81-dev libssl-dev libcurl4-openssl-dev librocksdb-dev nlohmann-json3-dev
  prometheus-cpp-dev libcrypt-dev libpugixml-dev libarchive-dev
)
# Everything else the tests, fuzzing, the .deb and the benchmarks use.
test_packages=(
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev clang-tidy-14
  python3 python3-yaml curl openssl dpkg-dev bash-completion
  radosgw ceph-mon ceph-osd
  docker-registry skopeo containerd logrotate wrk nginx-light
  # The container image: scripts/image.sh and tests/integration/test_image.py.
  buildah mmdebstrap
)
list_only=0
if [ "${1:-}" = "--list" ]; then
  list_only=1
  shift
fi
case "${1:-all}" in
  run) packages=("${run_packages[@]}") ;;
  all) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
  *) echo "install-deps: unknown package set '$1' (run or all)" >&2; exit 2 ;;
esac
if [ "$list_only" -eq 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root or: sudo $0 ${1:-all})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The package starts services we do not want on a build machine; tests start their own.
systemctl disable --now nginx docker-registry containerd >/dev/null 2>&1 || true
