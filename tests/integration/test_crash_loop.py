"""Issue 6: kill -9 at random points in 20 concurrent downloads, restart each time.

Five rounds (bounded) of four concurrent, throttled downloads of fresh layers: the 20 layers of
the realistic set's 20-layer image (64 KiB to ~5 MiB), mixed so each round has small and large
ones, then the 200 MiB layer of its app image alone; regmirror is killed with SIGKILL at a
random moment in each round and restarted on the same data dir.
After every restart tmp/ is empty and every committed blob hashes to its name; at the end
every layer pulls with correct bytes and `regmirror cache verify` finds nothing bad.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import threading
import time
import unittest

from harness import image_set
from pullcommon import BIN, CountingProxy, Registry, Regmirror, need_binary

MIB = 1 << 20
ROUNDS = 5
PER_ROUND = 4


def stream_get(url: str, results: list, index: int) -> None:
    """GET a blob, hashing as it streams; records (status, sha256 hex, bytes) or the error."""
    import http.client
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        h = hashlib.sha256()
        total = 0
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
        results[index] = (resp.status, h.hexdigest(), total)
        conn.close()
    except Exception as e:  # noqa: BLE001 - a killed server cuts the stream
        results[index] = ("error", str(e), 0)


def check_data_dir(test: unittest.TestCase, data: str) -> int:
    test.assertEqual(os.listdir(os.path.join(data, "tmp")), [], "leftover temp files")
    count = 0
    for root, _, files in os.walk(os.path.join(data, "blobs")):
        for name in files:
            h = hashlib.sha256()
            with open(os.path.join(root, name), "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            test.assertEqual(h.hexdigest(), name, "partial or bad blob")
            count += 1
    return count


@need_binary
class CrashLoopTest(unittest.TestCase):
    def test_kill9_during_concurrent_downloads_never_leaves_bad_content(self):
        rng = random.Random(20261127)
        images = image_set.realistic()
        upstream = Registry(preload=images)
        self.addCleanup(upstream.close)
        image = images.layers20
        proxy = CountingProxy(upstream.url)
        self.addCleanup(proxy.close)
        proxy.throttle(4 * MIB, r"/blobs/")  # the largest layers take ~1.3 s
        mirror = Regmirror(BIN, {"listen": "127.0.0.1:0",
                                 "registries": {"docker.io": {"upstreams": [{"url": proxy.url}]}}})
        self.addCleanup(mirror.close)
        data = mirror.data_dir
        # Round r takes layers r, r+5, r+10, r+15: small and large ones side by side.
        all_layers = [image.layers[r + ROUNDS * k].digest
                      for r in range(ROUNDS) for k in range(PER_ROUND)]
        sizes = {layer.digest: layer.size for layer in image.layers}
        big = images.app.layers[2]
        sizes[big.digest] = big.size
        repo = {layer.digest: "realistic/layers20" for layer in image.layers}
        repo[big.digest] = "realistic/app"
        killed_mid_transfer = 0
        for round_no in range(ROUNDS + 1):
            # The last round: the 200 MiB layer, throttled to 64 MiB/s, killed within 0.1-0.9 s.
            layers = (all_layers[round_no * PER_ROUND:(round_no + 1) * PER_ROUND]
                      if round_no < ROUNDS else [big.digest])
            if round_no == ROUNDS:
                proxy.clear_faults()
                proxy.throttle(64 * MIB, r"/blobs/")
            results: list = [None] * len(layers)
            threads = [threading.Thread(target=stream_get, args=(
                f"{mirror.url}/v2/{repo[digest]}/blobs/{digest}", results, i))
                for i, digest in enumerate(layers)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.1, 0.9))
            mirror.kill9()
            for t in threads:
                t.join(timeout=60)
            killed_mid_transfer += sum(
                1 for digest, r in zip(layers, results)
                if r is None or r[0] != 200 or r[2] < sizes[digest])
            for digest, result in zip(layers, results):
                # Whatever a client got before the kill, it never got a complete wrong body.
                if result and result[0] == 200 and result[1] != digest.split(":")[1]:
                    self.assertLess(result[2], sizes[digest],
                                    f"round {round_no}: complete body with wrong bytes")
            mirror.start()
            check_data_dir(self, data)
        self.assertGreater(killed_mid_transfer, 0, "no kill landed during a transfer")
        proxy.clear_faults()
        for digest in all_layers + [big.digest]:
            results = [None]
            stream_get(f"{mirror.url}/v2/{repo[digest]}/blobs/{digest}", results, 0)
            self.assertEqual(results[0][:2], (200, digest.split(":")[1]))
        self.assertEqual(check_data_dir(self, data) >= PER_ROUND, True)
        verify = subprocess.run([BIN, "cache", "verify", "--admin", mirror.admin_url],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)


if __name__ == "__main__":
    unittest.main()
