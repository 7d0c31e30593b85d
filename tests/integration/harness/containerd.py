"""A private containerd daemon (root only) and ``ctr`` driven through hosts.toml.

What runs (checked on Debian 12, containerd 1.6.20, kernel 6.x, as root):

  containerd --config DIR/config.toml
      version = 2, root = DIR/root, state = DIR/state,
      grpc address DIR/containerd.sock (ttrpc .ttrpc), debug socket DIR/debug.sock,
      no metrics listener, disabled_plugins = CRI, opt, btrfs/zfs/devmapper/aufs
      snapshotters, tracing.  Only the daemon's own unix sockets are opened.
  ctr --address DIR/containerd.sock -n NAMESPACE images pull
      --hosts-dir HOSTS [--snapshotter S] [--platform P | --all-platforms] REF
      -> fetches index/manifest/config/layers through the hosts.toml mirror and
         unpacks.  Unpacking works here with BOTH the default ``overlayfs``
         snapshotter and ``native``.
  ctr ... content fetch --hosts-dir HOSTS [--platform P | --all-platforms] REF
      -> the same fetch without unpack (``pull(..., unpack=False)``); the image
         record is created too.

With hosts.toml the scheme comes from the host URL (``http://...``), so no
``--plain-http`` is needed.  ``write_hosts_toml`` always sets ``server`` to the
dead port ``http://127.0.0.1:9``: if the mirror fails, the pull fails instead
of falling back to a real registry.  For ``docker.io/library/x:t`` and
``HOSTS/docker.io/hosts.toml`` containerd asks the mirror
``/v2/library/x/manifests/t?ns=docker.io``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Union

from . import proc, skopeo

CONTAINERD_BIN = os.environ.get("REGMIRROR_TEST_CONTAINERD", "containerd")
CTR_BIN = os.environ.get("REGMIRROR_TEST_CTR", "ctr")
DEAD_SERVER = "http://127.0.0.1:9"

DISABLED_PLUGINS = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
]


def available() -> Optional[str]:
    """None if a private containerd can run here, else the reason (for skipTest)."""
    if os.geteuid() != 0:
        return "containerd tests need root"
    for b in (CONTAINERD_BIN, CTR_BIN):
        if shutil.which(b) is None:
            return f"{b} not installed"
    return None


def write_hosts_toml(hosts_dir: str, registry_host: str, mirror_url: Union[str, Sequence[str]],
                     capabilities: Sequence[str] = ("pull", "resolve"), server: str = DEAD_SERVER,
                     override_path: bool = False, extra: str = "") -> str:
    """Write HOSTS_DIR/<registry_host>/hosts.toml: one ``[host."URL"]`` per mirror URL (in order),
    ``server`` the dead port.  ``registry_host`` may be "_default".  Returns the file path."""
    urls = [mirror_url] if isinstance(mirror_url, str) else list(mirror_url)
    d = os.path.join(hosts_dir, registry_host)  # "host:port" is used verbatim as the dir name
    os.makedirs(d, exist_ok=True)
    lines = [f'server = "{server}"', ""]
    caps = ", ".join(f'"{c}"' for c in capabilities)
    for u in urls:
        lines.append(f'[host."{u}"]')
        lines.append(f"  capabilities = [{caps}]")
        if override_path:
            lines.append("  override_path = true")
        lines.append("")
    if extra:
        lines.append(extra)
    path = os.path.join(d, "hosts.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Containerd:
    """Private containerd in its own temp dir; ``ctr(...)`` talks to it.  Context manager."""

    def __init__(self, snapshotter: Optional[str] = None, namespace: str = "regmirror-test",
                 workdir: Optional[str] = None, start: bool = True):
        self._own_dir = workdir is None
        # unix socket paths are limited to ~108 bytes: keep the dir short
        self.dir = workdir or proc.register_tmp(tempfile.mkdtemp(prefix="rm-ctrd-", dir="/tmp"))
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.address = os.path.join(self.dir, "containerd.sock")
        self.config_path = os.path.join(self.dir, "config.toml")
        self.log_path = os.path.join(self.dir, "containerd.log")
        # overlayfs works here; $REGMIRROR_TEST_SNAPSHOTTER=native for hosts where overlay mounts fail
        self.snapshotter = snapshotter or os.environ.get("REGMIRROR_TEST_SNAPSHOTTER", "overlayfs")
        self.namespace = namespace
        self._p: Optional[proc.ManagedProcess] = None
        if start:
            self.start()

    def _write_config(self) -> None:
        dis = ", ".join(f'"{p}"' for p in DISABLED_PLUGINS)
        cfg = f"""version = 2
root = "{self.root}"
state = "{self.state}"
disabled_plugins = [{dis}]

[grpc]
  address = "{self.address}"

[ttrpc]
  address = "{self.address}.ttrpc"

[debug]
  address = "{os.path.join(self.dir, 'debug.sock')}"
  level = "debug"

[metrics]
  address = ""
