#!/bin/sh
# regmirror node setup for custom node images (cloud-init user data, image build scripts): the
# same hosts.toml, containerd config_path, docker logrotate and cgroup.memory=nokmem changes as
# `regmirror node apply`, without the regmirror binary. Idempotent: run it on every boot.
#
#   regmirror-node-setup.sh --mirror http://10.0.0.5:30500 [--logrotate] [--grub-nokmem]
#                           [--root DIR] [--no-grub-regenerate]
#
# It never restarts containerd and never reboots; it says when either is needed. For nodes
# already running, prefer the node-agent DaemonSet (deploy/node-agent), which also puts drifted
# files back.
set -eu

MIRROR=""
ROOT=""
LOGROTATE=0
GRUB=0
REGENERATE=1
PROC_CMDLINE=/proc/cmdline
REGISTRIES="docker.io=https://registry-1.docker.io registry.k8s.io=https://registry.k8s.io k8s.gcr.io=https://registry.k8s.io gcr.io=https://gcr.io quay.io=https://quay.io ghcr.io=https://ghcr.io docker.pkg.github.com=https://ghcr.io"
CERTS_DIR=/etc/containerd/certs.d
NOKMEM=cgroup.memory=nokmem

die() { echo "regmirror-node-setup: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) [ $# -ge 2 ] || die "--mirror needs a URL"; MIRROR=$2; shift 2 ;;
    --mirror=*) MIRROR=${1#--mirror=}; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --logrotate) LOGROTATE=1; shift ;;
    --grub-nokmem) GRUB=1; shift ;;
    --no-grub-regenerate) REGENERATE=0; shift ;;
    --proc-cmdline) [ $# -ge 2 ] || die "--proc-cmdline needs a file"; PROC_CMDLINE=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
ROOT=${ROOT%/}
[ -n "$MIRROR" ] || [ "$LOGROTATE" = 1 ] || [ "$GRUB" = 1 ] ||
  die "nothing to do: give --mirror URL, --logrotate and/or --grub-nokmem"
if [ -n "$MIRROR" ]; then
  MIRROR=${MIRROR%/}
  case "$MIRROR" in
    http://*|https://*) ;;
    *) die "mirror URL '$MIRROR' must start with http:// or https://" ;;
  esac
  case "${MIRROR#*://}" in
    */*|*\?*|*@*|"") die "mirror URL '$MIRROR' must be scheme://host[:port] with no path" ;;
  esac
fi

# Replaces $1 with stdin when the content differs; keeps a backup like `regmirror node apply`.
install_file() {
  target=$1
  tmp=$(mktemp "${target%/*}/.${target##*/}.regmirror-tmp-XXXXXX")
  cat > "$tmp"
  if [ -f "$target" ] && cmp -s "$tmp" "$target"; then
    rm -f "$tmp"
    echo "unchanged ${target#"$ROOT"}"
    return 1
  fi
  if [ -f "$target" ]; then
    cp -p "$target" "$target.regmirror-$(date -u +%Y%m%dT%H%M%SZ)~"
    chmod --reference="$target" "$tmp"
    echo "updated   ${target#"$ROOT"}"
  else
    chmod 0644 "$tmp"
    echo "created   ${target#"$ROOT"}"
  fi
  sync "$tmp" 2>/dev/null || true
  mv -f "$tmp" "$target"
  return 0
}

