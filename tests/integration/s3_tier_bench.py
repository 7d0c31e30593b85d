"""Cached blob throughput: local disk tier vs the S3 tier (Ceph RGW on loopback) vs a
redirect straight to the bucket. Not a test (ctest runs test_*.py only); prints a table.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 s3_tier_bench.py [MiB] [rounds]

  local   GET from a replica that has the blob on disk (X-Cache HIT, sendfile)
  s3      GET from a fresh replica with an empty disk: streamed from the bucket to the client
          while it is written to the local tier (the first request of each replica)
  direct  GET of the presigned bucket URL (what a client does after a 307 redirect)
Each figure is the median over `rounds`; bytes are hashed while received (nothing buffered).
"""

import hashlib
import http.client
import os
import shutil
import statistics
import sys
import time
from urllib.parse import urlsplit

from pullcommon import BIN, MIB, CountingProxy, Regmirror, Registry, mirror_config, oci_layout, stream_get, tmpdir
from ceph_rgw import CephRgw
from harness.proc import http_get
from test_s3_replicas import BUCKET, s3_config


def timed_get(url):
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    t0 = time.monotonic()
    conn.request("GET", u.path + ("?" + u.query if u.query else ""))
    resp = conn.getresponse()
    h, n = hashlib.sha256(), 0
    while True:
        b = resp.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    return time.monotonic() - t0, n, "sha256:" + h.hexdigest(), resp.status


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 128
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    tmp = tmpdir("rm-s3-bench-")
    rgw = CephRgw(os.path.join(tmp, "rgw"), memstore_bytes=(size_mib * 4 + 512) << 20).start()
    reg = px = None
    replicas = []
    try:
        rgw.create_bucket(BUCKET)
        lay = os.path.join(tmp, "layout")
        img = oci_layout.build_image(lay, "bench", layers=[size_mib * MIB], seed="s3-bench", compress=False)
        layer = img.layers[0]
        reg = Registry()
        reg.push_layout(lay, "bench", "library/bench", dest_tag="v1")
        px = CountingProxy(reg.url)

        def replica(**extra):
            cfg = mirror_config(px.url, storage=s3_config(rgw, "bench/", tmpdir("rm-s3-keys-"), **extra))
            rm = Regmirror(BIN, cfg)
            replicas.append(rm)
            return rm

        path = f"/v2/library/bench/blobs/{layer.digest}"
        a = replica(redirect_blobs=False)
        r = stream_get(a.port, path, timeout=300, chunk=1 << 20)  # cold: fills disk + bucket
        assert (r.status, r.digest) == (200, layer.digest), r
        results = {"local": [], "s3": [], "direct": []}
        for _ in range(rounds):
            s, n, d, st = timed_get(f"{a.url}{path}")
            assert (st, d) == (200, layer.digest)
            results["local"].append(n / s / MIB)
        for _ in range(rounds):
            b = replica()
            s, n, d, st = timed_get(f"{b.url}{path}")
            assert (st, d) == (200, layer.digest)
            results["s3"].append(n / s / MIB)
            b.close()
        redirecting = replica(redirect_blobs=True)
        status, headers, _ = http_get(f"{redirecting.url}{path}")
        assert status == 307, status
        for _ in range(rounds):
            s, n, d, st = timed_get(headers["location"])
            assert (st, d) == (200, layer.digest)
            results["direct"].append(n / s / MIB)
        print(f"\ncached blob throughput, {size_mib} MiB layer, median of {rounds} (MiB/s), loopback, "
              f"{os.cpu_count()} cores shared with RGW:")
        for k, v in results.items():
            print(f"  {k:7s} {statistics.median(v):8.1f}   ({', '.join(f'{x:.0f}' for x in v)})")
        print(f"upstream blob GETs during the whole run: {px.count('GET', '/blobs/')} (the cold fill)")
    finally:
        for rm in replicas:
            rm.close()
        for o in (px, reg):
            if o:
                o.close()
        rgw.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