"""
        with open(self.config_path, "w") as f:
            f.write(cfg)

    def start(self, timeout: float = 30.0) -> "Containerd":
        """Start the daemon and wait until ``ctr version`` answers on its socket."""
        if self._p is not None and self._p.running():
            return self
        why = available()
        if why:
            raise RuntimeError(why)
        self._write_config()
        self._p = proc.ManagedProcess([CONTAINERD_BIN, "--config", self.config_path], self.log_path,
                                      env=skopeo.clean_env()).start()

        def ready():
            if not self._p.running():
                raise RuntimeError(f"containerd exited rc={self._p.returncode()}:\n" + self.logs()[-3000:])
            if not os.path.exists(self.address):
                return False
            return self.ctr("version", timeout=5, check=False).returncode == 0
        try:
            proc.wait_until(ready, timeout, interval=0.1, what="containerd socket")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._p is not None:
            self._p.stop(timeout=15)

    def logs(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop the daemon, unmount anything left under the dir, delete the dir (if ours)."""
        self.stop()
        self._umount_all()
        if self._own_dir and not proc.keep_tmp(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def _umount_all(self) -> None:
        try:
            with open("/proc/self/mounts") as f:
                mps = [l.split()[1] for l in f]
        except OSError:
            return
        prefix = os.path.realpath(self.dir) + "/"
        for mp in sorted((m for m in mps if m.startswith(prefix)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False, timeout=30,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> "Containerd":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ ctr
    def ctr(self, *args: str, timeout: float = 180.0, check: bool = True) -> subprocess.CompletedProcess:
        """``ctr --address SOCK -n NAMESPACE args...`` (proxy variables removed)."""
        return proc.run([CTR_BIN, "--address", self.address, "-n", self.namespace, *args],
                        timeout=timeout, check=check, env=skopeo.clean_env())

    def pull(self, ref: str, hosts_dir: str, platform: Optional[str] = None, all_platforms: bool = False,
             unpack: bool = True, snapshotter: Optional[str] = None, timeout: float = 180.0,
             check: bool = True, extra: Sequence[str] = ()) -> subprocess.CompletedProcess:
        """Pull ``ref`` (e.g. "docker.io/library/x:t") with ``--hosts-dir hosts_dir``.

        unpack=True: ``ctr images pull`` (unpacks into ``snapshotter``, default this daemon's);
        unpack=False: ``ctr content fetch`` (content + image record only).
        Raises proc.CommandError (``.result`` has stdout/stderr) if check and ctr fails."""
        argv = ["images", "pull", "--snapshotter", snapshotter or self.snapshotter] if unpack \
            else ["content", "fetch"]
        argv += ["--hosts-dir", hosts_dir]
        if all_platforms:
            argv.append("--all-platforms")
        elif platform:
            argv += ["--platform", platform]
        return self.ctr(*argv, *extra, ref, timeout=timeout, check=check)

    def content_digests(self) -> List[str]:
        """Digests of every blob in the content store (``ctr content ls -q``)."""
        out = self.ctr("content", "ls", "-q").stdout
        return [l.strip() for l in out.splitlines() if l.strip().startswith("sha256:")]

    def images(self) -> Dict[str, Dict[str, str]]:
        """``ctr images ls`` -> {ref: {"type": media type, "digest": target digest}}."""
        out = self.ctr("images", "ls").stdout.splitlines()
        res = {}
        for line in out[1:]:
            cols = line.split()
            if len(cols) >= 3 and cols[2].startswith("sha256:"):
                res[cols[0]] = {"type": cols[1], "digest": cols[2]}
        return res

    def image_digest(self, ref: str) -> Optional[str]:
        """Target digest of image ``ref`` (manifest or index digest), None if absent."""
        img = self.images().get(ref)
        return img["digest"] if img else None

    def snapshots(self, snapshotter: Optional[str] = None) -> List[str]:
        """Snapshot keys in ``snapshotter`` (proof that unpack happened)."""
        out = self.ctr("snapshots", "--snapshotter", snapshotter or self.snapshotter, "ls").stdout
        return [l.split()[0] for l in out.splitlines()[1:] if l.strip()]

    def remove_all(self, timeout: float = 60.0) -> None:
        """Delete every image, snapshot and blob in this namespace (bounded; for reuse between tests)."""
        refs = list(self.images())
        if refs:
            self.ctr("images", "rm", "--sync", *refs, check=False)
        deadline = time.monotonic() + timeout
        for snap in (self.snapshotter, "native", "overlayfs"):
            for _ in range(20):  # children first: keep removing until empty
                keys = self.snapshots(snap) if self.ctr("snapshots", "--snapshotter", snap, "ls",
                                                        check=False).returncode == 0 else []
                if not keys or time.monotonic() > deadline:
                    break
                self.ctr("snapshots", "--snapshotter", snap, "rm", *keys, check=False)
        digests = self.content_digests()
        if digests:
            self.ctr("content", "rm", *digests, check=False)