if [ -n "$MIRROR" ]; then
  for entry in $REGISTRIES; do
    name=${entry%%=*}
    server=${entry#*=}
    mkdir -p "$ROOT$CERTS_DIR/$name"
    install_file "$ROOT$CERTS_DIR/$name/hosts.toml" <<TOML || true
# Written by \`regmirror node\` for $name; local edits are replaced.
# Pulls go to the mirror first; \`server\` is the fallback when the mirror fails.
server = "$server"

[host."$MIRROR"]
  capabilities = ["pull", "resolve"]
TOML
  done

  # config_path: containerd reads config.toml only at start-up.
  config="$ROOT/etc/containerd/config.toml"
  mkdir -p "${config%/*}"
  if [ ! -s "$config" ]; then
    printf 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "%s"\n' \
      "$CERTS_DIR" > "$config"
    echo "created   /etc/containerd/config.toml; restart containerd to load config_path"
  elif grep -Eq "^[[:space:]]*config_path[[:space:]]*=[[:space:]]*[\"']${CERTS_DIR}[\"':]" "$config"; then
    echo "unchanged /etc/containerd/config.toml"
  elif grep -Eq '^[[:space:]]*config_path[[:space:]]*=[[:space:]]*(""|'"''"')' "$config"; then
    cp -p "$config" "$config.regmirror-$(date -u +%Y%m%dT%H%M%SZ)~"
    sed -i -E "s#^([[:space:]]*config_path[[:space:]]*=[[:space:]]*)(\"\"|'')#\\1\"$CERTS_DIR\"#" "$config"
    echo "updated   /etc/containerd/config.toml; restart containerd to load config_path"
  elif grep -Eq '^[[:space:]]*config_path[[:space:]]*=' "$config"; then
    echo "warning: /etc/containerd/config.toml sets another config_path; left as is" >&2
  elif grep -Eq '^[[:space:]]*version[[:space:]]*=[[:space:]]*[23]' "$config"; then
    if grep -Eq '^[[:space:]]*version[[:space:]]*=[[:space:]]*3' "$config"; then
      table='[plugins."io.containerd.cri.v1.images".registry]'
    else
      table='[plugins."io.containerd.grpc.v1.cri".registry]'
    fi
    if grep -Fq "$table" "$config"; then
      echo "warning: $table exists without config_path; use \`regmirror node apply\` to edit it" >&2
    else
      cp -p "$config" "$config.regmirror-$(date -u +%Y%m%dT%H%M%SZ)~"
      printf '\n%s\n  config_path = "%s"\n' "$table" "$CERTS_DIR" >> "$config"
      echo "updated   /etc/containerd/config.toml; restart containerd to load config_path"
    fi
  else
    echo "warning: /etc/containerd/config.toml has no version 2/3 line; not edited" >&2
  fi
fi

if [ "$LOGROTATE" = 1 ]; then
  mkdir -p "$ROOT/etc/logrotate.d"
  install_file "$ROOT/etc/logrotate.d/docker" <<'POLICY' || true
# Written by `regmirror node`; local edits are replaced.
# Docker json-file container logs. copytruncate: dockerd never reopens its log files.
/var/lib/docker/containers/*/*.log {
    daily
    rotate 10
    maxsize 100M
    missingok
    notifempty
    compress
    copytruncate
    dateext
    dateformat -%Y%m%d-%s
    create 0644 root root
}
POLICY
fi

if [ "$GRUB" = 1 ]; then
  grub="$ROOT/etc/default/grub"
  [ -f "$grub" ] || { echo "regmirror-node-setup: $grub not found: no GRUB on this node" >&2; exit 1; }
  changed=0
  if grep -Eq "^[[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX(_DEFAULT)?=.*(cgroup\.memory=([^[:space:]\"',]*,)*nokmem)" "$grub"; then
    echo "unchanged /etc/default/grub"
  elif grep -Eq '^[[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=' "$grub"; then
    cp -p "$grub" "$grub.regmirror-$(date -u +%Y%m%dT%H%M%SZ)~"
    # Inside the closing quote of the last assignment; an empty value gets no leading space.
    last=$(grep -En '^[[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=' "$grub" | tail -n 1 | cut -d: -f1)
    sed -i -E "${last}{
      s/^([[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=)([\"'])([\"'])/\\1\\3$NOKMEM\\4/
      t
      s/^([[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=)\"([^\"]*)\"/\\1\"\\3 $NOKMEM\"/
      t
      s/^([[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=)'([^']*)'/\\1'\\3 $NOKMEM'/
      t
      s/^([[:space:]]*(export[[:space:]]+)?GRUB_CMDLINE_LINUX=)([^[:space:]\"'#]*)/\\1\"\\3 $NOKMEM\"/
      s/=\" /=\"/
    }" "$grub"
    changed=1
    echo "updated   /etc/default/grub"
  else
    cp -p "$grub" "$grub.regmirror-$(date -u +%Y%m%dT%H%M%SZ)~"
    eol=$(tail -c 2 "$grub" | od -An -c | tr -d ' ')
    [ -s "$grub" ] && [ "$(tail -c 1 "$grub" | od -An -c | tr -d ' ')" != '\n' ] && printf '\n' >> "$grub"
    if [ "$eol" = '\r\n' ]; then
      printf 'GRUB_CMDLINE_LINUX="%s"\r\n' "$NOKMEM" >> "$grub"
    else
      printf 'GRUB_CMDLINE_LINUX="%s"\n' "$NOKMEM" >> "$grub"
    fi
    changed=1
    echo "updated   /etc/default/grub"
  fi
  if [ "$changed" = 1 ]; then
    if [ "$REGENERATE" = 0 ]; then
      echo "grub: boot config not regenerated (--no-grub-regenerate)"
    elif [ -z "$ROOT" ] && command -v update-grub >/dev/null 2>&1; then
      update-grub
    elif [ -z "$ROOT" ] && command -v grub2-mkconfig >/dev/null 2>&1; then
      grub2-mkconfig -o /boot/grub2/grub.cfg
    elif [ -z "$ROOT" ] && command -v grubby >/dev/null 2>&1; then
      grubby --update-kernel=ALL --args="$NOKMEM"  # BLS systems (RHEL 8+)
    else
      echo "grub: no grub tool found; run update-grub or grub2-mkconfig -o /boot/grub2/grub.cfg"
    fi
  fi
  if grep -Eq "(^|[[:space:]])cgroup\.memory=([^[:space:]]*,)?nokmem([,[:space:]]|$)" "$PROC_CMDLINE" 2>/dev/null; then
    echo "grub: $NOKMEM is active in the running kernel; no reboot needed"
  else
    echo "grub: reboot needed to activate $NOKMEM (this script never reboots)"
  fi
fi
