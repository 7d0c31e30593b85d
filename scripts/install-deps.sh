#!/usr/bin/env bash
# Installs every Debian 12 package regmirror needs to build, test and benchmark.
# Idempotent; skips apt entirely when everything is already there.
set -euo pipefail
packages=(
  cmake ninja-build g++ ccache pkg-config
  libboost1.81-dev libssl-dev libcurl4-openssl-dev librocksdb-dev nlohmann-json3-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  python3 python3-yaml curl openssl libcrypt-dev
  radosgw ceph-mon ceph-osd
  docker-registry skopeo containerd logrotate wrk nginx-light
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root or: sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# The package starts services we do not want on a build machine; tests start their own.
systemctl disable --now nginx docker-registry containerd >/dev/null 2>&1 || true
