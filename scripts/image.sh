#!/usr/bin/env bash
# Builds the container image (deploy/Containerfile) with buildah; no Docker engine, and nothing
# is pulled from a registry:
#  1. the base, docker.io/library/debian:12, is made here if buildah's storage lacks it:
#     mmdebstrap (minbase, bookworm, from the Debian archive) writes build/image/debian-12.tar,
#     which is kept (the next run skips mmdebstrap), and the tarball becomes the image;
#  2. buildah bud --isolation chroot --pull=never, tagged localhost/regmirror:VERSION (the
#     top-level CMakeLists.txt project VERSION) and localhost/regmirror:test, which
#     tests/integration/test_image.py runs.
# Needs root (or `buildah unshare`). Storage: buildah's default driver (overlay as root);
# STORAGE_DRIVER=vfs picks vfs for this script and for the test alike.
#   image.sh [--rebuild-base]   --rebuild-base: run mmdebstrap again and re-import the base
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "image.sh: $*" >&2; exit 1; }

rebuild_base=0
case "${1:-}" in
  "") ;;
  --rebuild-base) rebuild_base=1 ;;
  *) die "unknown argument '$1' (usage: image.sh [--rebuild-base])" ;;
esac

for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || die "$tool not found (./scripts/install-deps.sh all installs it)"
done
[ "$(id -u)" -eq 0 ] || die "needs root (buildah mount and chroot isolation), or run it under 'buildah unshare'"

version=$(sed -n 's/^project(regmirror VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no 'project(regmirror VERSION x.y.z' line in CMakeLists.txt"
name=${REGMIRROR_IMAGE_NAME:-localhost/regmirror}
base=docker.io/library/debian:12
cache_dir=build/image
tarball=$cache_dir/debian-12.tar

# The commit --version prints: the build context has no .git, so it goes in as a build argument
# (cmake/build_info.cmake's REGMIRROR_GIT_COMMIT); the same rule as a build from the checkout.
commit=""
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse --short=12 HEAD)
  git diff-index --quiet HEAD -- || commit="$commit-dirty"
fi

start=$SECONDS
if [ "$rebuild_base" -eq 1 ]; then
  rm -f "$tarball"
  buildah rmi "$base" >/dev/null 2>&1 || true
fi
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  mkdir -p "$cache_dir"
  if [ ! -s "$tarball" ]; then
    echo "image.sh: making $base with mmdebstrap (minbase) -> $tarball"
    # Slim like Debian's -slim images: no man pages, docs (copyright files stay) or locales;
    # the dpkg excludes stay in the image, so later apt-get installs follow them too. The
    # merged-usr hook sets /usr up itself and installs usr-is-merged, not usrmerge (which
    # would bring perl, 50 MB).
    mmdebstrap --variant=minbase --format=tar --skip=output/dev \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$tarball.tmp" \
      "deb http://deb.debian.org/debian bookworm main" \
      "deb http://deb.debian.org/debian bookworm-updates main" \
      "deb http://deb.debian.org/debian-security bookworm-security main" \
      || { rm -f "$tarball.tmp"; die "mmdebstrap failed (is the Debian archive reachable?)"; }
    mv "$tarball.tmp" "$tarball"
  fi
  echo "image.sh: importing $tarball as $base"
  ctr=$(buildah from --pull=never scratch)
  trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
  mnt=$(buildah mount "$ctr")
  tar -C "$mnt" --numeric-owner -xpf "$tarball"
  buildah umount "$ctr" >/dev/null
  buildah config --cmd bash \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit --quiet --rm "$ctr" "$base" >/dev/null
  trap - EXIT
fi
base_done=$SECONDS

echo "image.sh: building $name:$version (commit ${commit:-unknown})"
buildah bud --isolation chroot --pull=never --layers \
  --build-arg REGMIRROR_GIT_COMMIT="$commit" --build-arg REGMIRROR_JOBS="$(nproc)" \
  -f deploy/Containerfile -t "$name:$version" -t "$name:test" .

size=$(buildah images --format '{{.Size}}' "$name:$version")  # one line per tag
size=${size%%$'\n'*}
echo "image.sh: $name:$version (also $name:test), size $size;" \
     "base $((base_done - start)) s, build $((SECONDS - base_done)) s"
