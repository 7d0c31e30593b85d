"""Helpers shared by tests/integration/test_closed_network_*.py (issue 7).

Not a test module (ctest only picks up test_*.py).  Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import List, Optional

from pullcommon import BIN, Regmirror, Registry, oci_layout, proc, tmpdir  # noqa: F401
from harness import skopeo


def run_cli(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
    """``regmirror ARGS...`` -> CompletedProcess (never raises on a non-zero exit)."""
    return proc.run([BIN, *args], timeout=timeout, check=False, env=skopeo.clean_env())


def cache_ls(rm: Regmirror) -> dict:
    cp = run_cli("cache", "ls", "--json", "--admin", rm.admin_url)
    if cp.returncode != 0:
        raise AssertionError(f"cache ls failed rc={cp.returncode}: {cp.stderr}")
    return json.loads(cp.stdout)


def refs_by_name(listing: dict) -> dict:
    return {r["ref"]: r for r in listing["references"]}


def blob_files(data_dir: str) -> List[str]:
    out = []
    for root, _, names in os.walk(os.path.join(data_dir, "blobs")):
        out += [os.path.join(root, n) for n in names]
    return sorted(out)


def blob_bytes(data_dir: str) -> int:
    return sum(os.path.getsize(p) for p in blob_files(data_dir))


def has_blob(data_dir: str, digest: str) -> bool:
    algo, hexd = digest.split(":", 1)
    return os.path.exists(os.path.join(data_dir, "blobs", algo, hexd[:2], hexd))


def write_list(path: str, lines: List[str]) -> str:
    with open(path, "w") as f:
        f.write("# test image list\n\n" + "\n".join(lines) + "\n")
    return path


def log_tail(rm: Optional[Regmirror], n: int = 3000) -> str:
    return "" if rm is None else "\n--- regmirror log tail ---\n" + rm.logs()[-n:]
