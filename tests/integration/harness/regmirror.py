"""Run the regmirror binary under test on 127.0.0.1.

``Regmirror(bin, config, data_dir)`` writes ``config`` (a dict, the JSON config
of DESIGN.md) to a temp file with ``listen = "127.0.0.1:0"`` and ``data_dir``,
runs ``BIN serve --config FILE`` in its own process group, copies everything
it prints (stdout and stderr, merged) to a log file from a reader thread, and
waits for the line containing ``event=listening addr=127.0.0.1:PORT``.
``start()`` after ``stop()``/``kill9()`` reuses the same port and data dir.

Started as an operator starts it: a shell or systemd hands a service the default disposition
of every signal and an empty signal mask. Python itself ignores SIGPIPE and SIGXFSZ;
``Popen(restore_signals=True)`` puts both back to SIG_DFL between fork and exec, and the harness
ignores or blocks nothing else. ``check_operator_signals()`` proves it once per test process:
a probe started exactly like regmirror reads its own /proc/self/status, and any signal ignored
or blocked there fails the test (so a test runner that ignores SIGPIPE, say, cannot hide the
product's own handling of it).

Safety net: the config is rejected (ValueError) unless ``listen`` and every
upstream ``url`` / S3 ``endpoint`` in it are http(s)://127.0.0.1 or localhost,
so a test can never make the binary talk to the internet.  No config at all is
not allowed either (the embedded default points at the public registries).
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from . import proc, skopeo
from .proc import http_get  # noqa: F401  (re-exported: harness.regmirror.http_get)

LISTENING = re.compile(r'event=listening\b.*?\baddr="?(127\.0\.0\.1):(\d+)')
ADMIN_LISTENING = re.compile(r'event=admin_listening\b.*?\baddr="?(127\.0\.0\.1):(\d+)')


def _listening_event(text: str):
    """(event, port) for a listening line in the text or the JSON log format, else None."""
    for event, pattern in (("listening", LISTENING), ("admin_listening", ADMIN_LISTENING)):
        m = pattern.search(text)
        if m:
            return event, int(m.group(2))
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        m = re.fullmatch(r"127\.0\.0\.1:(\d+)", str(doc.get("addr", "")))
        if m and doc.get("event") in ("listening", "admin_listening"):
            return doc["event"], int(m.group(1))
    return None
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def find_binary() -> Optional[str]:
    """$REGMIRROR_BIN, else the newest REPO/build*/regmirror (or build*/proxy/regmirror); None if absent."""
    env = os.environ.get("REGMIRROR_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    cands = [p for pat in ("build*/regmirror", "build*/*/regmirror")
             for p in glob.glob(os.path.join(REPO_ROOT, pat))
             if os.path.isfile(p) and os.access(p, os.X_OK)]
    return max(cands, key=os.path.getmtime) if cands else None


def _operator_popen_kwargs() -> dict:
    """How the harness starts regmirror: its own session, output to a pipe the harness reads,
    and restore_signals=True, which puts SIGPIPE and SIGXFSZ (ignored by Python itself) back to
    SIG_DFL before exec, as a shell or systemd would hand them to a service."""
    return dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=skopeo.clean_env(), start_new_session=True, restore_signals=True)


_signals_checked = False


def check_operator_signals() -> None:
    """Raises RuntimeError unless a child started like regmirror has no signal ignored or blocked."""
    global _signals_checked
    if _signals_checked:
        return
    probe = subprocess.Popen(["cat", "/proc/self/status"], **_operator_popen_kwargs())
    out, _ = probe.communicate(timeout=10)
    masks = {}
    for line in out.decode().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigBlk", "SigIgn"):
            masks[key] = int(value.strip(), 16)
    if masks.get("SigBlk", 1) or masks.get("SigIgn", 1):
        raise RuntimeError("the harness would start regmirror with signals blocked or ignored "
                           f"(SigBlk={masks.get('SigBlk', 0):x}, SigIgn={masks.get('SigIgn', 0):x}); "
                           "an operator's shell or systemd would not")
    _signals_checked = True


def _check_loopback_url(url: str, where: str) -> None:
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or u.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"{where}: tests may only use loopback URLs, got {url!r}")


def check_loopback_config(cfg: dict) -> None:
    """Raise ValueError if ``cfg`` would make regmirror listen or connect off-loopback."""
    listen = cfg.get("listen", "")
    if not str(listen).startswith("127.0.0.1:"):
        raise ValueError(f"listen must be 127.0.0.1:PORT, got {listen!r}")
    regs = cfg.get("registries")
    if not isinstance(regs, dict) or not regs:
        raise ValueError("config needs explicit loopback 'registries' (the defaults are public)")
    for name, reg in regs.items():
        for i, up in enumerate((reg or {}).get("upstreams", [])):
            _check_loopback_url(up.get("url", ""), f"registries.{name}.upstreams[{i}].url")
    s3 = (cfg.get("storage") or {}).get("s3")
    if s3:
        _check_loopback_url(s3.get("endpoint", ""), "storage.s3.endpoint")


class Regmirror:
    """The binary under test; see module docstring.  Context manager."""

    def __init__(self, bin: Optional[str], config: dict, data_dir: Optional[str] = None,
                 start: bool = True, extra_args: Tuple[str, ...] = (), ready_timeout: float = 30.0):
        self.bin = bin or find_binary()
        if not self.bin:
            raise FileNotFoundError("regmirror binary not found (set REGMIRROR_BIN)")
        self.dir = proc.register_tmp(tempfile.mkdtemp(prefix="rm-regmirror-"))
        self._own_data = data_dir is None
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.config = copy.deepcopy(config)
        self.config.setdefault("listen", "127.0.0.1:0")
        self.config["data_dir"] = self.data_dir
        check_loopback_config(self.config)
        self.config_path = os.path.join(self.dir, "config.json")
        self.log_path = os.path.join(self.dir, "regmirror.log")
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.port: Optional[int] = None
        self._p: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._log_lock = threading.Lock()
        if start:
            try:
                self.start()
            except BaseException:
                self.close()  # the exception text carries the log tail
                raise

    # ------------------------------------------------------------------ properties
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def admin_url(self) -> str:
        """The admin API (pins, gc, verify, import); printed before the main listening line."""
        if getattr(self, "admin_port", None) is None:
            raise RuntimeError("regmirror printed no admin_listening line")
        return f"http://127.0.0.1:{self.admin_port}"

    # ------------------------------------------------------------------ lifecycle
    def _read_output(self, pipe) -> None:
        with open(self.log_path, "ab") as log:
            for line in iter(pipe.readline, b""):
                with self._log_lock:
                    log.write(line)
                    log.flush()
                if not self._ready.is_set():
                    seen = _listening_event(line.decode("utf-8", "replace"))
                    if seen and seen[0] == "admin_listening":
                        self.admin_port = seen[1]
                    elif seen:
                        self._port_seen = seen[1]
                        self._ready.set()
        pipe.close()

    def start(self) -> "Regmirror":
        """Start (or restart on the known port); return when the listening line was printed."""
        if self.running():
            return self
        if self.port is not None:
            self.config["listen"] = f"127.0.0.1:{self.port}"
        # Several mirrors run at once in tests: the admin API gets a free port unless pinned.
        if getattr(self, "admin_port", None) is not None:
            self.config["admin_listen"] = f"127.0.0.1:{self.admin_port}"
        else:
            self.config.setdefault("admin_listen", "127.0.0.1:0")
        check_loopback_config(self.config)
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=1)
        with open(self.log_path, "ab") as f:
            f.write(f"---- start {time.strftime('%H:%M:%S')}\n".encode())
        self._ready.clear()
        self._port_seen = None
        argv = [self.bin, "serve", "--config", self.config_path, *self.extra_args]
        check_operator_signals()
        self._p = subprocess.Popen(argv, **_operator_popen_kwargs())
        self._mp = proc.ManagedProcess(argv, self.log_path)  # registers for atexit cleanup
        self._mp.proc = self._p
        with proc._live_lock:
            proc._live.add(self._mp)
        self._reader = threading.Thread(target=self._read_output, args=(self._p.stdout,), daemon=True,
                                        name="regmirror-log")
        self._reader.start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self._p.poll() is not None:
                self._reader.join(timeout=5)
                raise RuntimeError(f"regmirror exited rc={self._p.returncode} before listening:\n"
                                   + self.logs()[-4000:])
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"no 'event=listening addr=127.0.0.1:PORT' line within "
                                   f"{self.ready_timeout}s:\n" + self.logs()[-4000:])
        if self.port is not None and self._port_seen != self.port:
            self.stop()
            raise RuntimeError(f"restarted on port {self._port_seen}, expected {self.port}")
        self.port = self._port_seen
        return self

    def wait_log(self, pattern: str, timeout: float = 30.0) -> "re.Match":
        """Polls the log until ``pattern`` (a regex) matches; returns the match or raises
        TimeoutError with the log tail. For events written after the request that caused them."""
        regex = re.compile(pattern)
        try:
            return proc.wait_until(lambda: regex.search(self.logs()), timeout,
                                   what=f"log line /{pattern}/")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n" + self.logs()[-3000:]) from None

    @property
    def pid(self) -> int:
        return self._p.pid

    def running(self) -> bool:
        return self._p is not None and self._p.poll() is None

    def returncode(self) -> Optional[int]:
        return self._p.poll() if self._p else None

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """SIGTERM (then SIGKILL after ``timeout``); returns the exit code."""
        if self._p is None:
            return None
        rc = self._mp.stop(timeout=timeout)
        if self._reader:
            self._reader.join(timeout=5)
        return rc

    def kill9(self) -> Optional[int]:
        """SIGKILL at once (crash simulation); data dir and port are kept for ``start()``."""
        if self._p is None:
            return None
        rc = self._mp.kill9()
        if self._reader:
            self._reader.join(timeout=5)
        return rc

    def logs(self) -> str:
        """Everything the process printed so far (all runs)."""
        with self._log_lock:
            try:
                with open(self.log_path, "rb") as f:
                    return f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                return ""

    def close(self) -> None:
        """Stop; delete the temp dir (config, log, and data dir if the harness made it)
        unless $REGMIRROR_TEST_KEEP is set."""
        self.stop()
        if not proc.keep_tmp(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Regmirror":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def get(self, path: str, headers: Optional[Dict[str, str]] = None, method: str = "GET",
            timeout: float = 60.0):
        """``http_get(self.url + path, ...)`` -> (status, lowercased headers, body)."""
        return proc.http_get(self.url + path, headers=headers, method=method, timeout=timeout)


def cli(bin: Optional[str], *args: str, timeout: float = 120.0, check: bool = False
        ) -> subprocess.CompletedProcess:
    """Run a non-serving command (``regmirror node render ...``, ``--help``...) -> CompletedProcess."""
    b = bin or find_binary()
    if not b:
        raise FileNotFoundError("regmirror binary not found (set REGMIRROR_BIN)")
    return proc.run([b, *args], timeout=timeout, check=check, env=skopeo.clean_env())
