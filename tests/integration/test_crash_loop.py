"""Issue 6: kill -9 at random points in 20 large concurrent downloads, restart each time.

Five rounds (bounded) of four concurrent, throttled downloads of fresh 8 MiB layers (20 in
all); regmirror is
killed with SIGKILL at a random moment in each round and restarted on the same data dir.
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

from pullcommon import BIN, CountingProxy, Registry, Regmirror, need_binary, oci_layout, tmpdir

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
            with open(os.path.join(root, name), "rb") as f:
                test.assertEqual(hashlib.sha256(f.read()).hexdigest(), name, "partial or bad blob")
            count += 1
    return count


@need_binary
class CrashLoopTest(unittest.TestCase):
    def test_kill9_during_concurrent_downloads_never_leaves_bad_content(self):
        rng = random.Random(20261127)
        work = tmpdir("rm-crashloop-")
        upstream = Registry()
        self.addCleanup(upstream.close)
        layout = os.path.join(work, "layout")
        image = oci_layout.build_image(layout, "v1", layers=[8 * MIB] * (ROUNDS * PER_ROUND),
                                       seed="crashloop")
        upstream.push_layout(layout, "v1", "library/big")
        proxy = CountingProxy(upstream.url)
        self.addCleanup(proxy.close)
        proxy.throttle(8 * MIB, r"/blobs/")  # each layer takes ~1 s
        mirror = Regmirror(BIN, {"listen": "127.0.0.1:0",
                                 "registries": {"docker.io": {"upstreams": [{"url": proxy.url}]}}})
        self.addCleanup(mirror.close)
        data = mirror.data_dir
        all_layers = [layer.digest for layer in image.layers]
        sizes = {layer.digest: layer.size for layer in image.layers}
        killed_mid_transfer = 0
        for round_no in range(ROUNDS):
            layers = all_layers[round_no * PER_ROUND:(round_no + 1) * PER_ROUND]
            results: list = [None] * PER_ROUND
            threads = [threading.Thread(target=stream_get, args=(
                f"{mirror.url}/v2/library/big/blobs/{digest}", results, i))
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
        for digest in all_layers:
            results = [None]
            stream_get(f"{mirror.url}/v2/library/big/blobs/{digest}", results, 0)
            self.assertEqual(results[0][:2], (200, digest.split(":")[1]))
        self.assertEqual(check_data_dir(self, data) >= PER_ROUND, True)
        verify = subprocess.run([BIN, "cache", "verify", "--admin", mirror.admin_url],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)


if __name__ == "__main__":
    unittest.main()
