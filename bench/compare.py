#!/usr/bin/env python3
"""Side-by-side benchmark: regmirror vs distribution (proxy mode) vs nginx (sendfile).

Run through bench/run.sh (which builds nothing and only checks the tools). One run:

  1. builds an OCI layout with a ~3 MiB and a ~256 MiB layer (tests/integration/harness/oci_layout),
     pushes it to a real upstream docker-registry as library/bench:v1;
  2. starts, each on 127.0.0.1 with a fresh data directory:
       regmirror     (one registry, docker.io, whose only upstream is that docker-registry),
       distribution  (docker-registry with proxy.remoteurl = the upstream),
       nginx         (sendfile on, serving the layout's blob files);
  3. (c) cold pull: one direct curl from the upstream (best of 2), then 8 concurrent curls of the
     uncached 256 MiB layer through regmirror, then through distribution; upstream GETs of that
     blob are counted from the upstream's access log;
  4. warms every cache and checks every body's sha256 against its digest;
  5. (b) manifest GET by digest and by tag, (a) blob GET for both blobs, with wrk at 1/16/64
     connections, sampling each server's RSS (its whole process tree) every 50 ms; (d) is the
     peak during the 64-connection 256 MiB run;
  6. optional (--profile): perf record (cpu-clock, flat) of regmirror during extra runs of the
     target scenarios;
  7. prints a Markdown table with ratios and PASS/FAIL per target and writes it (and the raw
     figures as JSON) to --out.

Every process binds 127.0.0.1 and is stopped at exit (the harness kills its process groups).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import oci_layout, proc, skopeo, upstream  # noqa: E402
from harness.regmirror import check_loopback_config  # noqa: E402

MiB = 1 << 20
REPO_NAME = "library/bench"
TAG = "v1"
MANIFEST_ACCEPT = ("Accept: application/vnd.oci.image.manifest.v1+json, "
                   "application/vnd.docker.distribution.manifest.v2+json")
CONNS = (1, 16, 64)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- process helpers

def process_tree(root: int) -> List[int]:
    """root and its descendants (nginx workers are children of the master)."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the given processes (all their threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


