"""Issue 4: regmirror keeps serving at Docker Hub's pull limit.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_dockerhub_ratelimit

Upstream: tests/fakes/docker_hub.py in front of docker-registry, regmirror anonymous with
tag_ttl_seconds 1.
  * 429: the fake allows 2 GET manifests (``limit_after=2``) and then answers 429 with
    Retry-After for a 10 s window (HEAD keeps working, as on Docker Hub).  Cached tags must still
    pull (a tag that changed upstream is served STALE with the old digest), uncached ones get
    429 TOOMANYREQUESTS + Retry-After, and the fake must see no GET manifest until the window
    ends; afterwards pulls go upstream again.
  * min_remaining 5: the fake's anonymous limit is 10; once it reports remaining 4, expired
    tags are served STALE without any upstream request, never-seen tags are still fetched.
"""

import os
import shutil
import time
import unittest

from harness import skopeo
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from test_dockerhub_fake import (ACCEPT, ANONYMOUS, BIN, HubSetup, Regmirror, hub_config, metric_value,
                                 oci_codes, proc, scrape, sha)

WINDOW = 10.0
TTL_SLEEP = 1.1


def log_tail(rm, n=3000):
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


class _Base(unittest.TestCase):
    rm = None
    s = None

    @classmethod
    def start(cls, cfg):
        try:
            return Regmirror(BIN, cfg)
        except BaseException:
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.rm is not None:
            cls.rm.close()
        if cls.s is not None:
            cls.s.close()

    def manifest(self, repo, ref, method="GET"):
        st, h, body = self.rm.get(f"/v2/{repo}/manifests/{ref}", headers=ACCEPT, method=method)
        return st, h, body

    def ok_manifest(self, repo, ref, method="GET"):
        st, h, body = self.manifest(repo, ref, method)
        self.assertEqual(st, 200, f"{method} {repo}:{ref} -> {st} {body[:300]!r}{log_tail(self.rm)}")
        if method == "GET":
            self.assertEqual(sha(body), h.get("docker-content-digest"))
        return h.get("docker-content-digest"), h.get("x-cache")

    def copy(self, repo, tag, name):
        dest = os.path.join(self.s.tmp, name)
        shutil.rmtree(dest, ignore_errors=True)
        try:
            skopeo.copy_to_oci(f"docker://{self.rm.host}/{repo}:{tag}", dest, tag="t")
        except proc.CommandError as e:
            raise AssertionError(f"skopeo copy {repo}:{tag} failed: {e}{log_tail(self.rm)}")
        import json
        with open(os.path.join(dest, "index.json")) as f:
            return json.load(f)["manifests"][0]["digest"]

    def manifest_requests_for(self, repo, tag):
        return [r for r in self.hub.records("manifests") if r.path == f"/v2/{repo}/manifests/{tag}"]


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestUpstream429(_Base):
    @classmethod
    def setUpClass(cls):
        cls.s = HubSetup([("library/app", "t1", "rl-t1", (1500, 9000)),
                          ("library/app", "t2", "rl-t2", (1400,)),
                          ("library/app", "t3", "rl-t3", (1300,)),
                          ("library/app", "t4", "rl-t4", (1200,))],
                         anonymous_limit=100, limit_after=2, window_seconds=WINDOW)
        cls.hub = cls.s.hub
        cls.rm = cls.start(hub_config(cls.hub.url, ttl=1))

    def test_429_serves_cached_stale_refuses_uncached_and_stops_gets_until_window_passes(self):
        repo = "library/app"
        t1_old = self.s.images[(repo, "t1")]
        t2 = self.s.images[(repo, "t2")]
        t3 = self.s.images[(repo, "t3")]
        # 1. cache t1 and t2 (manifests and blobs): the 2 GETs the fake allows
        self.assertEqual(self.copy(repo, "t1", "t1-a"), t1_old.digest)
        self.assertEqual(self.copy(repo, "t2", "t2-a"), t2.digest)
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 2, f"{self.hub.records('manifests')}")
        # t1 changes upstream: a revalidation would need a GET, which the limit forbids
        t1_new = self.s.push(repo, "t1", "rl-t1-new", (1550,))
        time.sleep(TTL_SLEEP)

        # 2. an uncached tag: the upstream answers 429 -> client gets 429 TOOMANYREQUESTS
        st, h, body = self.manifest(repo, "t3")
        self.assertEqual(st, 429, f"uncached tag at the limit: {body[:300]!r}{log_tail(self.rm)}")
        self.assertEqual(oci_codes(body), ["TOOMANYREQUESTS"], body[:300])
        self.assertIn("retry-after", h, "429 without Retry-After")
        self.assertRegex(h["retry-after"], r"^\d+$")
        self.assertTrue(1 <= int(h["retry-after"]) <= WINDOW, h["retry-after"])
        self.assertEqual(self.hub.manifest_429s[ANONYMOUS], 1)
        window_end = self.hub.blocked_until(ANONYMOUS)
        self.assertIsNotNone(window_end)
        gets_at_429 = self.hub.total_manifest_gets()
        first_429 = max(r.time for r in self.hub.records("manifests", "GET") if r.status == 429)

        # 3. during the window: cached tags pull, uncached are refused, no GET goes upstream
        digest, cache = self.ok_manifest(repo, "t1")
        self.assertEqual((digest, cache), (t1_old.digest, "STALE"),
                         "a cached tag whose revalidation needs a GET must be served STALE")
        self.assertEqual(self.copy(repo, "t1", "t1-b"), t1_old.digest, "skopeo pull of a cached tag")
        digest, cache = self.ok_manifest(repo, "t2")
        self.assertEqual(digest, t2.digest)
        self.assertIn(cache, ("HIT", "STALE"))
        st, h, body = self.manifest(repo, "t4")
        self.assertEqual((st, oci_codes(body)), (429, ["TOOMANYREQUESTS"]), log_tail(self.rm))
        retry = int(h.get("retry-after", "-1"))
        left = window_end - time.monotonic()
        self.assertTrue(1 <= retry <= int(left) + 2,
                        f"Retry-After {retry} must be the remaining backoff (~{left:.1f}s left)")
        if containerd_available() is None:
            hosts = os.path.join(self.s.tmp, "hosts")
            write_hosts_toml(hosts, "docker.io", self.rm.url)
            with Containerd() as ctrd:
                r = ctrd.pull("docker.io/library/app:t4", hosts, check=False, timeout=60)
                self.assertNotEqual(r.returncode, 0, "containerd pulled an image the upstream refused")
        loops = 0
        while time.monotonic() < window_end - 0.7 and loops < 20:
            loops += 1
            st, h, body = self.manifest(repo, "t3")
            self.assertEqual((st, oci_codes(body)), (429, ["TOOMANYREQUESTS"]), f"loop {loops}")
            self.assertEqual(self.ok_manifest(repo, "t1")[0], t1_old.digest)
            time.sleep(0.3)
        self.assertLess(time.monotonic(), window_end, "test too slow: the window already passed")
        during = [(r.path.rsplit("/", 1)[1], r.status) for r in self.hub.records("manifests", "GET")
                  if r.time > first_429 and r.principal]
        self.assertEqual(self.hub.total_manifest_gets(), gets_at_429,
                         f"regmirror sent {len(during)} GET manifests during the Retry-After window "
                         f"(tag, status): {during}")

        # 4. after the window: pulls go upstream again
        time.sleep(max(0.0, window_end - time.monotonic()) + 1.0)
        digest, cache = self.ok_manifest(repo, "t3")
        self.assertEqual(digest, t3.digest)
        self.assertEqual(self.hub.total_manifest_gets(), gets_at_429 + 1)
        deadline = time.monotonic() + 5
        while True:  # t1's next revalidation (HEAD: new digest) fetches the new manifest
            digest, cache = self.ok_manifest(repo, "t1")
            if digest == t1_new.digest or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.assertEqual(digest, t1_new.digest, "after the window a changed tag must be refreshed")
        self.assertNotEqual(cache, "STALE")
        self.assertEqual(self.hub.total_manifest_gets(), gets_at_429 + 2)


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestMinRemaining(_Base):
    @classmethod
    def setUpClass(cls):
        specs = [("library/min", f"t{i}", f"minrem-{i}", (500 + i,)) for i in range(1, 8)]
        cls.s = HubSetup(specs, anonymous_limit=10, window_seconds=60)
        cls.hub = cls.s.hub
        cls.rm = cls.start(hub_config(cls.hub.url, ttl=1, min_remaining=5))

    def gauge_remaining(self):
        _, _, samples = scrape(self.rm)
        return metric_value(samples, "regmirror_upstream_ratelimit_remaining",
                            registry="docker.io", upstream=self.hub.url)

    def test_below_min_remaining_tags_are_served_stale_but_new_tags_are_fetched(self):
        repo = "library/min"
        img = {t: self.s.images[(repo, t)] for t in (f"t{i}" for i in range(1, 8))}
        # remaining 10 -> 8: above min_remaining, expired tags are revalidated upstream
        for t in ("t1", "t2"):
            self.assertEqual(self.ok_manifest(repo, t)[0], img[t].digest)
        self.assertEqual(self.hub.remaining(ANONYMOUS), 8)
        time.sleep(TTL_SLEEP)
        n = len(self.manifest_requests_for(repo, "t1"))
        digest, cache = self.ok_manifest(repo, "t1")
        self.assertEqual(digest, img["t1"].digest)
        self.assertNotEqual(cache, "STALE", "remaining 8 >= min_remaining 5: must revalidate")
        self.assertGreater(len(self.manifest_requests_for(repo, "t1")), n,
                           "an expired tag above min_remaining was not revalidated upstream")
        # remaining 8 -> 4: below min_remaining
        for t in ("t3", "t4", "t5", "t6"):
            self.assertEqual(self.ok_manifest(repo, t)[0], img[t].digest)
        self.assertEqual(self.hub.remaining(ANONYMOUS), 4)
        self.assertEqual(self.gauge_remaining(), 4.0)
        t2_new = self.s.push(repo, "t2", "minrem-2-new", (777,))
        time.sleep(TTL_SLEEP)
        before = len(self.hub.records("manifests"))
        for t, old in (("t1", img["t1"]), ("t2", img["t2"])):
            digest, cache = self.ok_manifest(repo, t)
            self.assertEqual((digest, cache), (old.digest, "STALE"),
                             f"{t}: below min_remaining an expired tag is served STALE")
            self.assertEqual(self.ok_manifest(repo, t, "HEAD"), (old.digest, "STALE"))
        self.assertNotEqual(t2_new.digest, img["t2"].digest)
        self.assertEqual(self.copy(repo, "t2", "t2-stale"), img["t2"].digest)
        self.assertEqual(self.hub.records("manifests")[before:], [],
                         "below min_remaining regmirror must not revalidate tags upstream")
        # a tag never seen is still fetched (that is what the reserve is for)
        digest, cache = self.ok_manifest(repo, "t7")
        self.assertEqual(digest, img["t7"].digest)
        self.assertEqual(cache, "MISS")
        self.assertEqual(self.hub.remaining(ANONYMOUS), 3)
        self.assertEqual(self.gauge_remaining(), 3.0)


if __name__ == "__main__":
    unittest.main()
