"""skopeo wrapper that can only reach 127.0.0.1.

skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF, so every call is built as

  skopeo --registries-conf H/registries.conf --registries.d H/registries.d
         --policy H/policy.json --tmpdir H/tmp  <command> ... (tls verification off)

where H is a per-process temp dir written here: registries.conf has
``unqualified-search-registries = []`` and no mirrors, the policy is
insecureAcceptAnything, registries.d is empty (no signature look-asides).
Refs must be fully qualified (``docker://127.0.0.1:PORT/repo:tag``); a docker://
ref whose host is not loopback raises ValueError before anything runs.
Proxy variables are removed from the environment.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from typing import Optional, Sequence, Union

from . import proc

SKOPEO = os.environ.get("REGMIRROR_TEST_SKOPEO", "skopeo")
_home: Optional[str] = None
_home_lock = threading.Lock()


def _settings_dir() -> str:
    global _home
    with _home_lock:
        if _home is None:
            h = tempfile.mkdtemp(prefix="rm-skopeo-")
            with open(os.path.join(h, "registries.conf"), "w") as f:
                f.write("unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n")
            with open(os.path.join(h, "policy.json"), "w") as f:
                json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
            os.makedirs(os.path.join(h, "registries.d"))
            os.makedirs(os.path.join(h, "tmp"))
            os.makedirs(os.path.join(h, "home"))
            atexit.register(shutil.rmtree, h, True)
            _home = h
        return _home


def clean_env(extra: Optional[dict] = None) -> dict:
    """os.environ without proxy variables (plus ``extra``)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    if extra:
        env.update(extra)
    return env


def global_flags() -> list:
    h = _settings_dir()
    return ["--registries-conf", os.path.join(h, "registries.conf"),
            "--registries.d", os.path.join(h, "registries.d"),
            "--policy", os.path.join(h, "policy.json"),
            "--tmpdir", os.path.join(h, "tmp")]


_DOCKER_REF = re.compile(r"^docker://([^/]+)/")


def _check_ref(ref: str) -> None:
    if ref.startswith("docker://"):
        m = _DOCKER_REF.match(ref)
        host = m.group(1).rsplit(":", 1)[0] if m else ""
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"refusing non-loopback ref {ref!r}")


def run(*args: str, timeout: float = 300.0, check: bool = True, text: bool = True
        ) -> subprocess.CompletedProcess:
    """``skopeo <global loopback-only flags> args...``; raises proc.CommandError on failure if check."""
    for a in args:
        if a.startswith("docker://"):
            _check_ref(a)
    h = _settings_dir()
    env = clean_env({"CONTAINERS_REGISTRIES_CONF": os.path.join(h, "registries.conf"),
                     "REGISTRIES_CONFIG_PATH": os.path.join(h, "registries.conf"),
                     "XDG_RUNTIME_DIR": os.path.join(h, "home"),
                     "HOME": os.path.join(h, "home")})
    return proc.run([SKOPEO, *global_flags(), *args], timeout=timeout, check=check, env=env, text=text)


def copy(src: str, dst: str, all: bool = True, preserve_digests: bool = True,
         extra: Sequence[str] = (), timeout: float = 300.0, check: bool = True) -> subprocess.CompletedProcess:
    """``skopeo copy [--all] [--preserve-digests] SRC DST`` with TLS verification off on both sides."""
    argv = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--retry-times=0"]
    if all:
        argv.append("--all")
    if preserve_digests:
        argv.append("--preserve-digests")
    return run(*argv, *extra, src, dst, timeout=timeout, check=check)


def copy_to_oci(src_ref: str, dest_dir: str, tag: str = "latest", all: bool = True,
                timeout: float = 300.0, check: bool = True) -> subprocess.CompletedProcess:
    """Copy ``src_ref`` (e.g. "docker://127.0.0.1:P/repo:tag") into the OCI layout ``dest_dir:tag``."""
    os.makedirs(dest_dir, exist_ok=True)
    return copy(src_ref, f"oci:{dest_dir}:{tag}", all=all, timeout=timeout, check=check,
                extra=["--dest-oci-accept-uncompressed-layers"])


def inspect(ref: str, raw: bool = False, config: bool = False, timeout: float = 120.0
            ) -> Union[dict, bytes]:
    """``skopeo inspect`` -> parsed JSON dict; with ``raw=True`` the exact manifest bytes
    (``config=True`` with raw: the config blob bytes)."""
    argv = ["inspect", "--tls-verify=false", "--retry-times=0"]
    if raw:
        argv.append("--raw")
    if config:
        argv.append("--config")
    if not raw:
        argv.append("--no-tags")
    cp = run(*argv, ref, timeout=timeout, text=not raw)
    return cp.stdout if raw else json.loads(cp.stdout)
