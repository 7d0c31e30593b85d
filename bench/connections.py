#!/usr/bin/env python3
"""Scale of connections and concurrent misses (issue 16), side by side in one run.

  (e) 500 concurrent cold misses of distinct 1 MiB blobs from an upstream throttled per response
      (nginx limit_rate in front of docker-registry): how many transfers the upstream sees at
      once (all of them, or the configured cap), and manifest-by-digest p99 (wrk) while they run;
  (f) 10,000 idle keep-alive connections: regmirror's RSS with them open, and cached-blob
      throughput (wrk c16) with them against the same run without;
  (g) HTTPS: a cached 3 MiB blob at c16 through regmirror's TLS against nginx serving the same
      file over TLS with the same certificate (userspace TLS on both; no kTLS);

Figures go to --out as Markdown (and JSON next to it). Everything binds 127.0.0.1; every process
is stopped at exit. Run through bench/scale.sh, or directly:
  python3 bench/connections.py --regmirror build/regmirror --out bench/results/connections.md
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import compare  # noqa: E402  (the side-by-side benchmark's servers and wrk driver)
from compare import MiB, NginxServer, RegmirrorServer, ThrottledFront, run_wrk  # noqa: E402
from harness import oci_layout, proc, upstream  # noqa: E402


def write_registry_storage(root: str, repo: str, count: int, size: int) -> List[str]:
    """A distribution storage tree holding ``count`` distinct blobs of ``size`` bytes under
    ``repo``, written directly (what a push leaves on disk: blob data + the repo's layer links).
    Returns the digests."""
    base = os.path.join(root, "docker", "registry", "v2")
    digests = []
    for i in range(count):
        data = hashlib.shake_256(f"scale-blob-{i}".encode()).digest(size)
        hexd = hashlib.sha256(data).hexdigest()
        blob_dir = os.path.join(base, "blobs", "sha256", hexd[:2], hexd)
        os.makedirs(blob_dir, exist_ok=True)
        with open(os.path.join(blob_dir, "data"), "wb") as f:
            f.write(data)
        link_dir = os.path.join(base, "repositories", repo, "_layers", "sha256", hexd)
        os.makedirs(link_dir, exist_ok=True)
        with open(os.path.join(link_dir, "link"), "w") as f:
            f.write("sha256:" + hexd)
        digests.append("sha256:" + hexd)
    return digests


def rss_mib(pid: int) -> float:
    return compare.status_kib(pid, "VmRSS") / 1024


def metric(url: str, name: str) -> Dict[str, float]:
    _, _, body = proc.http_get(url + "/metrics", timeout=10)
    out = {}
    for line in body.decode().splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def concurrent_misses(args, work: str, fig: dict) -> None:
    storage_root = os.path.join(work, "many-registry")
    os.makedirs(os.path.join(storage_root, "storage"), exist_ok=True)
    digests = write_registry_storage(os.path.join(storage_root, "storage"), "bench/many",
                                     args.misses, args.miss_kib * 1024)
    reg = upstream.Registry(workdir=storage_root)
    # Each response at `miss_rate`: a 1 MiB blob takes ~10 s, so all of them overlap.
    front = ThrottledFront(reg.url, 0, os.path.join(work, "miss-front"), rate=args.miss_rate,
                           worker_connections=4 * args.misses)
    layout = os.path.join(work, "miss-layout")
    img = oci_layout.build_image(layout, "v1", layers=[4096], seed="scale-manifest")
    reg.push_layout(layout, "v1", "bench/manifest")
    rm = RegmirrorServer(args.regmirror, front.url, os.path.join(work, "rm-misses"),
                         extra={"limits": {"max_upstream_transfers": args.transfer_cap,
                                           "max_connections": 20000}})
    try:
        manifest_url = f"{rm.url}/v2/bench/manifest/manifests/{img.digest}"
        compare.expect_body(manifest_url, img.digest, img.manifest.size,
                            {"Accept": oci_layout.MT_MANIFEST})
        base = run_wrk(manifest_url, 16, 5, [compare.MANIFEST_ACCEPT], rm)
        peak = {"running": 0.0}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                m = metric(rm.url, "regmirror_upstream_transfers")
                peak["running"] = max(peak["running"], m.get('regmirror_upstream_transfers{state="running"}', 0))
                time.sleep(0.2)

        # curl processes drive the misses (libcurl multi, --parallel; curl caps one process at
        # 300 transfers, so 250 each): 500 Python threads would take more of the two cores than
        # the mirror does and measure the load generator's scheduling, not the mirror.
        pulled = os.path.join(work, "miss-pulled")
        os.makedirs(pulled, exist_ok=True)
        per_curl = 250
        curls = []
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        for first in range(0, len(digests), per_curl):
            urls = os.path.join(work, f"miss-urls-{first}.txt")
            with open(urls, "w") as f:
                for d in digests[first:first + per_curl]:
                    f.write(f'url = "{rm.url}/v2/bench/many/blobs/{d}"\n'
                            f'output = "{os.path.join(pulled, d.split(":")[1])}"\n')
            curls.append(subprocess.Popen(
                ["curl", "--silent", "--parallel", "--parallel-immediate",
                 "--parallel-max", str(per_curl), "--max-time", "300", "--config", urls,
                 "--write-out", "%{http_code} %{time_total}\n"],
                stdout=subprocess.PIPE, text=True))
        time.sleep(3)  # every miss is in flight now (each takes ~10 s)
        during = run_wrk(manifest_url, 16, 5, [compare.MANIFEST_ACCEPT], rm)
        answers = []  # [status, seconds] of each transfer
        for curl in curls:
            out, _ = curl.communicate(timeout=400)
            answers += [line.split() for line in out.splitlines()]
        wall = time.monotonic() - t0
        verified = 0  # a complete pull is a file whose sha256 is its name
        for d in digests:
            path = os.path.join(pulled, d.split(":")[1])
            if os.path.exists(path):
                with open(path, "rb") as f:
                    verified += "sha256:" + hashlib.file_digest(f, "sha256").hexdigest() == d
        stop.set()
        sampler.join()
        fig["misses"] = {
            "count": args.misses, "blob_kib": args.miss_kib, "rate": args.miss_rate,
            "cap": args.transfer_cap, "ok": min(verified, sum(1 for code, _ in answers if code == "200")),
            "wall_s": wall, "slowest_s": max(float(t) for _, t in answers),
            "peak_running_transfers": peak["running"],
            "manifest_p99_ms_idle": base.p99_ms, "manifest_rps_idle": base.rps,
            "manifest_p99_ms_during": during.p99_ms, "manifest_rps_during": during.rps,
            "rm_rss_mib": rm.hwm_mib(),
        }
    finally:
        rm.close()
        front.close()
        reg.close()


def idle_connections(args, work: str, fig: dict) -> None:
    layout = os.path.join(work, "idle-layout")
    img = oci_layout.build_image(layout, "v1", layers=[3 * MiB], seed="scale-idle")
    reg = upstream.Registry()
    reg.push_layout(layout, "v1", "bench/idle")
    rm = RegmirrorServer(args.regmirror, reg.url, os.path.join(work, "rm-idle"),
                         extra={"limits": {"max_connections": 20000}})
    socks: List[socket.socket] = []
    try:
        layer = img.layers[0]
        url = f"{rm.url}/v2/bench/idle/blobs/{layer.digest}"
        compare.expect_body(url, layer.digest, layer.size)
        without = run_wrk(url, 16, args.seconds, (), rm)
        rss_before = rss_mib(rm.pid())
        request = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for _ in range(args.idle):
            s = socket.create_connection(("127.0.0.1", rm.port), timeout=10)
            s.sendall(request)
            s.recv(4096)  # the answer; then the connection stays open, kept alive and idle
            socks.append(s)
        time.sleep(1)
        rss_idle = rss_mib(rm.pid())
        with_idle = run_wrk(url, 16, args.seconds, (), rm)
        alive = sum(1 for s in socks if _still_open(s))
        fig["idle"] = {
            "connections": args.idle, "still_open": alive,
            "rss_mib_before": rss_before, "rss_mib_with_idle": rss_idle,
            "rss_kib_per_connection": (rss_idle - rss_before) * 1024 / max(1, args.idle),
            "hit_mib_s_without": without.mib_s, "hit_mib_s_with": with_idle.mib_s,
            "ratio": with_idle.mib_s / without.mib_s if without.mib_s else None,
        }
    finally:
        for s in socks:
            s.close()
        rm.close()
        reg.close()


def _still_open(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def https(args, work: str, fig: dict) -> None:
    certs = os.path.join(work, "tls")
    os.makedirs(certs)
    cert, key = os.path.join(certs, "tls.crt"), os.path.join(certs, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    layout = os.path.join(work, "tls-layout")
    img = oci_layout.build_image(layout, "v1", layers=[3 * MiB], seed="scale-tls")
    reg = upstream.Registry()
    reg.push_layout(layout, "v1", "bench/tls")
    rm = RegmirrorServer(args.regmirror, reg.url, os.path.join(work, "rm-tls"),
                         extra={"tls": {"cert": cert, "key": key}})
    ng = NginxServer(layout, os.path.join(work, "nginx-tls"), tls=(cert, key))
    try:
        layer = img.layers[0]
        rm_url = f"{rm.url}/v2/bench/tls/blobs/{layer.digest}"
        ng_url = f"{ng.url}/blobs/sha256/{layer.digest.split(':')[1]}"
        # warm regmirror's cache over TLS (curl -k: the cert is self-signed)
        subprocess.run(["curl", "-skf", "-o", "/dev/null", rm_url], check=True, timeout=120)
        rows = []
        for _ in range(args.rounds):
            r = run_wrk(rm_url, 16, args.seconds, (), rm)
            n = run_wrk(ng_url, 16, args.seconds, (), ng)
            rows.append((r.mib_s, n.mib_s, r.cpu_pct, n.cpu_pct))
        rows.sort(key=lambda x: x[0] / x[1])
        mid = rows[len(rows) // 2]
        fig["https"] = {"rm_mib_s": mid[0], "nginx_mib_s": mid[1], "ratio": mid[0] / mid[1],
                        "rm_cpu_pct": mid[2], "nginx_cpu_pct": mid[3],
                        "rounds": [r[0] / r[1] for r in rows]}
        if args.profile and shutil.which("perf"):
            data = os.path.join(work, "tls.perf")
            perf = compare.perf_profile(rm, args.seconds, data)
            run_wrk(rm_url, 16, args.seconds, (), rm)
            perf.wait(timeout=60)
            fig["https"]["profile"] = compare.perf_top(data, 20)
    finally:
        ng.close()
        rm.close()
        reg.close()


def render(fig: dict) -> str:
    out = [f"# connections and concurrent misses — {fig['when']}", "",
           f"Machine: {fig['machine']}", "", "| measure | value | target | result |", "|---|---:|---|---|"]

    def row(label, value, target="", ok=None):
        out.append(f"| {label} | {value} | {target} | {'' if ok is None else ('PASS' if ok else 'FAIL')} |")
    m = fig.get("misses")
    if m:
        row(f"(e) {m['count']} cold misses of {m['blob_kib']} KiB at {m['rate']}/response: complete",
            f"{m['ok']}/{m['count']}", "all", m["ok"] == m["count"])
        row("(e) upstream transfers running at once (peak)", f"{m['peak_running_transfers']:.0f}",
            f"{m['count']} or the cap ({m['cap']})",
            m["peak_running_transfers"] >= min(m["count"], m["cap"]) * 0.95)
        row("(e) wall for all / slowest one", f"{m['wall_s']:.1f} s / {m['slowest_s']:.1f} s")
        row("(e) manifest by digest p99, idle", f"{m['manifest_p99_ms_idle']:.2f} ms")
        row("(e) manifest by digest p99, during the misses", f"{m['manifest_p99_ms_during']:.2f} ms",
            "< 20 ms", m["manifest_p99_ms_during"] < 20)
        row("(e) manifest req/s idle / during", f"{m['manifest_rps_idle']:.0f} / {m['manifest_rps_during']:.0f}")
        row("(e) regmirror peak RSS", f"{m['rm_rss_mib']:.1f} MiB")
    i = fig.get("idle")
    if i:
        row(f"(f) idle keep-alive connections open", f"{i['still_open']}/{i['connections']}")
        row("(f) RSS before / with them", f"{i['rss_mib_before']:.1f} / {i['rss_mib_with_idle']:.1f} MiB",
            "< 128 MiB", i["rss_mib_with_idle"] < 128)
        row("(f) RSS per idle connection", f"{i['rss_kib_per_connection']:.2f} KiB")
        row("(f) 3 MiB hit c16 without / with them", f"{i['hit_mib_s_without']:.0f} / {i['hit_mib_s_with']:.0f} MiB/s",
            ">= 0.9x", (i["ratio"] or 0) >= 0.9)
    h = fig.get("https")
    if h:
        row("(g) HTTPS 3 MiB c16: regmirror / nginx", f"{h['rm_mib_s']:.0f} / {h['nginx_mib_s']:.0f} MiB/s "
            f"= {h['ratio']:.2f}x (rounds {', '.join(f'{r:.2f}' for r in h['rounds'])})",
            ">= 0.9x nginx", h["ratio"] >= 0.9)
        row("(g) server CPU: regmirror / nginx", f"{h['rm_cpu_pct']:.0f}% / {h['nginx_cpu_pct']:.0f}%")
        if h.get("profile"):
            out += ["", "Where regmirror's CPU goes over TLS (perf, cpu-clock, flat):", "",
                    "| % | dso | space | symbol |", "|---:|---|---|---|"] + h["profile"]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regmirror", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--misses", type=int, default=500)
    ap.add_argument("--miss-kib", type=int, default=1024)
    ap.add_argument("--miss-rate", default="100k", help="nginx limit_rate per upstream response")
    ap.add_argument("--transfer-cap", type=int, default=512, help="limits.max_upstream_transfers")
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=5, help="wrk seconds per run")
    ap.add_argument("--rounds", type=int, default=3, help="TLS rounds (median reported)")
    ap.add_argument("--only", default="misses,idle,https")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 sockets on this side too
    work = args.workdir or tempfile.mkdtemp(prefix="regmirror-scale-")
    fig = {"when": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
           "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"}
    try:
        for part in args.only.split(","):
            {"misses": concurrent_misses, "idle": idle_connections, "https": https}[part](args, work, fig)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    text = render(fig)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(fig, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
