"""An upstream that sends wrong bytes for a digest: the client gets an error, nothing is cached,
the next request tries again.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_integrity

Upstream: distribution behind a CountingProxy whose faults produce the wrong bytes:
corrupt_blob (same length, every byte flipped), cut_after (short body), respond (a manifest
body that does not hash to the requested digest).  Image library/integ:v1 has a small gzip
layer, a 4 MiB uncompressed layer (the mirror has streamed most of it before it can know the
digest is wrong) and a 300 KiB layer.
"""

import json
import os
import shutil
import unittest

from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, blob_file, files_named,
                        files_under, invalid_committed_blobs, log_tail, mirror_config, need_binary,
                        oci_codes, oci_layout, proc, sha, stream_get, tmpdir, wait_upstream_healthy)


@need_binary
class TestIntegrity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-integrity-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "v1", layers=[3000, 4 * MIB, 300 * 1024], seed="integrity",
                                         compress=None)
        cls.other = oci_layout.build_image(lay, "v2", layers=[1200], seed="integrity-v2")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "v1", "library/integ")
        cls.reg.push_layout(lay, "v2", "library/integ")
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

    # ------------------------------------------------------------------ helpers
    def assert_client_error(self, r, digest, what):
        """The client must never get a complete 200 body whose sha256 != digest."""
        if r.complete and r.status == 200:
            self.assertEqual(r.digest, digest,
                             f"{what}: client received a complete body with the WRONG digest: {r}"
                             f"{log_tail(self.rm)}")
            self.fail(f"{what}: client received a complete, correct body although upstream bytes "
                      f"were bad (?) {r}")
        # else: error status, short body or cut connection: all acceptable

    def assert_not_cached(self, digest):
        dd = self.rm.data_dir
        hexd = digest.split(":", 1)[1]
        self.assertFalse(os.path.exists(blob_file(dd, digest)), "bad blob was committed")
        self.assertEqual(files_named(os.path.join(dd, "blobs"), hexd), [])
        tmp = os.path.join(dd, "tmp")
        # the temp file is removed when the download is abandoned (allow a moment for cleanup)
        try:
            proc.wait_until(lambda: not files_under(tmp), 5, what="data_dir/tmp empty")
        except TimeoutError:
            self.fail(f"leftovers in {tmp}: {files_under(tmp)}{log_tail(self.rm)}")
        self.assertEqual(invalid_committed_blobs(dd), [])

    def blob_roundtrip_after_fault(self, layer, fault, what):
        path = f"/v2/library/integ/blobs/{layer.digest}"
        rx = "/blobs/" + layer.digest
        self.px.reset()
        fault()
        for attempt in (1, 2):  # nothing cached: the second request goes upstream again
            r = stream_get(self.rm.port, path, timeout=60)
            self.assert_client_error(r, layer.digest, f"{what} attempt {attempt}")
            self.assertEqual(self.px.count("GET", rx), attempt, f"{what}: upstream GETs")
            self.assert_not_cached(layer.digest)
            # the mirror still answers (HEAD of a cached blob, plain /v2/)
            self.assertEqual(self.rm.get("/v2/")[0], 200)
        self.px.clear_faults()
        r = stream_get(self.rm.port, path, timeout=60)
        self.assertEqual((r.status, r.error, r.nbytes, r.digest), (200, None, layer.size, layer.digest),
                         f"{what}: after clear_faults {r}{log_tail(self.rm)}")
        self.assertEqual(r.headers.get("x-cache"), "MISS")
        self.assertEqual(self.px.count("GET", rx), 3)
        p = blob_file(self.rm.data_dir, layer.digest)
        self.assertTrue(os.path.exists(p), f"{what}: good blob was not cached")
        self.assertEqual(oci_layout.file_digest(p), layer.digest)
        r = stream_get(self.rm.port, path)
        self.assertEqual((r.status, r.digest, r.headers.get("x-cache")), (200, layer.digest, "HIT"))
        self.assertEqual(self.px.count("GET", rx), 3)

    # ------------------------------------------------------------------ blobs
    def test_corrupt_small_blob(self):
        layer = self.img.layers[0]
        self.blob_roundtrip_after_fault(layer, lambda: self.px.corrupt_blob(layer.digest), "corrupt 3 KB")

    def test_corrupt_large_blob_streamed(self):
        layer = self.img.layers[1]
        self.assertGreaterEqual(layer.size, 4 * MIB)
        self.blob_roundtrip_after_fault(layer, lambda: self.px.corrupt_blob(layer.digest), "corrupt 4 MiB")

    def test_short_upstream_body_is_resumed_from_the_byte_reached(self):
        # Every upstream answer is cut after 100 KiB: the mirror continues each time with a
        # closed Range request from the byte reached, and the client gets every byte right.
        layer = self.img.layers[2]
        path = f"/v2/library/integ/blobs/{layer.digest}"
        rx = "/blobs/" + layer.digest
        self.px.reset()
        self.px.cut_after(100 * 1024, rx)
        r = stream_get(self.rm.port, path, timeout=60)
        self.assertEqual((r.status, r.error, r.nbytes, r.digest), (200, None, layer.size, layer.digest),
                         f"{r}{log_tail(self.rm)}")
        gets = self.px.requests("GET", rx)
        self.assertEqual(len(gets), -(-layer.size // (100 * 1024)), [g.headers.get("range") for g in gets])
        self.assertNotIn("range", gets[0].headers)
        for i, g in enumerate(gets[1:], 1):
            self.assertEqual(g.headers.get("range"), f"bytes={i * 100 * 1024}-{layer.size - 1}")
        self.assertLessEqual(sum(g.body_bytes for g in gets), layer.size)
        self.rm.wait_log(rf"event=blob_cached\b.*{layer.digest}")
        self.assertEqual(oci_layout.file_digest(blob_file(self.rm.data_dir, layer.digest)), layer.digest)
        self.assertIn("event=blob_transfer_resumed", self.rm.logs())

    def test_upstream_cutting_before_any_byte_fails_cleanly(self):
        # No progress at all (every answer cut after its head): bounded retries, then a short
        # body for the client, nothing cached, and the next request starts afresh.
        layer = self.img.layers[0]
        with Regmirror(BIN, mirror_config(self.px.url)) as rm:
            rx = "/blobs/" + layer.digest
            self.px.reset()
            self.px.cut_after(0, rx)
            r = stream_get(rm.port, f"/v2/library/integ/blobs/{layer.digest}", timeout=60)
            self.assertFalse(r.complete and r.digest == layer.digest, r)
            rm.wait_log(rf"event=blob_download_failed\b.*{layer.digest}")
            self.assertFalse(os.path.exists(blob_file(rm.data_dir, layer.digest)))
            self.assertLessEqual(self.px.count("GET", rx), 6)
            self.px.clear_faults()
            wait_upstream_healthy(rm, "/v2/library/integ/tags/list")  # its circuit opened
            r = stream_get(rm.port, f"/v2/library/integ/blobs/{layer.digest}", timeout=60)
            self.assertEqual((r.status, r.digest), (200, layer.digest), f"{r}{log_tail(rm)}")

    def test_corrupt_config_blob(self):
        cfg = self.img.config
        self.blob_roundtrip_after_fault(cfg, lambda: self.px.corrupt_blob(cfg.digest), "corrupt config")

    # ------------------------------------------------------------------ manifests by digest
    def test_manifest_by_digest_with_wrong_bytes(self):
        img = self.other
        path = f"/v2/library/integ/manifests/{img.digest}"
        bad = json.dumps(dict(json.loads(img.manifest_bytes), annotations={"x": "tampered"})).encode()
        self.assertNotEqual(sha(bad), img.digest)
        self.px.respond(200, "/manifests/" + img.digest, body=bad,
                        headers={"Content-Type": oci_layout.MT_MANIFEST, "Docker-Content-Digest": img.digest})
        for attempt in (1, 2):
            st, h, body = self.rm.get(path, headers=ACCEPT)
            self.assertNotEqual(body, bad, "tampered manifest passed to the client")
            self.assertEqual(st, 502, f"attempt {attempt}: {body[:300]!r}{log_tail(self.rm)}")
            self.assertIn("UPSTREAM_INVALID", oci_codes(body), body[:300])
            self.assertEqual(self.px.count(None, "/manifests/" + img.digest), attempt)
        st, h, _ = self.rm.get(path, headers=ACCEPT, method="HEAD")
        self.assertNotEqual(st, 200, "HEAD of a manifest that failed verification says 200")
        self.assertEqual(self.px.count(None, "/manifests/" + img.digest), 3)  # asked again
        self.px.clear_faults()
        self.px.reset()
        st, h, body = self.rm.get(path, headers=ACCEPT)
        self.assertEqual((st, body, h.get("x-cache")), (200, img.manifest_bytes, "MISS"), log_tail(self.rm))
        self.assertGreaterEqual(self.px.count(None, "/manifests/"), 1)
        st, h, body = self.rm.get(path, headers=ACCEPT)
        self.assertEqual((st, body, h.get("x-cache")), (200, img.manifest_bytes, "HIT"))

    def test_concurrent_clients_of_a_corrupt_blob_all_fail(self):
        import threading
        layer = self.img.layers[1]
        # distinct repo path, same digest: make sure the blob is not cached yet by using a
        # fresh mirror (the other tests may already have cached this layer)
        with Regmirror(BIN, mirror_config(self.px.url)) as rm:
            self.px.corrupt_blob(layer.digest)
            self.px.delay(0.5, "/blobs/" + layer.digest)
            res = [None] * 4
            bar = threading.Barrier(4)

            def go(i):
                bar.wait()
                res[i] = stream_get(rm.port, f"/v2/library/integ/blobs/{layer.digest}", timeout=60)

            ts = [threading.Thread(target=go, args=(i,)) for i in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(90)
            for i, r in enumerate(res):
                self.assertIsNotNone(r)
                if r.complete and r.status == 200:
                    self.assertEqual(r.digest, layer.digest,
                                     f"client {i} got a complete body with the wrong digest: {r}"
                                     f"\n{rm.logs()[-3000:]}")
                    self.fail(f"client {i} got a complete correct body from corrupt upstream bytes")
            self.assertFalse(os.path.exists(blob_file(rm.data_dir, layer.digest)))
            self.assertEqual(invalid_committed_blobs(rm.data_dir), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
