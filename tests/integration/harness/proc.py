"""Process and port helpers shared by the harness.

Every child is started in its own process group (``start_new_session=True``)
and registered in a module-level set; ``stop()`` sends SIGTERM to the group,
waits (bounded) and then SIGKILLs it.  An ``atexit`` hook kills whatever is
still registered, so an interrupted test run leaves nothing behind.
Output goes to a log file (never to a pipe nobody reads).
"""

from __future__ import annotations

import atexit
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

LOOPBACK = "127.0.0.1"
_live: "set[ManagedProcess]" = set()
_live_lock = threading.Lock()


def keep_tmp(path: str) -> bool:
    """True (and say where) if $REGMIRROR_TEST_KEEP is set: temp dirs are then left for debugging."""
    if os.environ.get("REGMIRROR_TEST_KEEP"):
        print(f"harness: keeping {path}", file=sys.stderr)
        return True
    return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Call ``pred()`` until it returns a truthy value or ``timeout`` seconds pass (then TimeoutError)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - report the last failure
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                               + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def http_get(url: str, headers: Optional[Dict[str, str]] = None, method: str = "GET",
             timeout: float = 30.0, body: Optional[bytes] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP request to a loopback http:// URL -> (status, {lowercased header: value}, body bytes).

    No redirects are followed.  Refuses any host other than 127.0.0.1/localhost.
    Repeated headers are joined with ", ".
    """
    from urllib.parse import urlsplit
    u = urlsplit(url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"harness only talks to http://127.0.0.1: {url}")
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs: Dict[str, str] = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        return resp.status, hdrs, data
    finally:
        conn.close()


class ManagedProcess:
    """A child process in its own process group, output appended to ``log_path``."""

    def __init__(self, argv: Sequence[str], log_path: str, env: Optional[dict] = None,
                 cwd: Optional[str] = None):
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: Optional[subprocess.Popen] = None
        self._reaped = False

    def start(self) -> "ManagedProcess":
        if self.running():
            raise RuntimeError(f"already running: {self.argv[0]}")
        self._reaped = False
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                         start_new_session=True)
        finally:
            log.close()
        with _live_lock:
            _live.add(self)
        return self

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> Optional[int]:
        return self.proc.poll() if self.proc else None

    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout: float = 10.0, sig=signal.SIGTERM) -> Optional[int]:
        """Signal the process group, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        if self.proc is None or self._reaped:
            return self.proc.returncode if self.proc else None
        if self.proc.poll() is None:
            self._signal_group(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        # kill stragglers left in the group, once, right after reaping the leader
        self._signal_group(signal.SIGKILL)
        self._reaped = True
        with _live_lock:
            _live.discard(self)
        return self.proc.returncode

    def kill9(self) -> Optional[int]:
        """SIGKILL the whole group immediately (crash simulation)."""
        return self.stop(timeout=10, sig=signal.SIGKILL)

    def read_log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def run(argv: Sequence[str], timeout: float = 120.0, check: bool = True, env: Optional[dict] = None,
        input: Optional[bytes] = None, text: bool = True) -> subprocess.CompletedProcess:
    """Run a short-lived command (own process group, killed on timeout); capture stdout/stderr
    (as str, or stdout as bytes with ``text=False``)."""
    p = subprocess.Popen(list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate(timeout=10)
        raise subprocess.TimeoutExpired(argv, timeout, output=out, stderr=err)
    cp = subprocess.CompletedProcess(list(argv), p.returncode,
                                     out.decode("utf-8", "replace") if text else out,
                                     err.decode("utf-8", "replace"))
    if check and cp.returncode != 0:
        raise CommandError(cp)
    return cp


class CommandError(RuntimeError):
    """A command exited non-zero; carries the CompletedProcess as ``.result``."""

    def __init__(self, cp: subprocess.CompletedProcess):
        self.result = cp
        super().__init__(f"command failed (rc={cp.returncode}): {' '.join(cp.args)}\n"
                         f"stdout: {cp.stdout[-4000:]!s}\nstderr: {cp.stderr[-4000:]}")


_tmp_dirs: List[str] = []


def register_tmp(path: str) -> str:
    """Remove ``path`` at interpreter exit if still there (unless $REGMIRROR_TEST_KEEP)."""
    with _live_lock:
        _tmp_dirs.append(path)
    return path


def _kill_all() -> None:
    with _live_lock:
        procs = list(_live)
        dirs = list(_tmp_dirs)
    for p in procs:
        try:
            p.stop(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    if not os.environ.get("REGMIRROR_TEST_KEEP"):
        import shutil
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_kill_all)


def _on_sigterm(*_):
    # KeyboardInterrupt (not SystemExit): unittest re-raises it and stops the run; atexit then cleans up
    raise KeyboardInterrupt("SIGTERM")


def _install_sigterm_handler() -> None:
    """Turn SIGTERM into KeyboardInterrupt (so the run stops and atexit cleanup runs),
    unless someone already handles SIGTERM."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)


_install_sigterm_handler()


def live_processes() -> List[ManagedProcess]:
    """Harness-started processes that have not been stopped yet."""
    with _live_lock:
        return list(_live)
