"""kill -9 of regmirror in the middle of a large download: no partial blob is ever kept or served,
tmp leftovers are removed at start, and the next pull completes.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_crash

Upstream: distribution behind a CountingProxy that throttles the layer (so the download takes a
few seconds and the kill lands mid-body), holding the realistic image set: the kills land 5%
into the 200 MiB layer, half way through the 30 MiB layer and at 90% of a 12 MiB layer (one
fresh, uncached layer for each kill point).
"""

import os
import shutil
import threading
import time
import unittest

from harness import image_set
from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, blob_file, files_named,
                        files_under, invalid_committed_blobs, log_tail, mirror_config, need_binary,
                        oci_layout, sha, stream_get, tmpdir)

RATE = 16 * MIB  # upstream bytes/s while a kill is due


@need_binary
class TestCrash(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-crash-it-")
        cls.images = image_set.realistic()
        cls.reg = Registry(preload=cls.images)
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kill_mid_download(self, repo, layer, fraction):
        """GET the (uncached) layer; when the client has ``fraction`` of it, kill -9 the mirror."""
        path = f"/v2/{repo}/blobs/{layer.digest}"
        self.assertFalse(os.path.exists(blob_file(self.rm.data_dir, layer.digest)))
        self.px.throttle(RATE, "/blobs/" + layer.digest)
        reached = threading.Event()
        kill_at = int(layer.size * fraction)
        res = {}

        def on_chunk(n):
            if n >= kill_at:
                reached.set()
                time.sleep(0.05)

        def client():
            res["r"] = stream_get(self.rm.port, path, timeout=60, chunk=64 * 1024, on_chunk=on_chunk)

        t = threading.Thread(target=client)
        t.start()
        ok = reached.wait(60)
        tmp_before = files_under(os.path.join(self.rm.data_dir, "tmp"))
        self.rm.kill9()
        t.join(60)
        self.px.clear_faults()
        self.assertTrue(ok, f"client never reached {fraction:.0%}: {res.get('r')}{log_tail(self.rm)}")
        r = res["r"]
        # the client did not get a complete body (the server died mid-way)
        self.assertFalse(r.complete and r.nbytes == layer.size,
                         f"download finished before the kill; raise the throttle: {r}")
        self.assertLess(r.nbytes, layer.size)
        return tmp_before

    def check_after_crash(self, repo, layer, tmp_before):
        dd = self.rm.data_dir
        hexd = layer.digest.split(":", 1)[1]
        # nothing partial committed
        self.assertFalse(os.path.exists(blob_file(dd, layer.digest)))
        self.assertEqual(files_named(os.path.join(dd, "blobs"), hexd), [])
        self.assertEqual(invalid_committed_blobs(dd), [])
        # the download was in progress in data_dir/tmp when the kill came
        self.assertTrue(tmp_before, "no temp file in data_dir/tmp during the download")
        # restart on the same data dir and port: tmp leftovers are gone once it listens
        self.rm.start()
        left = files_under(os.path.join(dd, "tmp"))
        self.assertEqual(left, [], f"tmp leftovers after restart (before: {tmp_before}){log_tail(self.rm)}")
        self.assertEqual(invalid_committed_blobs(dd), [])
        # the mirror does not claim to have the blob; a new GET returns the full, correct bytes
        before = self.px.count("GET", "/blobs/" + layer.digest)
        r = stream_get(self.rm.port, f"/v2/{repo}/blobs/{layer.digest}", timeout=120, chunk=1 << 20)
        self.assertEqual((r.status, r.error, r.nbytes, r.digest), (200, None, layer.size, layer.digest),
                         f"{r}{log_tail(self.rm)}")
        self.assertEqual(r.headers.get("x-cache"), "MISS")
        self.assertEqual(self.px.count("GET", "/blobs/" + layer.digest), before + 1)
        p = blob_file(dd, layer.digest)
        self.assertTrue(os.path.exists(p))
        self.assertEqual(oci_layout.file_digest(p), layer.digest)
        r = stream_get(self.rm.port, f"/v2/{repo}/blobs/{layer.digest}", timeout=120, chunk=1 << 20)
        self.assertEqual((r.status, r.digest, r.headers.get("x-cache")), (200, layer.digest, "HIT"))

    def test_kill9_at_three_points(self):
        app, multi = self.images.app, self.images.multi
        cases = [("realistic/app", app.layers[2], 0.05),   # early: 200 MiB layer, ~10 MiB in
                 ("realistic/app", app.layers[1], 0.5),    # half way through 30 MiB
                 ("realistic/multi", multi.images["linux/amd64"].layers[1], 0.9)]  # almost done
        for repo, layer, fraction in cases:
            with self.subTest(repo=repo, fraction=fraction):
                self.addCleanup(self.px.clear_faults)
                if not self.rm.running():
                    self.rm.start()
                tmp_before = self.kill_mid_download(repo, layer, fraction)
                self.check_after_crash(repo, layer, tmp_before)

    def test_kill9_while_idle_keeps_cache(self):
        # committed blobs and manifests survive a kill -9 and are served as HITs afterwards
        image = self.images.layers20
        cfg, layer = image.config, image.layers[-1]
        repo = "realistic/layers20"
        st, h, body = self.rm.get(f"/v2/{repo}/blobs/{cfg.digest}")
        self.assertEqual((st, sha(body)), (200, cfg.digest), log_tail(self.rm))
        st, h, body = self.rm.get(f"/v2/{repo}/manifests/{image.digest}", headers=ACCEPT)
        self.assertEqual((st, sha(body)), (200, image.digest), log_tail(self.rm))
        r = stream_get(self.rm.port, f"/v2/{repo}/blobs/{layer.digest}", chunk=1 << 20)
        self.assertEqual((r.status, r.digest), (200, layer.digest), log_tail(self.rm))
        self.rm.kill9()
        self.rm.start()
        self.px.reset()
        st, h, body = self.rm.get(f"/v2/{repo}/blobs/{cfg.digest}")
        self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", cfg.digest))
        st, h, body = self.rm.get(f"/v2/{repo}/manifests/{image.digest}", headers=ACCEPT)
        self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", image.digest))
        r = stream_get(self.rm.port, f"/v2/{repo}/blobs/{layer.digest}", chunk=1 << 20)
        self.assertEqual((r.status, r.digest, r.headers.get("x-cache")), (200, layer.digest, "HIT"))
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])

if __name__ == "__main__":
    unittest.main(verbosity=2)
