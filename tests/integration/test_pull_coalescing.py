"""Concurrent pulls of one uncached 200 MiB layer share one upstream download; misses stream.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_coalescing

Upstream: distribution behind a CountingProxy (which counts the blob GETs), holding the
realistic image set (harness/image_set.py):
  realistic/app:v1    1, 30 and 200 MiB layers (eight clients on the 200 MiB one; a slow and a
                      fast reader on the 30 MiB one)
  realistic/multi:v1  3 and 12 MiB layers per platform (streaming a throttled miss; parallel
                      ranges on an uncached layer)
Bodies are hashed while streaming; nothing keeps a whole layer in memory.
"""

import os
import shutil
import threading
import time
import unittest

from harness import image_set
from pullcommon import (BIN, MIB, CountingProxy, Regmirror, Registry, blob_file, log_tail,
                        mirror_config, need_binary, oci_layout, stream_get, tmpdir)


@need_binary
class TestCoalescing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-coalesce-it-")
        cls.images = image_set.realistic()
        cls.reg = Registry(preload=cls.images)
        cls.layout = cls.images.layout  # the range test compares slices with the original file
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.px.clear_faults)

    def test_eight_concurrent_gets_one_upstream_download(self):
        layer = self.images.app.layers[2]  # 200 MiB
        path = f"/v2/realistic/app/blobs/{layer.digest}"
        self.assertFalse(os.path.exists(blob_file(self.rm.data_dir, layer.digest)))
        # hold the first upstream response back for a moment so all 8 clients are in flight
        # while the blob is still uncached (without coalescing each would go upstream)
        self.px.delay(1.5, "/blobs/" + layer.digest)
        n = 8
        results = [None] * n
        barrier = threading.Barrier(n)

        def client(i):
            barrier.wait()
            results[i] = stream_get(self.rm.port, path, timeout=120, chunk=1 << 20)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        elapsed = time.monotonic() - t0
        self.assertTrue(all(not t.is_alive() for t in threads), "clients still running after 180 s")
        for i, r in enumerate(results):
            self.assertIsNotNone(r, i)
            self.assertEqual(r.status, 200, f"client {i}: {r}{log_tail(self.rm)}")
            self.assertIsNone(r.error, f"client {i}: {r}")
            self.assertEqual(r.content_length, layer.size, f"client {i}")
            self.assertEqual(r.nbytes, layer.size, f"client {i}")
            self.assertEqual(r.digest, layer.digest, f"client {i}")
            self.assertEqual(r.headers.get("docker-content-digest"), layer.digest)
        blob_gets = self.px.requests("GET", "/blobs/" + layer.digest)
        self.assertEqual(len(blob_gets), 1, f"upstream served the blob {len(blob_gets)} times "
                                             f"(elapsed {elapsed:.1f}s){log_tail(self.rm)}")
        self.assertEqual(blob_gets[0].body_bytes, layer.size)
        # all clients were really concurrent: at least one of them saw a MISS (they all arrived
        # within the delay window, before the blob could be complete)
        self.assertIn("MISS", [r.headers.get("x-cache") for r in results])
        # committed once, correct bytes; a later GET is a HIT and does not go upstream
        p = blob_file(self.rm.data_dir, layer.digest)
        self.assertTrue(os.path.exists(p), p)
        self.assertEqual(oci_layout.file_digest(p), layer.digest)
        r = stream_get(self.rm.port, path)
        self.assertEqual((r.status, r.digest, r.headers.get("x-cache")), (200, layer.digest, "HIT"))
        self.assertEqual(self.px.count("GET", "/blobs/" + layer.digest), 1)

    def test_miss_streams_before_download_completes(self):
        # upstream sends the 12 MiB layer at 4 MiB/s (~3 s); the first bytes must reach the client
        # long before that, and the whole body must still be right
        layer = self.images.multi.images["linux/amd64"].layers[1]
        path = f"/v2/realistic/multi/blobs/{layer.digest}"
        self.px.throttle(4 * MIB, "/blobs/" + layer.digest)
        r = stream_get(self.rm.port, path, timeout=60, chunk=16 * 1024)
        self.assertEqual((r.status, r.error, r.digest), (200, None, layer.digest), f"{r}{log_tail(self.rm)}")
        self.assertEqual(r.headers.get("x-cache"), "MISS")
        self.assertGreater(r.elapsed, 2.5, "throttle did not apply")
        self.assertLess(r.ttfb, 1.5, f"first byte after {r.ttfb:.2f}s of {r.elapsed:.2f}s: "
                                     "the miss was not streamed")

    def test_slow_reader_does_not_block_fast_reader(self):
        layer = self.images.app.layers[1]   # 30 MiB: far more than the socket buffers hold
        path = f"/v2/realistic/app/blobs/{layer.digest}"
        self.px.delay(0.5, "/blobs/" + layer.digest)
        slow_got_first = threading.Event()
        release_slow = threading.Event()
        slow = {}

        def on_chunk(n):
            slow_got_first.set()
            release_slow.wait(60)  # stall after the first 64 KiB

        def slow_client():
            slow["r"] = stream_get(self.rm.port, path, timeout=120, chunk=64 * 1024, on_chunk=on_chunk)

        ts = threading.Thread(target=slow_client)
        ts.start()
        try:
            self.assertTrue(slow_got_first.wait(30), "slow client got no bytes" + log_tail(self.rm))
            fast = stream_get(self.rm.port, path, timeout=60, chunk=1 << 20)
        finally:
            release_slow.set()
            ts.join(timeout=120)
        self.assertEqual((fast.status, fast.error, fast.digest), (200, None, layer.digest),
                         f"{fast}{log_tail(self.rm)}")
        self.assertLess(fast.elapsed, 20, f"fast client took {fast.elapsed:.1f}s behind a stalled one")
        r = slow["r"]
        self.assertEqual((r.status, r.error, r.nbytes, r.digest), (200, None, layer.size, layer.digest), r)
        self.assertEqual(self.px.count("GET", "/blobs/" + layer.digest), 1)

    def test_parallel_ranges_on_uncached_layer(self):
        # containerd 2.1+ style: several range requests for one uncached layer at once, the last
        # open-ended, one client closing early; each range gets 206 with the right bytes
        layer = self.images.multi.images["linux/arm64"].layers[1]  # 12 MiB
        path = f"/v2/realistic/multi/blobs/{layer.digest}"
        src = oci_layout.blob_path(self.layout, layer.digest)
        size = layer.size
        q = size // 4
        ranges = [(0, q - 1), (q, 2 * q - 1), (2 * q, 3 * q - 1), (3 * q, None)]
        self.px.delay(0.5, "/blobs/" + layer.digest)

        def expected(lo, hi):
            import hashlib
            h = hashlib.sha256()
            with open(src, "rb") as f:
                f.seek(lo)
                left = hi - lo + 1
                while left:
                    b = f.read(min(left, 1 << 20))
                    h.update(b)
                    left -= len(b)
            return "sha256:" + h.hexdigest()

        class Quit(Exception):
            pass

        res = [None] * (len(ranges) + 1)
        bar = threading.Barrier(len(res))

        def ranged(i, lo, hi):
            bar.wait()
            hdr = {"Range": f"bytes={lo}-" + ("" if hi is None else str(hi))}
            res[i] = stream_get(self.rm.port, path, headers=hdr, timeout=60, chunk=1 << 20)

        def quitter():
            bar.wait()

            def stop(n):
                if n >= MIB:
                    raise Quit()
            try:
                res[-1] = stream_get(self.rm.port, path, timeout=60, chunk=256 * 1024, on_chunk=stop)
            except Quit:
                res[-1] = "quit"

        ts = [threading.Thread(target=ranged, args=(i, lo, hi)) for i, (lo, hi) in enumerate(ranges)]
        ts.append(threading.Thread(target=quitter))
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(res[-1], "quit")
        for i, (lo, hi) in enumerate(ranges):
            hi = size - 1 if hi is None else hi
            r = res[i]
            self.assertIsNotNone(r, i)
            self.assertEqual((r.status, r.error), (206, None), f"range {lo}-{hi}: {r}{log_tail(self.rm)}")
            self.assertEqual(r.headers.get("content-range"), f"bytes {lo}-{hi}/{size}")
            self.assertEqual(r.nbytes, hi - lo + 1)
            self.assertEqual(r.digest, expected(lo, hi), f"range {lo}-{hi}: wrong bytes")
            self.assertNotIn("content-encoding", r.headers)
        # the whole blob is right afterwards, and whatever was committed is valid
        r = stream_get(self.rm.port, path, timeout=60, chunk=1 << 20)
        self.assertEqual((r.status, r.error, r.digest), (200, None, layer.digest), f"{r}{log_tail(self.rm)}")
        p = blob_file(self.rm.data_dir, layer.digest)
        if os.path.exists(p):
            self.assertEqual(oci_layout.file_digest(p), layer.digest)


if __name__ == "__main__":
    unittest.main(verbosity=2)
