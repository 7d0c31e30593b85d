#!/usr/bin/env python3
"""Cost in cache size (issue 16): the same figures at 10,000 and at 1,000,000 cached blobs.

For each size, regmirror_scale_gen writes the cache straight into a fresh data dir (BLOBS blobs,
BLOBS/10 tags, the oldest 1,000 blobs 256 KiB, the rest 2 KiB) and picks a max_cache_bytes
under which one eviction pass must remove exactly those 1,000. Then regmirror serves it (its only
upstream a dead loopback port: nothing here may leave the machine) and we measure:

  start-up to serving   spawn -> first 200 from /v2/ (polled every 5 ms)
  reconcile             the background walk of files vs index (log line event=reconciled)
  eviction pass         the pass after it (event=evicted: blobs removed, seconds, records read)
  cache ls --limit 100  wall time of the CLI, median of 5, and that it printed 100 references
  cache gc              wall time of an operator pass with nothing left to evict
  RSS                   peak VmRSS of the server, sampled every 20 ms from spawn to the end

Run through bench/scale.sh, or directly:
  python3 bench/cache_scale.py --regmirror build/regmirror --gen build/regmirror_scale_gen \\
      --out bench/results/cache_scale.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from harness import proc, skopeo  # noqa: E402
from harness.regmirror import check_loopback_config  # noqa: E402

MiB = 1 << 20


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler:
    def __init__(self, pid: int):
        self.pid, self.peak, self.samples = pid, 0, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            kib = rss_kib(self.pid)
            self.peak = max(self.peak, kib)
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._t.join()


def wait_log(path: str, pattern: str, timeout: float) -> re.Match:
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            for line in f:
                m = rx.search(line)
                if m:
                    return m
        time.sleep(0.1)
    raise TimeoutError(f"no log line matching {pattern!r} within {timeout}s")


def field(line: str, name: str) -> str:
    m = re.search(rf'\b{name}="?([^" ]+)', line)
    return m.group(1) if m else ""


def one_size(args, blobs: int, work: str) -> dict:
    tags = blobs // 10
    data = os.path.join(work, f"data-{blobs}")
    shutil.rmtree(data, ignore_errors=True)
    log(f"generating {blobs} blobs, {tags} tags")
    gen = subprocess.run([args.gen, data, str(blobs), str(tags)], check=True, capture_output=True,
                         text=True, timeout=3600)
    made = json.loads(gen.stdout.strip().splitlines()[-1])
    log(f"generated: {made}")
    port, admin_port = proc.free_port(), proc.free_port()
    cfg = {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{admin_port}",
        "data_dir": data,
        "max_cache_bytes": made["max_cache_bytes"],
        "default_registry": "docker.io",
        "registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}]}},
    }
    check_loopback_config(cfg)
    cfg_path = os.path.join(work, f"config-{blobs}.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(work, f"regmirror-{blobs}.log")
    # Drop the generator's pages from the page cache? No: a mirror restarting on a node finds its
    # index warm or cold alike; both are reported as measured, the cache state noted.
    started = time.monotonic()
    p = proc.ManagedProcess([args.regmirror, "serve", "--config", cfg_path], log_path,
                            env=skopeo.clean_env()).start()
    sampler = Sampler(p.pid)
    fig = {"blobs": made["blobs"], "tags": tags, "bytes": made["bytes"]}
    try:
        url = f"http://127.0.0.1:{port}/v2/"
        proc.wait_until(lambda: proc.http_get(url, timeout=1)[0] == 200, 30, interval=0.005,
                        what="regmirror serving")
        fig["startup_s"] = time.monotonic() - started
        fig["rss_serving_mib"] = rss_kib(p.pid) / 1024
        m = wait_log(log_path, r"event=reconciled\b.*", 1800)
        fig["reconcile_s"] = float(field(m.group(0), "seconds"))
        fig["reconcile_files"] = int(field(m.group(0), "files"))
        m = wait_log(log_path, r"event=evicted\b.*", 600)
        line = m.group(0)
        fig["evict_blobs"] = int(field(line, "blobs"))
        fig["evict_s"] = float(field(line, "seconds"))
        fig["evict_records_read"] = int(field(line, "records_read"))
        admin = f"http://127.0.0.1:{admin_port}"
        walls, rows = [], 0
        for _ in range(5):
            t0 = time.monotonic()
            out = subprocess.run([args.regmirror, "cache", "ls", "--limit", "100", "--admin", admin],
                                 check=True, capture_output=True, text=True, timeout=60)
            walls.append(time.monotonic() - t0)
            rows = sum(1 for l in out.stdout.splitlines() if l.startswith("docker.io/"))
        walls.sort()
        fig["ls100_ms"] = walls[2] * 1000
        fig["ls100_rows"] = rows
        t0 = time.monotonic()
        subprocess.run([args.regmirror, "cache", "gc", "--admin", admin], check=True,
                       capture_output=True, text=True, timeout=600)
        fig["gc_s"] = time.monotonic() - t0
        fig["rss_end_mib"] = rss_kib(p.pid) / 1024
    finally:
        sampler.stop()
        fig["rss_peak_mib"] = sampler.peak / 1024
        p.stop(timeout=10)
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    log(f"{blobs}: {fig}")
    return fig


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def render(small: dict, large: dict, sizes) -> str:
    def ratio(key):
        a, b = small.get(key), large.get(key)
        return f"{b / a:.2f}x" if a and b else ""

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    rows = [
        ("cached blobs / tags", f"{small['blobs']:,} / {small['tags']:,}",
         f"{large['blobs']:,} / {large['tags']:,}", "", "", ""),
        ("start-up to serving", f"{small['startup_s']:.3f} s", f"{large['startup_s']:.3f} s",
         ratio("startup_s"), "< 1 s", verdict(large["startup_s"] < 1)),
        ("reconcile (background, serving meanwhile)", f"{small['reconcile_s']:.2f} s",
         f"{large['reconcile_s']:.2f} s", ratio("reconcile_s"), "", ""),
        ("eviction pass: blobs removed", str(small["evict_blobs"]), str(large["evict_blobs"]),
         "", "1000", verdict(large["evict_blobs"] == 1000 and small["evict_blobs"] == 1000)),
        ("eviction pass: time", f"{small['evict_s'] * 1000:.0f} ms",
         f"{large['evict_s'] * 1000:.0f} ms", ratio("evict_s"), "< 1 s",
         verdict(large["evict_s"] < 1)),
        ("eviction pass: index records read", str(small["evict_records_read"]),
         str(large["evict_records_read"]), ratio("evict_records_read"), "", ""),
        ("cache ls --limit 100 (CLI wall, median of 5)", f"{small['ls100_ms']:.0f} ms",
         f"{large['ls100_ms']:.0f} ms", ratio("ls100_ms"), "< 100 ms",
         verdict(large["ls100_ms"] < 100 and large["ls100_rows"] == 100)),
        ("cache gc, nothing to evict", f"{small['gc_s'] * 1000:.0f} ms",
         f"{large['gc_s'] * 1000:.0f} ms", ratio("gc_s"), "", ""),
        ("RSS when serving / at the end", f"{small['rss_serving_mib']:.1f} / {small['rss_end_mib']:.1f} MiB",
         f"{large['rss_serving_mib']:.1f} / {large['rss_end_mib']:.1f} MiB", "", "", ""),
        ("RSS peak (every 20 ms, whole run)", f"{small['rss_peak_mib']:.1f} MiB",
         f"{large['rss_peak_mib']:.1f} MiB", ratio("rss_peak_mib"), "< 64 MiB",
         verdict(large["rss_peak_mib"] < 64)),
    ]
    load = os.getloadavg()[0]
    out = [f"# cache size scale — {datetime.datetime.now():%Y-%m-%d %H:%M}", "",
           f"Machine: {os.cpu_count()} cores, load {load:.1f}", "",
           f"| measure | {label(sizes[0])} | {label(sizes[1])} | {label(sizes[1])}/{label(sizes[0])} "
           "| target | result |", "|---|---:|---:|---:|---|---|"]
    out += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--regmirror", required=True)
    ap.add_argument("--gen", required=True, help="regmirror_scale_gen")
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=1_000_000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "cache_scale.md"))
    ap.add_argument("--workdir", default="")
    ap.add_argument("--keep", action="store_true", help="keep the generated data dirs")
    args = ap.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="regmirror-scale-")
    try:
        small = one_size(args, args.small, work)
        large = one_size(args, args.large, work)
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = render(small, large, (args.small, args.large))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"small": small, "large": large}, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
