"""Upstream outage and rate limiting: cached tags STALE/HIT, digests HIT, uncached -> clean OCI error.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_outage

One upstream (distribution behind a CountingProxy) and two mirrors in front of it:
  rm_short  tag_ttl_seconds = 1    (tags expire at once: revalidation / STALE paths)
  rm_long   tag_ttl_seconds = 300  (tags stay fresh: HIT without asking upstream)
Images: library/alpine:3.19 (cached by both mirrors in setUpClass via skopeo copy),
library/alpine:3.20 (never pulled by any test: the "uncached" case), library/alpine:moving
(retagged during a test), library/alpine:mv2.
"""

import os
import shutil
import time
import unittest

from pullcommon import (ACCEPT, BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_codes, oci_layout, push_tag, sha, skopeo, tmpdir, wait_upstream_healthy)

TTL = 1


@need_binary
class TestOutage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-outage-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "3.19", layers=[1500, 30000], seed="outage-319")
        cls.other = oci_layout.build_image(lay, "3.20", layers=[1800], seed="outage-320")
        cls.mv1 = oci_layout.build_image(lay, "mv1", layers=[900], seed="outage-mv1")
        cls.mv2 = oci_layout.build_image(lay, "mv2", layers=[950], seed="outage-mv2")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "3.19", "library/alpine")
        cls.reg.push_layout(lay, "3.20", "library/alpine")
        cls.reg.push_layout(lay, "mv1", "library/alpine", dest_tag="moving")
        cls.reg.push_layout(lay, "mv2", "library/alpine", dest_tag="mv2")
        cls.px = CountingProxy(cls.reg.url)
        cls.rm_short = Regmirror(BIN, mirror_config(cls.px.url, ttl=TTL))
        cls.rm_long = Regmirror(BIN, mirror_config(cls.px.url, ttl=300))
        for rm in (cls.rm_short, cls.rm_long):
            skopeo.copy_to_oci(f"docker://{rm.host}/library/alpine:3.19",
                               os.path.join(cls.tmp, f"warm-{rm.port}"), tag="t")
        cls.warmed = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        for o in ("rm_short", "rm_long", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # Cleanups run last-in first-out: faults are cleared, then the mirrors see the
        # upstream back (their circuits close) before the next test starts.
        for rm in (self.rm_short, self.rm_long):
            self.addCleanup(wait_upstream_healthy, rm, "/v2/library/alpine/tags/list")
        self.addCleanup(self.px.up)
        self.addCleanup(self.px.clear_faults)

    def expire_tags(self):
        time.sleep(TTL + 1.1)

    def check_cached_image(self, rm, tag_cache):
        """Tag (HEAD and GET), manifest by digest and every blob from cache, with headers."""
        img = self.img
        st, h, body = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, method="HEAD", timeout=30)
        self.assertEqual(st, 200, log_tail(rm))
        self.assertEqual(h.get("x-cache"), tag_cache)
        self.assertEqual(h.get("docker-content-digest"), img.digest)
        self.assertEqual(h.get("content-type"), oci_layout.MT_MANIFEST)
        self.assertEqual(int(h.get("content-length", -1)), img.manifest.size)
        st, h, body = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, timeout=30)
        self.assertEqual((st, h.get("x-cache"), sha(body)), (200, tag_cache, img.digest), log_tail(rm))
        st, h, body = rm.get(f"/v2/library/alpine/manifests/{img.digest}", headers=ACCEPT, timeout=30)
        self.assertEqual((st, h.get("x-cache"), body), (200, "HIT", img.manifest_bytes))
        for b in [img.config] + img.layers:
            st, h, body = rm.get(f"/v2/library/alpine/blobs/{b.digest}", timeout=30)
            self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", b.digest))
            st, h, _ = rm.get(f"/v2/library/alpine/blobs/{b.digest}", method="HEAD", timeout=30)
            self.assertEqual((st, h.get("x-cache"), int(h.get("content-length", -1))), (200, "HIT", b.size))

    def check_uncached_fails_fast(self, rm, status, code):
        for path in ("/v2/library/alpine/manifests/3.20",
                     f"/v2/library/alpine/manifests/{self.other.digest}",
                     f"/v2/library/alpine/blobs/{self.other.layer_digests[0]}"):
            t = time.monotonic()
            st, h, body = rm.get(path, headers=ACCEPT, timeout=60)
            took = time.monotonic() - t
            self.assertEqual(st, status, f"{path}: {body[:300]!r}{log_tail(rm)}")
            self.assertIn(code, oci_codes(body), f"{path}: {body[:300]!r}")
            self.assertTrue(h.get("content-type", "").startswith("application/json"), h)
            self.assertLess(took, 15, f"{path} took {took:.1f}s")

    # ------------------------------------------------------------------ upstream down
    def _outage(self, mode):
        self.px.down(mode)
        self.expire_tags()
        self.check_cached_image(self.rm_short, "STALE")
        self.check_cached_image(self.rm_long, "HIT")
        self.check_uncached_fails_fast(self.rm_short, 503, "UNAVAILABLE")
        self.check_uncached_fails_fast(self.rm_long, 503, "UNAVAILABLE")

    def test_upstream_refusing_connections(self):
        self._outage("refuse")
        # a real client still pulls the cached image through the (STALE) mirror
        dest = os.path.join(self.tmp, "outage-copy")
        skopeo.copy_to_oci(f"docker://{self.rm_short.host}/library/alpine:3.19", dest, tag="t")
        for d in self.img.all_digests:
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)
        # and an uncached image fails cleanly (no hang)
        t = time.monotonic()
        with self.assertRaises(Exception):
            skopeo.copy_to_oci(f"docker://{self.rm_short.host}/library/alpine:3.20",
                               os.path.join(self.tmp, "outage-copy-2"), tag="t", timeout=60)
        self.assertLess(time.monotonic() - t, 30)

    def test_upstream_accepting_and_hanging_up(self):
        self._outage("close")

    def test_upstream_recovers_after_outage(self):
        self.px.down()
        self.expire_tags()
        st, h, _ = self.rm_short.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual((st, h.get("x-cache")), (200, "STALE"))
        self.px.up()
        # back up: once a probe finds the upstream again (circuit breaker), an uncached tag
        # pulls and the cached tag is revalidated (no longer STALE)
        # (tag mv2, not 3.20: 3.20 must stay uncached for the other tests)
        wait_upstream_healthy(self.rm_short, "/v2/library/alpine/tags/list")
        st, h, body = self.rm_short.get("/v2/library/alpine/manifests/mv2", headers=ACCEPT)
        self.assertEqual((st, sha(body)), (200, self.mv2.digest), log_tail(self.rm_short))
        st, h, _ = self.rm_short.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual(st, 200)
        self.assertNotEqual(h.get("x-cache"), "STALE")
        self.assertEqual(h.get("docker-content-digest"), self.img.digest)

    def test_upstream_hanging_is_bounded(self):
        # upstream accepts and never answers manifests: the mirror's upstream timeout must end
        # it (cached tag -> STALE, uncached -> 503), not hold the client forever.  Both requests
        # run in parallel, so this costs one timeout.
        import threading
        self.px.delay(300, r"/manifests/")
        self.expire_tags()
        out = {}

        def go(name, path):
            t = time.monotonic()
            try:
                out[name] = self.rm_short.get(path, headers=ACCEPT, timeout=120) + (time.monotonic() - t,)
            except Exception as e:  # noqa: BLE001
                out[name] = (None, {}, repr(e).encode(), time.monotonic() - t)

        ts = [threading.Thread(target=go, args=("cached", "/v2/library/alpine/manifests/3.19")),
              threading.Thread(target=go, args=("uncached", "/v2/library/alpine/manifests/3.20"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(150)
        st, h, body, took = out["cached"]
        self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "STALE", self.img.digest), body[:200])
        self.assertLess(took, 45, "cached tag held for the whole upstream hang")
        st, h, body, took = out["uncached"]
        self.assertEqual(st, 503, body[:300])
        self.assertIn("UNAVAILABLE", oci_codes(body))
        self.assertLess(took, 45)

    # ------------------------------------------------------------------ 429
    def test_rate_limited_manifests(self):
        # own mirror: after a 429 the mirror backs off from the upstream (Retry-After), which
        # must not leak into the other tests
        img = self.img
        with Regmirror(BIN, mirror_config(self.px.url, ttl=TTL)) as rm:
            st, h, body = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
            self.assertEqual((st, sha(body)), (200, img.digest))
            st, h, body = rm.get(f"/v2/library/alpine/blobs/{img.config.digest}")
            self.assertEqual((st, sha(body)), (200, img.config.digest))
            self.px.fail_with(429, r"/manifests/", retry_after=30)
            self.expire_tags()
            # cached tag: served STALE instead of passing the 429 on
            st, h, body = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
            self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "STALE", img.digest), log_tail(rm))
            st, h, _ = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, method="HEAD")
            self.assertEqual((st, h.get("x-cache"), h.get("docker-content-digest")), (200, "STALE", img.digest))
            self.assertGreaterEqual(self.px.count(None, "/manifests/3.19"), 1)  # it did ask
            # uncached tag: 429 TOOMANYREQUESTS, an OCI error body
            t = time.monotonic()
            st, h, body = rm.get("/v2/library/alpine/manifests/3.20", headers=ACCEPT)
            self.assertEqual(st, 429, f"{body[:300]!r}{log_tail(rm)}")
            self.assertIn("TOOMANYREQUESTS", oci_codes(body))
            self.assertLess(time.monotonic() - t, 15)
            # blobs are not rate limited here: cached ones are HITs regardless
            st, h, body = rm.get(f"/v2/library/alpine/blobs/{img.config.digest}")
            self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", img.config.digest))

    # ------------------------------------------------------------------ revalidation with HEAD
    def test_expired_tag_revalidated_with_head_only(self):
        st, _, _ = self.rm_short.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual(st, 200)
        self.expire_tags()
        self.px.reset()
        st, h, body = self.rm_short.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual((st, sha(body), h.get("docker-content-digest")), (200, self.img.digest, self.img.digest))
        self.assertIn(h.get("x-cache"), ("HIT", "MISS"))
        reqs = [(r.method, r.target) for r in self.px.requests()]
        self.assertEqual(self.px.count("HEAD", r"^/v2/library/alpine/manifests/3\.19$"), 1, reqs)
        self.assertEqual(self.px.count("GET", "/manifests/"), 0, reqs)
        self.assertEqual(self.px.count("GET", "/blobs/"), 0, reqs)
        # fresh again right after revalidation: no upstream request at all
        self.px.reset()
        st, h, _ = self.rm_short.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, method="HEAD")
        self.assertEqual((st, h.get("x-cache")), (200, "HIT"))
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])

    def test_fresh_tag_not_revalidated(self):
        self.px.reset()
        for method in ("HEAD", "GET"):
            st, h, _ = self.rm_long.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, method=method)
            self.assertEqual((st, h.get("x-cache"), h.get("docker-content-digest")), (200, "HIT", self.img.digest))
        self.assertEqual(self.px.count(), 0)

    def test_moved_tag_fetched_with_get_after_head(self):
        rm = self.rm_short
        st, h, body = rm.get("/v2/library/alpine/manifests/moving", headers=ACCEPT)
        self.assertEqual((st, sha(body)), (200, self.mv1.digest), log_tail(rm))
        # retag upstream: moving -> mv2's manifest
        push_tag(self.reg, "library/alpine", "moving", self.mv2.manifest_bytes, oci_layout.MT_MANIFEST)
        self.expire_tags()
        self.px.reset()
        st, h, body = rm.get("/v2/library/alpine/manifests/moving", headers=ACCEPT)
        self.assertEqual((st, sha(body), h.get("docker-content-digest")), (200, self.mv2.digest, self.mv2.digest),
                         log_tail(rm))
        self.assertNotEqual(h.get("x-cache"), "STALE")
        self.assertEqual(self.px.count("HEAD", "/manifests/moving"), 1,
                         [(r.method, r.target) for r in self.px.requests()])
        # one GET for the new content (by tag or by the new digest), not more
        self.assertEqual(self.px.count("GET", "/manifests/"), 1,
                         [(r.method, r.target) for r in self.px.requests()])
        # the old manifest is still served by digest (immutable)
        st, h, body = rm.get(f"/v2/library/alpine/manifests/{self.mv1.digest}", headers=ACCEPT)
        self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", self.mv1.digest))


if __name__ == "__main__":
    unittest.main(verbosity=2)
