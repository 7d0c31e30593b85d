"""A real upstream registry: CNCF distribution 2.8 (Debian's ``docker-registry``).

``Registry()`` writes a config.yml (filesystem storage in a temp dir, delete
enabled, ``http.addr 127.0.0.1:PORT``, log level info, access log on) and runs
``docker-registry serve CONFIG``; ``start()`` returns once ``GET /v2/`` answers.
``stop()`` / ``start()`` keep the port and the storage, so tests can simulate an
outage and bring the same registry back.  ``Registry(proxy_remote=URL)`` runs
distribution as a pull-through cache of URL (``proxy: remoteurl``) - URL must
be loopback. ``Registry(preload=image_set.realistic())`` starts with the realistic image set
already stored (see image_set).

Use as a context manager, or call ``close()`` (stop + remove temp dir).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Optional
from urllib.parse import urlsplit

from . import image_set, proc, skopeo

REGISTRY_BIN = os.environ.get("REGMIRROR_TEST_REGISTRY", "docker-registry")


class Registry:
    """distribution on 127.0.0.1 with its own storage; see module docstring."""

    def __init__(self, port: Optional[int] = None, proxy_remote: Optional[str] = None,
                 workdir: Optional[str] = None, start: bool = True, preload=None):
        if proxy_remote is not None:
            host = urlsplit(proxy_remote).hostname
            if host not in ("127.0.0.1", "localhost"):
                raise ValueError(f"proxy_remote must be loopback: {proxy_remote}")
        self._own_dir = workdir is None
        self.dir = workdir or proc.register_tmp(tempfile.mkdtemp(prefix="rm-registry-"))
        self.storage = os.path.join(self.dir, "storage")
        if preload is not None:  # an image_set.ImageSet: its storage, copied (blobs hard-linked)
            image_set.copy_storage(preload.storage, self.storage)
        os.makedirs(self.storage, exist_ok=True)
        self.config_path = os.path.join(self.dir, "config.yml")
        self.log_path = os.path.join(self.dir, "registry.log")
        self.proxy_remote = proxy_remote
        self.port = port or proc.free_port()
        self._p: Optional[proc.ManagedProcess] = None
        if start:
            self.start()

    # -- properties
    @property
    def host(self) -> str:
        """"127.0.0.1:PORT" (the name used in image refs)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """"http://127.0.0.1:PORT"."""
        return f"http://{self.host}"

    def ref(self, repo: str, tag_or_digest: str) -> str:
        """skopeo ref ``docker://HOST/REPO:TAG`` (or ``@sha256:...``)."""
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"docker://{self.host}/{repo}{sep}{tag_or_digest}"

    # -- lifecycle
    def _write_config(self) -> None:
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: text",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: regmirror-test-secret",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
        ]
        if self.proxy_remote:
            lines += ["proxy:", f"  remoteurl: {self.proxy_remote}"]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 20.0) -> "Registry":
        """Start (or restart) on the same port and storage; wait for ``GET /v2/``."""
        if self._p is not None and self._p.running():
            return self
        self._write_config()
        with open(self.log_path, "ab") as f:
            f.write(f"---- start {time.strftime('%H:%M:%S')}\n".encode())
        self._p = proc.ManagedProcess([REGISTRY_BIN, "serve", self.config_path], self.log_path,
                                      env=skopeo.clean_env()).start()

        def ready():
            if not self._p.running():
                raise RuntimeError(f"docker-registry exited rc={self._p.returncode()}:\n"
                                   + self._p.read_log()[-3000:])
            st, _, _ = proc.http_get(self.url + "/v2/", timeout=2)
            return st == 200
        try:
            proc.wait_until(ready, timeout, what=f"docker-registry on {self.host}")
        except Exception:
            self._p.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the process (storage and port are kept for ``start()``)."""
        if self._p is not None:
            self._p.stop(timeout=10)
        proc.wait_until(lambda: not proc.port_open(self.port), 10, what="registry port closed")

    def running(self) -> bool:
        return self._p is not None and self._p.running()

    def logs(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Stop and delete the temp dir (if the harness created it and $REGMIRROR_TEST_KEEP is unset)."""
        self.stop()
        if self._own_dir and not proc.keep_tmp(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- content
    def push_layout(self, layout_dir: str, tag: str, repo: str, all: bool = True,
                    dest_tag: Optional[str] = None) -> None:
        """``skopeo copy [--all] --preserve-digests oci:DIR:TAG docker://HOST/REPO:DEST_TAG``.

        Digests are preserved: uncompressed layers are pushed as they are."""
        skopeo.copy(f"oci:{layout_dir}:{tag}", self.ref(repo, dest_tag or tag), all=all)

    def get(self, path: str, headers=None, method: str = "GET"):
        """``http_get(self.url + path)`` -> (status, headers, body)."""
        return proc.http_get(self.url + path, headers=headers, method=method)

    def delete_manifest(self, repo: str, digest: str) -> int:
        """DELETE a manifest by digest (removes the tag's target); returns the HTTP status."""
        st, _, _ = proc.http_get(f"{self.url}/v2/{repo}/manifests/{digest}", method="DELETE")
        return st