class RssSampler:
    """Peak of the summed VmRSS of a process tree, sampled every 50 ms while active."""

    def __init__(self, root_pid: int, interval: float = 0.05):
        self.root_pid = root_pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def _run(self) -> None:
        pids = process_tree(self.root_pid)
        n = 0
        while not self._stop.is_set():
            if n % 20 == 0:  # nginx may respawn workers; rescanning /proc every sample costs CPU
                pids = process_tree(self.root_pid)
            n += 1
            self.peak_kib = max(self.peak_kib, sum(status_kib(p, "VmRSS") for p in pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------- servers

class Server:
    name = ""
    url = ""

    def pid(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def pids(self) -> List[int]:
        return process_tree(self.pid())

    def hwm_mib(self) -> float:
        return sum(status_kib(p, "VmHWM") for p in self.pids()) / 1024


class RegmirrorServer(Server):
    name = "regmirror"

    def __init__(self, binary: str, upstream_url: str, workdir: str, extra: Optional[dict] = None,
                 name: str = "regmirror"):
        self.name = name
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = proc.free_port()
        scheme = "https" if (extra or {}).get("tls") else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        cfg = {
            "listen": f"127.0.0.1:{self.port}",
            "data_dir": os.path.join(workdir, "data"),
            "default_registry": "docker.io",
            "registries": {"docker.io": {"upstreams": [{"url": upstream_url}],
                                         "tag_ttl_seconds": 3600}},
        }
        cfg.update(extra or {})
        check_loopback_config(cfg)
        self.config_path = os.path.join(workdir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=1)
        self.log_path = os.path.join(workdir, "regmirror.log")
        # stdout to a file, not a pipe: regmirror logs one line per request.
        self._p = proc.ManagedProcess([binary, "serve", "--config", self.config_path],
                                      self.log_path, env=skopeo.clean_env()).start()
        proc.wait_until(self._ready, 30, what=f"regmirror on {self.url}")

    def _ready(self) -> bool:
        if not self._p.running():
            raise RuntimeError(f"regmirror exited rc={self._p.returncode()}:\n"
                               + self._p.read_log()[-3000:])
        if self.url.startswith("https://"):
            return "event=listening" in self._p.read_log()
        return proc.http_get(self.url + "/v2/", timeout=2)[0] == 200

    def pid(self) -> int:
        return self._p.pid

    def close(self) -> None:
        self._p.stop(timeout=10)


class DistributionServer(Server):
    name = "distribution"

    def __init__(self, upstream_url: str, workdir: str):
        os.makedirs(workdir, exist_ok=True)
        self.reg = upstream.Registry(proxy_remote=upstream_url, workdir=workdir)
        self.url = self.reg.url

    def pid(self) -> int:
        return self.reg._p.pid  # noqa: SLF001 - the harness exposes no pid accessor

    def close(self) -> None:
        self.reg.stop()


class NginxServer(Server):
    """nginx serving ``root`` (the OCI layout; blobs at /blobs/sha256/<hex>) with sendfile."""
    name = "nginx"

    def __init__(self, root: str, workdir: str, tls: Optional[Sequence[str]] = None):
        """``tls``: (cert, key) to serve HTTPS with them (ssl_buffer_size left at its default)."""
        os.makedirs(workdir, exist_ok=True)
        self.port = proc.free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        listen = f"listen 127.0.0.1:{self.port}"
        if tls:
            listen += f" ssl;\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]}"
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read the 0700 temp dirs
        conf = f"""{user}worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{
    {listen};
    root {root};
    location = /v2/ {{ return 200 '{{}}'; }}
  }}
}}
"""
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self._p = proc.ManagedProcess(
            ["nginx", "-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", self.conf,
             "-g", "daemon off;"], os.path.join(workdir, "stdout.log")).start()
        proc.wait_until(self._ready, 15, what=f"nginx on {self.url}")

    def _ready(self) -> bool:
        if not self._p.running():
            raise RuntimeError("nginx exited:\n" + self._p.read_log()[-3000:])
        if self.url.startswith("https://"):
            return proc.port_open(self.port)
        return proc.http_get(self.url + "/v2/", timeout=2)[0] == 200

    def pid(self) -> int:
        return self._p.pid

    def close(self) -> None:
        self._p.stop(timeout=10)


class ThrottledFront(NginxServer):
    """nginx reverse proxy in front of the upstream that sends each response at ``mib_s``: a
    stand-in for an internet upstream, where one pull is bound by the link, not by this box."""
    name = "throttle"

    def __init__(self, upstream_url: str, mib_s: int, workdir: str, rate: str = "",
                 worker_connections: int = 1024):  # noqa: D107 - no super()
        """``rate``: an nginx limit_rate per response ("200k"); default ``mib_s`` MiB/s."""
        os.makedirs(workdir, exist_ok=True)
        self.port = proc.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "access.log")
        conf = f"""worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections {worker_connections}; }}
worker_rlimit_nofile {4 * worker_connections};
http {{
  access_log {self.log_path};
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass {upstream_url};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      # limit_rate is ignored on unbuffered responses; buffer in memory only (no temp files),
      # so nginx reads the upstream as fast as the throttled client drains it.
      proxy_buffering on;
      proxy_max_temp_file_size 0;
      limit_rate {rate or f"{mib_s}m"};
    }}
  }}
}}
"""
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self._p = proc.ManagedProcess(
            ["nginx", "-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", self.conf,
             "-g", "daemon off;"], os.path.join(workdir, "stdout.log")).start()
        proc.wait_until(self._ready, 15, what=f"throttling nginx on {self.url}")


# --------------------------------------------------------------------------- clients

def fetch_sha256(url: str, headers: Optional[Dict[str, str]] = None, timeout: float = 120.0):
    """GET a loopback URL, streaming -> (status, "sha256:<hex>", length)."""
    u = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)$", url)
    if not u:
        raise ValueError(f"loopback http URL expected: {url}")
    conn = http.client.HTTPConnection("127.0.0.1", int(u.group(1)), timeout=timeout)
    try:
        conn.request("GET", u.group(2), headers=headers or {})
        resp = conn.getresponse()
        h, n = hashlib.sha256(), 0
        while True:
            chunk = resp.read(MiB)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        return resp.status, "sha256:" + h.hexdigest(), n
    finally:
        conn.close()


def expect_body(url: str, digest: str, size: int, headers: Optional[Dict[str, str]] = None) -> None:
    status, got, n = fetch_sha256(url, headers)
    if status != 200 or got != digest or n != size:
        raise RuntimeError(f"GET {url}: status {status}, {n} bytes, {got}; expected 200, "
                           f"{size} bytes, {digest}")


@dataclasses.dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    mib_s: float = 0.0
    p99_ms: Optional[float] = None
    errors: int = 0          # non-2xx/3xx + socket errors
    cpu_pct: float = 0.0     # server CPU (all its threads/processes) over the run, 100 = one core
    raw: str = ""


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url: str, conns: int, duration: int, headers: Sequence[str] = (),
            server: Optional[Server] = None) -> WrkResult:
    threads = min(2, conns)
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "30s"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    if isinstance(server, RegmirrorServer) and not server._p.running():  # noqa: SLF001
        raise RuntimeError(f"regmirror is not running (rc={server._p.returncode()})")  # noqa: SLF001
    pids = server.pids() if server else []
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    cp = proc.run(argv, timeout=duration + 90, check=True, env=skopeo.clean_env())
    cpu1, t1 = cpu_seconds(pids), time.monotonic()
    out = cp.stdout
    r = WrkResult(raw=out)
    r.cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if not m:
        raise RuntimeError(f"cannot parse wrk output:\n{out}\n{cp.stderr}")
    r.requests = int(m.group(1))
    r.seconds = float(m.group(2)) * _TIME[m.group(3)] / 1e3
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r.rps = float(m.group(1)) if m else 0.0
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", out)
    r.mib_s = float(m.group(1)) * _UNITS[m.group(2)] / MiB if m else 0.0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    r.p99_ms = float(m.group(1)) * _TIME[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r.errors += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        # A read error per connection at the end of a run is wrk closing in-flight big bodies.
        r.errors += int(m.group(1)) + int(m.group(3)) + int(m.group(4))
    return r


def upstream_blob_gets(log_path: str, offset: int, hexd: str) -> int:
    """Upstream access-log lines after ``offset`` that are GETs of the blob (200 or 206)."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    pat = re.compile(r'"GET /v2/[^ ]*/blobs/sha256:' + hexd + r' HTTP/1\.[01]" (200|206) ')
    return len(pat.findall(text))


def log_size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def concurrent_curl(url: str, clients: int, size: int, timeout: float = 180.0) -> float:
    """``clients`` curls at once -> wall seconds until the last one finished; each must get
    200 and exactly ``size`` bytes."""
    argv = ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
            "--max-time", str(int(timeout)), url]
    t0 = time.monotonic()
    ps = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=skopeo.clean_env(), start_new_session=True) for _ in range(clients)]
    outs = [p.communicate(timeout=timeout + 10) for p in ps]
    wall = time.monotonic() - t0
    for p, (out, err) in zip(ps, outs):
        if p.returncode != 0 or out.strip() != f"200 {size}":
            raise RuntimeError(f"curl {url}: rc={p.returncode} got {out!r} (want '200 {size}') {err}")
    return wall


# --------------------------------------------------------------------------- profiling

def perf_profile(server: Server, seconds: int, out_path: str) -> Optional[subprocess.Popen]:
    """perf record (cpu-clock, flat: no call graphs, hardware counters are absent in this VM)."""
    if not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1999", "-p",
                             str(server.pid()), "-o", out_path, "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def perf_top(data_path: str, limit: int = 15) -> List[str]:
    cp = subprocess.run(["perf", "report", "-i", data_path, "--stdio", "--no-children",
                         "--sort", "dso,symbol", "--percent-limit", "0.8"],
                        capture_output=True, text=True, timeout=120)
    rows = []
    for line in cp.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[([.k])\]\s+(.*)$", line)
        if m:
            sym = re.split(r"\s{2,}", m.group(4).strip())[0]  # perf appends empty columns
            if len(sym) > 110:
                sym = sym[:107] + "..."
            rows.append(f"| {m.group(1)}% | {m.group(2)} | {'kernel' if m.group(3) == 'k' else 'user'} | `{sym}` |")
        if len(rows) >= limit:
            break
    return rows


# --------------------------------------------------------------------------- the run

def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, digits=0) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regmirror", required=True, help="regmirror binary")
    ap.add_argument("--out", required=True, help="Markdown result file (a .json is written next to it)")
    ap.add_argument("--short", type=int, default=5, help="wrk seconds for small bodies")
    ap.add_argument("--long", type=int, default=10, help="wrk seconds for the 256 MiB blob")
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--small-mib", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8, help="cold-pull concurrent clients")
    ap.add_argument("--cold-rate", type=int, default=64,
                    help="MiB/s per response of the throttled upstream front for the second cold "
                         "pull round (0: skip that round)")
    ap.add_argument("--baseline", metavar="BIN",
                    help="a second regmirror binary (say, the previous commit's) run beside the "
                         "first in every cell, interleaved; its own table compares the two")
    ap.add_argument("--profile", metavar="DIR", help="perf-record regmirror in extra runs; reports in DIR")
    ap.add_argument("--workdir", help="keep everything here (default: a temp dir, removed at exit)")
    args = ap.parse_args()

    started = time.monotonic()
    load_before = os.getloadavg()
    work = args.workdir or proc.register_tmp(tempfile.mkdtemp(prefix="regmirror-bench-"))
    os.makedirs(work, exist_ok=True)
    servers: List[Server] = []
    figures: dict = {"cells": {}}

    def cell(key: str, server: str, value) -> None:
        figures["cells"].setdefault(key, {})[server] = value

    try:
        # 1. images
        layout = os.path.join(work, "layout")
        log(f"building layout: {args.small_mib} MiB + {args.big_mib} MiB layers")
        img = oci_layout.build_image(layout, TAG, layers=[args.small_mib * MiB, args.big_mib * MiB],
                                     seed="regmirror-bench", compress=False)
        small, big = img.layers
        os.chmod(work, 0o755)
        log(f"small {small.digest} ({small.size} B), big {big.digest} ({big.size} B), "
            f"manifest {img.digest}")

        # 2. upstream + servers
        up = upstream.Registry(workdir=os.path.join(work, "upstream"))
        servers.append(_UpstreamHandle(up))
        log(f"upstream docker-registry at {up.url}; pushing {REPO_NAME}:{TAG}")
        up.push_layout(layout, TAG, REPO_NAME)
        rm = RegmirrorServer(args.regmirror, up.url, os.path.join(work, "regmirror"))
        servers.append(rm)
        base = None  # the --baseline regmirror, measured in the same cells as rm
        if args.baseline:
            base = RegmirrorServer(args.baseline, up.url, os.path.join(work, "baseline"),
                                   name=BASELINE)
            servers.append(base)
        caches = [rm] + ([base] if base else [])
        dist = DistributionServer(up.url, os.path.join(work, "distribution"))
        servers.append(dist)
        ngx = NginxServer(layout, os.path.join(work, "nginx"))
        servers.append(ngx)
        log(f"regmirror {rm.url}, distribution {dist.url}, nginx {ngx.url}")

        blob_path = lambda d: f"/v2/{REPO_NAME}/blobs/{d}"  # noqa: E731
        nginx_path = lambda d: "/blobs/sha256/" + d.split(":", 1)[1]  # noqa: E731
        big_hex = big.digest.split(":", 1)[1]

        # 3. (c) cold pull. Round "": straight from the upstream on loopback (the main regmirror
        # and distribution instances, fresh, warmed by this). Round "_thr": through a throttled
        # front (--cold-rate MiB/s per response, like an internet link), on extra fresh instances.
        def cold_round(suffix: str, source_url: str, rm_srvs: List[Server], dist_srv: Server) -> None:
            url = source_url + blob_path(big.digest)
            # Median of 3: nginx's limit_rate grants up to a second's worth at the start of a
            # response (it counts whole seconds), so throttled pulls jitter.
            direct = [concurrent_curl(url, 1, big.size) for _ in range(3)]
            direct_s = sorted(direct)[1]
            direct8 = concurrent_curl(url, args.clients, big.size)
            log(f"direct pull{suffix}: 1 client {', '.join(f'{d:.2f}s' for d in direct)}; "
                f"{args.clients} clients straight from the upstream {direct8:.2f}s")
            figures["direct_pull_s" + suffix] = direct_s
            figures["direct_pull_many_s" + suffix] = direct8
            for srv in (*rm_srvs, dist_srv):
                off = log_size(up.log_path)
                with RssSampler(srv.pid()) as rss:
                    wall = concurrent_curl(srv.url + blob_path(big.digest), args.clients, big.size)
                time.sleep(1.0)  # let the upstream flush its access log
                served = upstream_blob_gets(up.log_path, off, big_hex)
                log(f"cold pull{suffix} via {srv.name}: {args.clients} clients in {wall:.2f}s "
                    f"({wall / direct_s:.2f}x one direct pull), upstream served the blob {served}x, "
                    f"peak RSS {rss.peak_kib / 1024:.0f} MiB")
                cell("cold_wall_s" + suffix, srv.name, wall)
                cell("cold_ratio_direct" + suffix, srv.name, wall / direct_s)
                cell("cold_ratio_direct_many" + suffix, srv.name, wall / direct8)
                cell("cold_upstream_gets" + suffix, srv.name, served)
                cell("cold_peak_rss_mib" + suffix, srv.name, rss.peak_kib / 1024)

        cold_round("", up.url, caches, dist)
        if args.cold_rate > 0:
            front = ThrottledFront(up.url, args.cold_rate, os.path.join(work, "throttle"))
            servers.append(front)
            caches2 = [RegmirrorServer(args.regmirror, front.url, os.path.join(work, "regmirror-thr"))]
            if args.baseline:
                caches2.append(RegmirrorServer(args.baseline, front.url,
                                               os.path.join(work, "baseline-thr"), name=BASELINE))
            servers.extend(caches2)
            dist2 = DistributionServer(front.url, os.path.join(work, "distribution-thr"))
            servers.append(dist2)
            cold_round("_thr", front.url, caches2, dist2)
            for extra in (dist2, *caches2, front):
                extra.close()
                servers.remove(extra)
            shutil.rmtree(os.path.join(work, "regmirror-thr"), ignore_errors=True)
            shutil.rmtree(os.path.join(work, "baseline-thr"), ignore_errors=True)
            shutil.rmtree(os.path.join(work, "distribution-thr"), ignore_errors=True)

        # 4. warm + verify every body
        log("warming caches and verifying bodies")
        acc = {"Accept": MANIFEST_ACCEPT.split(": ", 1)[1]}
        man_digest_path = f"/v2/{REPO_NAME}/manifests/{img.digest}"
        man_tag_path = f"/v2/{REPO_NAME}/manifests/{TAG}"
        for srv in (*caches, dist):
            for _ in range(2):  # the second pass must be a cache hit
                for p in (man_tag_path, man_digest_path):
                    expect_body(srv.url + p, img.digest, img.manifest.size, acc)
                for b in (small, big):
                    expect_body(srv.url + blob_path(b.digest), b.digest, b.size)
        for b in (small, big, img.manifest):
            expect_body(ngx.url + nginx_path(b.digest), b.digest, b.size)
        st, hdrs, _ = proc.http_get(rm.url + man_tag_path, headers=acc)
        figures["regmirror_x_cache_tag"] = hdrs.get("x-cache")
        if hdrs.get("x-cache") != "HIT":
            log(f"WARNING: regmirror tag request is not a HIT: status {st} x-cache {hdrs.get('x-cache')}")

        # 5. (b) manifests, then (a) blobs
        order = [*caches, dist]
        for what, path in (("manifest_digest", man_digest_path), ("manifest_tag", man_tag_path)):
            for c in CONNS:
                # nginx serves the manifest's file from the layout: the by-digest baseline.
                here = order + ([ngx] if what == "manifest_digest" else [])
                for srv in here:
                    url = srv.url + (nginx_path(img.digest) if srv is ngx else path)
                    r = run_wrk(url, c, args.short, [MANIFEST_ACCEPT], srv)
                    log(f"{what} c={c} {srv.name}: {r.rps:.0f} req/s p99 {fmt(r.p99_ms, 2)} ms "
                        f"errors {r.errors} cpu {r.cpu_pct:.0f}%")
                    cell(f"{what}_rps_c{c}", srv.name, r.rps)
                    cell(f"{what}_p99_c{c}", srv.name, r.p99_ms)
                    cell(f"{what}_errors_c{c}", srv.name, r.errors)
                    cell(f"{what}_cpu_c{c}", srv.name, r.cpu_pct)
        for label, blob, secs in (("small", small, args.short), ("big", big, args.long)):
            for c in CONNS:
                for srv in (ngx, *caches, dist):
                    url = srv.url + (nginx_path(blob.digest) if srv is ngx else blob_path(blob.digest))
                    if label == "big" and c == CONNS[-1]:
                        with RssSampler(srv.pid()) as rss:
                            r = run_wrk(url, c, secs, (), srv)
                        cell("rss_peak_mib", srv.name, rss.peak_kib / 1024)
                        cell("rss_hwm_mib", srv.name, srv.hwm_mib())
                    else:
                        r = run_wrk(url, c, secs, (), srv)
                    log(f"blob {label} c={c} {srv.name}: {r.mib_s:.0f} MiB/s ({r.requests} req) "
                        f"errors {r.errors} cpu {r.cpu_pct:.0f}%")
                    cell(f"blob_{label}_mib_s_c{c}", srv.name, r.mib_s)
                    cell(f"blob_{label}_errors_c{c}", srv.name, r.errors)
                    cell(f"blob_{label}_cpu_c{c}", srv.name, r.cpu_pct)

        # 6. profile regmirror (extra runs; the measured figures above are not perturbed)
        profiles = []
        if args.profile:
            os.makedirs(args.profile, exist_ok=True)
            scen = [("blob 3 MiB, 16 conns", blob_path(small.digest), 16, []),
                    ("blob 256 MiB, 16 conns", blob_path(big.digest), 16, []),
                    ("manifest by digest, 64 conns", man_digest_path, 64, [MANIFEST_ACCEPT]),
                    ("manifest by tag, 64 conns", man_tag_path, 64, [MANIFEST_ACCEPT])]
            for i, (title, path, c, hdrs) in enumerate(scen):
                data = os.path.join(args.profile, f"perf-{i}.data")
                rec = perf_profile(rm, args.short, data)
                if rec is None:
                    break
                time.sleep(0.3)
                r = run_wrk(rm.url + path, c, args.short, hdrs, rm)
                rec.wait(timeout=60)
                rows = perf_top(data)
                log(f"profiled {title}: {r.rps:.0f} req/s {r.mib_s:.0f} MiB/s under perf")
                profiles.append((title, r, rows))
            figures["profiles"] = [(t, dataclasses.asdict(r) | {"raw": ""}, rows) for t, r, rows in profiles]

        figures["elapsed_s"] = time.monotonic() - started
        figures["load_before"] = load_before
        figures["load_after"] = os.getloadavg()
        text = render(figures, args, small, big, profiles)
        print("\n" + text)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(figures, f, indent=1, default=str)
        log(f"wrote {args.out} ({figures['elapsed_s']:.0f}s)")
        return 0
    except BaseException:
        # Keep the evidence: the work dir is removed at exit.
        for s in servers:
            path = getattr(s, "log_path", None) or getattr(getattr(s, "reg", None), "log_path", None)
            if path and os.path.exists(path):
                os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
                keep = os.path.join(os.path.dirname(os.path.abspath(args.out)), f"failed-{s.name}.log")
                shutil.copyfile(path, keep)
                if isinstance(s, RegmirrorServer):
                    rc = s._p.returncode()  # noqa: SLF001
                    log(f"regmirror {'exited rc=' + str(rc) if rc is not None else 'still running'}; "
                        f"log kept in {keep}; last lines:")
                    with open(path, "rb") as f:
                        print(b"".join(f.readlines()[-25:]).decode("utf-8", "replace"), file=sys.stderr)
        raise
    finally:
        for s in reversed(servers):
            try:
                s.close()
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                log(f"stopping {s.name}: {e}")


class _UpstreamHandle(Server):
    name = "upstream"

    def __init__(self, reg: upstream.Registry):
        self.reg = reg

    def pid(self) -> int:
        return self.reg._p.pid  # noqa: SLF001

    def close(self) -> None:
        self.reg.stop()


def render(fig: dict, args, small, big, profiles) -> str:
    cells = fig["cells"]
    rows: List[str] = []
    verdicts: List[str] = []

    def get(key, srv):
        return cells.get(key, {}).get(srv)

    def errors_of(prefix, c):
        return sum((get(f"{prefix}_errors_c{c}", s) or 0) for s in ("regmirror",))

    def row(label, key, unit, digits, target=None, check: Optional[Callable[[], Optional[bool]]] = None,
            note=""):
        rmv, ngv, dsv = get(key, "regmirror"), get(key, "nginx"), get(key, "distribution")
        verdict = ""
        if check is not None:
            ok = check()
            verdict = "-" if ok is None else ("PASS" if ok else "FAIL")
            verdicts.append(f"{label}: {verdict}")
        rows.append(f"| {label} | {unit} | {fmt(rmv, digits)} | {fmt(ngv, digits)} | {fmt(dsv, digits)} | "
                    f"{fmt(ratio(rmv, ngv), 2)} | {fmt(ratio(rmv, dsv), 2)} | {target or ''} | {verdict} | {note} |")

    def ratio_check(key, other, minimum, err_key):
        def f():
            r = ratio(get(key, "regmirror"), get(key, other))
            if r is None:
                return None
            return r >= minimum and not (get(err_key, "regmirror") or 0)
        return f

    for label, name in (("small", f"{small.size / MiB:.0f} MiB"), ("big", f"{big.size / MiB:.0f} MiB")):
        for c in CONNS:
            key = f"blob_{label}_mib_s_c{c}"
            target, check = None, None
            if c == 16:
                minimum = 0.9 if label == "small" else 0.95
                target = f">= {minimum}x nginx"
                check = ratio_check(key, "nginx", minimum, f"blob_{label}_errors_c{c}")
            errs = get(f"blob_{label}_errors_c{c}", "regmirror")

            def cpu_per_gib(srv, label=label, c=c):
                cpu, rate = get(f"blob_{label}_cpu_c{c}", srv), get(f"blob_{label}_mib_s_c{c}", srv)
                return None if not cpu or not rate else (cpu / 100) / (rate / 1024)
            note = ("server CPU s/GiB: rm " + fmt(cpu_per_gib("regmirror"), 2) + ", nginx " +
                    fmt(cpu_per_gib("nginx"), 2) + ", dist " + fmt(cpu_per_gib("distribution"), 2) +
                    (f"; rm errors {errs}" if errs else ""))
            row(f"(a) blob {name} GET, {c} conn", key, "MiB/s", 0, target, check, note)
    for what, title in (("manifest_digest", "manifest by digest"), ("manifest_tag", "manifest by tag")):
        for c in CONNS:
            key = f"{what}_rps_c{c}"
            target, check = None, None
            if c == 64:
                target = ">= 25x distribution"
                check = ratio_check(key, "distribution", 25.0, f"{what}_errors_c{c}")
            if c == 16 and what == "manifest_digest":
                target = ">= 0.9x nginx (same file)"
                check = ratio_check(key, "nginx", 0.9, f"{what}_errors_c{c}")
            errs = get(f"{what}_errors_c{c}", "regmirror")
            note = f"rm cpu {fmt(get(f'{what}_cpu_c{c}', 'regmirror'))}%" + (f", rm errors {errs}" if errs else "")
            row(f"(b) {title}, {c} conn", key, "req/s", 0, target, check, note)
            row(f"(b) {title}, {c} conn, p99", f"{what}_p99_c{c}", "ms", 2)
    for suffix, where in (("", "loopback upstream"), ("_thr", f"upstream throttled to {args.cold_rate} MiB/s")):
        if fig.get("direct_pull_s" + suffix) is None:
            continue
        rows.append(f"| (c) {where}: direct pull, 1 client | s | {fmt(fig['direct_pull_s' + suffix], 2)} "
                    f"| | | | | | | baseline (median of 3) |")
        rows.append(f"| (c) {where}: direct pull, {args.clients} clients | s | "
                    f"{fmt(fig['direct_pull_many_s' + suffix], 2)} | | | | | | | no cache, for scale |")
        row(f"(c) {where}: cold pull {big.size / MiB:.0f} MiB, {args.clients} clients, wall",
            "cold_wall_s" + suffix, "s", 2, "<= 1.2x one direct pull",
            lambda suffix=suffix: (get("cold_ratio_direct" + suffix, "regmirror") or 99) <= 1.2,
            f"rm {fmt(get('cold_ratio_direct' + suffix, 'regmirror'), 2)}x one direct pull "
            f"({fmt(get('cold_ratio_direct_many' + suffix, 'regmirror'), 2)}x {args.clients} direct), "
            f"distribution {fmt(get('cold_ratio_direct' + suffix, 'distribution'), 2)}x")
        row(f"(c) {where}: upstream GETs of the blob", "cold_upstream_gets" + suffix, "count", 0, "== 1",
            lambda suffix=suffix: get("cold_upstream_gets" + suffix, "regmirror") == 1)
        row(f"(c) {where}: peak RSS during the cold pull", "cold_peak_rss_mib" + suffix, "MiB", 0)
    row(f"(d) peak RSS, 64 conn x {big.size / MiB:.0f} MiB blob", "rss_peak_mib", "MiB", 1, "<= 64 MiB",
        lambda: None if get("rss_peak_mib", "regmirror") is None else get("rss_peak_mib", "regmirror") <= 64,
        "VmRSS of the process tree, sampled every 50 ms")
    row("(d) VmHWM since start", "rss_hwm_mib", "MiB", 1, note="lifetime peak incl. cold pull")

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [
        f"# regmirror benchmark, {now}",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{platform.system()} {platform.release()}; load average before {fig['load_before'][0]:.2f}, "
        f"after {fig['load_after'][0]:.2f} (the box is shared). wrk -t2 (-t1 at 1 conn), "
        f"{args.short}s runs ({args.long}s for the {big.size / MiB:.0f} MiB blob), --timeout 30s. "
        f"Whole run {fig['elapsed_s']:.0f}s.",
        "",
        "| measure | unit | regmirror | nginx | distribution | rm/nginx | rm/distribution | target | result | notes |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    out = head + rows + ["", "Targets: " + "; ".join(verdicts), ""]
    if any(BASELINE in v for v in cells.values()):
        out += versus_baseline(cells, args)
    if profiles:
        out.append("## regmirror profile (perf record -e cpu-clock, flat, extra runs)")
        out.append("")
        for title, r, prow in profiles:
            out += [f"### {title}: {r.rps:.0f} req/s, {r.mib_s:.0f} MiB/s under perf, "
                    f"regmirror cpu {r.cpu_pct:.0f}%", "",
                    "| % samples | dso | space | symbol |", "|---:|---|---|---|"] + prow + [""]
    return "\n".join(out) + "\n"


BASELINE = "baseline"


def versus_baseline(cells: dict, args) -> List[str]:
    """Every cell measured for both regmirror binaries, side by side (same run, interleaved)."""
    lower_is_better = ("_p99_", "_wall_", "_ratio_", "rss_", "_cpu_", "_errors_")
    out = [f"## regmirror against the baseline binary ({args.baseline}), same run", "",
           "| cell | regmirror | baseline | regmirror / baseline | better is |",
           "|---|---:|---:|---:|---|"]
    for key in sorted(cells):
        new, old = cells[key].get("regmirror"), cells[key].get(BASELINE)
        if new is None or old is None:
            continue
        better = "lower" if any(k in key for k in lower_is_better) else "higher"
        out.append(f"| {key} | {fmt(new, 2)} | {fmt(old, 2)} | {fmt(ratio(new, old), 2)} | {better} |")
    return out + [""]


if __name__ == "__main__":
    sys.exit(main())
