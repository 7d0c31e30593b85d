#!/usr/bin/env bash
# Builds the Debian package build/regmirror_<version>_amd64.deb from ./build (built by
# scripts/build.sh if it has no regmirror yet). Install it with: apt-get install ./build/regmirror_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x build/regmirror ]]; then
  ./scripts/build.sh
fi
command -v dpkg-shlibdeps >/dev/null || { echo "package.sh: dpkg-shlibdeps missing (apt-get install dpkg-dev)" >&2; exit 2; }
cmake --build build --target regmirror
(cd build && cpack -G DEB -B package >/dev/null)
deb=$(ls build/package/regmirror_*.deb)
mv -f "$deb" build/
echo "build/$(basename "$deb")"
