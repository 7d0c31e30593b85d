"""Helpers shared by the tests/integration/test_pull_*.py files (issue 2 acceptance tests).

Not a test module itself (ctest only picks up test_*.py).  Everything here talks to
127.0.0.1 only, through the harness in ./harness.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import sys
import tempfile
import time
import unittest
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import oci_layout, proc, skopeo  # noqa: E402,F401  (re-exported to the tests)
from harness.counting_proxy import CountingProxy  # noqa: E402,F401
from harness.regmirror import Regmirror, find_binary  # noqa: E402
from harness.upstream import Registry  # noqa: E402

BIN = find_binary()
MIB = 1 << 20
BIG = 64 * MIB

ACCEPT_ALL = ", ".join([
    oci_layout.MT_MANIFEST, oci_layout.MT_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
ACCEPT = {"Accept": ACCEPT_ALL}


def need_binary(cls):
    """Class decorator: skip when no regmirror binary is built and REGMIRROR_BIN is unset.
    If REGMIRROR_BIN is set (ctest sets it) but not executable, the tests error instead of
    skipping, so a missing build can never look like a pass."""
    if os.environ.get("REGMIRROR_BIN"):
        return cls
    return unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")(cls)


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tmpdir(prefix: str) -> str:
    return proc.register_tmp(tempfile.mkdtemp(prefix=prefix))


def mirror_config(docker_io_url: str, ttl: int = 300, extra: Optional[dict] = None,
                  **top) -> dict:
    """Config with docker.io -> docker_io_url (plus ``extra`` registries / top-level keys)."""
    regs = {"docker.io": {"upstreams": [{"url": docker_io_url}], "tag_ttl_seconds": ttl}}
    regs.update(extra or {})
    cfg = {"default_registry": "docker.io", "offline": False, "registries": regs}
    cfg.update(top)
    return cfg


def oci_codes(body: bytes) -> List[str]:
    """The ``code`` values of an OCI error body ([] if it is not one)."""
    try:
        doc = json.loads(body)
        return [e.get("code") for e in doc.get("errors", [])]
    except (ValueError, AttributeError, TypeError):
        return []


class StreamResult:
    """What a streaming GET saw: status, headers, bytes received, their sha256, and how it ended."""

    def __init__(self):
        self.status: Optional[int] = None
        self.headers: Dict[str, str] = {}
        self.nbytes = 0
        self.digest: Optional[str] = None
        self.error: Optional[BaseException] = None  # connection cut, short body, timeout...
        self.body_prefix = b""                        # first 4 KiB (for error bodies)
        self.ttfb: Optional[float] = None            # seconds until the first body byte
        self.elapsed: Optional[float] = None

    @property
    def content_length(self) -> Optional[int]:
        v = self.headers.get("content-length")
        return int(v) if v is not None else None

    @property
    def complete(self) -> bool:
        """200/206, no error, and exactly Content-Length bytes received."""
        return (self.error is None and self.status in (200, 206)
                and self.content_length is not None and self.nbytes == self.content_length)

    def __repr__(self):
        return (f"StreamResult(status={self.status}, nbytes={self.nbytes}, cl={self.content_length}, "
                f"digest={self.digest}, error={self.error!r}, x-cache={self.headers.get('x-cache')})")


def stream_get(port: int, path: str, headers: Optional[Dict[str, str]] = None, timeout: float = 60.0,
               chunk: int = 256 * 1024, on_chunk=None, method: str = "GET") -> StreamResult:
    """GET ``path`` from 127.0.0.1:port, hashing the body while streaming (never kept in memory).

    ``on_chunk(nbytes_so_far)`` is called after each chunk (may sleep: slow reader)."""
    r = StreamResult()
    h = hashlib.sha256()
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        r.status = resp.status
        for k, v in resp.getheaders():
            k = k.lower()
            r.headers[k] = f"{r.headers[k]}, {v}" if k in r.headers else v
        while True:
            try:
                data = resp.read(chunk)
            except http.client.IncompleteRead as e:
                h.update(e.partial)
                r.nbytes += len(e.partial)
                raise
            if not data:
                break
            if r.ttfb is None:
                r.ttfb = time.monotonic() - t0
            if len(r.body_prefix) < 4096:
                r.body_prefix += data[:4096 - len(r.body_prefix)]
            h.update(data)
            r.nbytes += len(data)
            if on_chunk is not None:
                on_chunk(r.nbytes)
    except (OSError, http.client.HTTPException) as e:
        r.error = e
    finally:
        conn.close()
        r.elapsed = time.monotonic() - t0
    r.digest = "sha256:" + h.hexdigest()
    if r.error is None and r.content_length is not None and r.nbytes != r.content_length \
            and method != "HEAD":
        r.error = EOFError(f"short body: {r.nbytes} of {r.content_length}")
    return r


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> Tuple[Optional[int], Dict[str, str], bytes]:
    """Send raw bytes on a fresh connection; parse one HTTP/1.1 response (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                got = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                got = b""
            if not got:
                break
            buf += got
        if b"\r\n\r\n" not in buf:
            return None, {}, buf
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0") or 0)
        while len(body) < n:
            try:
                got = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not got:
                break
            body += got
        return status, hdrs, body


def blob_file(data_dir: str, digest: str) -> str:
    """Where a committed blob lives: <data_dir>/blobs/sha256/<2 hex>/<hex>."""
    algo, hexd = digest.split(":", 1)
    return os.path.join(data_dir, "blobs", algo, hexd[:2], hexd)


def files_under(d: str) -> List[str]:
    out = []
    for root, _, names in os.walk(d):
        out += [os.path.join(root, n) for n in names]
    return out


def files_named(d: str, name_part: str) -> List[str]:
    """Every file under ``d`` whose name contains ``name_part``."""
    return [p for p in files_under(d) if name_part in os.path.basename(p)]


def invalid_committed_blobs(data_dir: str) -> List[str]:
    """Files under <data_dir>/blobs whose sha256 differs from their name (must be [])."""
    bad = []
    for p in files_under(os.path.join(data_dir, "blobs")):
        name = os.path.basename(p)
        if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
            if oci_layout.file_digest(p) != "sha256:" + name:
                bad.append(p)
        else:
            bad.append(p)  # anything else in the committed tree is a leftover
    return bad


def push_tag(reg: Registry, repo: str, tag: str, manifest_bytes: bytes, media_type: str) -> None:
    """Point ``repo:tag`` at an already-pushed manifest (plain PUT to the upstream registry)."""
    st, _, body = proc.http_get(f"{reg.url}/v2/{repo}/manifests/{tag}", method="PUT",
                                body=manifest_bytes, headers={"Content-Type": media_type})
    if st != 201:
        raise RuntimeError(f"PUT {repo}:{tag} -> {st} {body[:300]!r}")


def wait_upstream_healthy(rm: Regmirror, probe_path: str, timeout: float = 45.0) -> None:
    """After an outage the mirror skips the upstream until a probe finds it back (circuit
    breaker, a few seconds): poll ``probe_path`` (a request that must reach the upstream,
    e.g. tags/list) until it answers 200 from the upstream (not STALE)."""
    def fresh():
        st, h, _ = rm.get(probe_path, timeout=30)
        return st == 200 and h.get("x-cache") != "STALE"
    proc.wait_until(fresh, timeout, interval=0.25, what=f"{probe_path} answered by the upstream again")


def log_tail(rm: Regmirror, n: int = 3000) -> str:
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


def wait_port_closed(port: int, timeout: float = 10.0) -> None:
    proc.wait_until(lambda: not proc.port_open(port), timeout, what=f"port {port} closed")
