"""Issue 4: regmirror spends the Docker Hub quota well.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_dockerhub_quota

Upstream: tests/fakes/docker_hub.py (anonymous, limit 100) in front of docker-registry; regmirror
with tag_ttl_seconds 1.  "Pulling" a tag 50 times = 10 groups separated by 1.1 s sleeps (each
group starts after the TTL expired), each group: skopeo copy, 2 GETs by tag, a HEAD by tag
(containerd's resolve) and a GET by digest.  The fake counts upstream GET/HEAD manifests.
Bounded: 50 pulls, ~11 s of sleeps per test.
"""

import os
import shutil
import time
import unittest

from harness import skopeo
from test_dockerhub_fake import (ACCEPT, ANONYMOUS, BIN, HubSetup, Regmirror, hub_config, proc, sha)

GROUPS = 10
PER_GROUP = 5
TTL_SLEEP = 1.1


def log_tail(rm, n=3000):
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestDockerHubQuota(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = HubSetup([("library/same", "v1", "quota-same", (1500, 20000)),
                          ("library/moving", "v1", "quota-moving-1", (1600,)),
                          ("library/bydigest", "v1", "quota-digest", (1700,))])
        cls.hub = cls.s.hub
        try:
            cls.rm = Regmirror(BIN, hub_config(cls.hub.url, ttl=1))
        except BaseException:
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.rm.close()
        cls.s.close()

    def setUp(self):
        self.hub.reset_counters()

    def manifest(self, repo, ref, method="GET"):
        st, h, body = self.rm.get(f"/v2/{repo}/manifests/{ref}", headers=ACCEPT, method=method)
        self.assertEqual(st, 200, f"{method} {repo}:{ref} -> {st} {body[:300]!r}{log_tail(self.rm)}")
        self.assertIn("docker-content-digest", h)
        if method == "GET":
            self.assertEqual(sha(body), h["docker-content-digest"], "body does not match its digest")
        return h["docker-content-digest"], h.get("x-cache")

    def skopeo_digest(self, repo, tag, name):
        dest = os.path.join(self.s.tmp, name)
        shutil.rmtree(dest, ignore_errors=True)
        try:
            skopeo.copy_to_oci(f"docker://{self.rm.host}/{repo}:{tag}", dest, tag="t")
        except proc.CommandError as e:
            raise AssertionError(f"skopeo copy {repo}:{tag} failed: {e}{log_tail(self.rm)}")
        import json
        with open(os.path.join(dest, "index.json")) as f:
            return json.load(f)["manifests"][0]["digest"]

    def pull_group(self, repo, tag, g):
        """5 pulls of repo:tag; returns the digests seen and the X-Cache values."""
        digests, caches = [], []
        digests.append(self.skopeo_digest(repo, tag, f"{repo.replace('/', '_')}-{g}"))
        for _ in range(2):
            d, c = self.manifest(repo, tag)
            digests.append(d)
            caches.append(c)
        d, c = self.manifest(repo, tag, "HEAD")
        digests.append(d)
        caches.append(c)
        d2, c2 = self.manifest(repo, d)  # by digest, as containerd does after a HEAD
        self.assertEqual(d2, d)
        digests.append(d2)
        caches.append(c2)
        return digests, caches

    def test_same_digest_50_pulls_across_10_ttl_expiries_cost_no_get(self):
        repo, tag = "library/same", "v1"
        img = self.s.images[(repo, tag)]
        # warm the cache (manifest and blobs): the one GET this tag ever needs
        self.assertEqual(self.skopeo_digest(repo, tag, "same-warm"), img.digest)
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 1, f"{self.hub.requests}")
        self.hub.reset_counters()
        pulls = 0
        for g in range(GROUPS):
            time.sleep(TTL_SLEEP)
            digests, caches = self.pull_group(repo, tag, g)
            pulls += len(digests)
            self.assertEqual(set(digests), {img.digest}, f"group {g}")
            self.assertNotIn("STALE", caches, f"group {g}: healthy upstream, nothing may be STALE")
        self.assertEqual(pulls, GROUPS * PER_GROUP)
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 0,
                         f"{pulls} pulls of an unchanged tag must cost 0 upstream GET manifests; "
                         f"GETs: {[r for r in self.hub.records('manifests', 'GET')]}")
        heads = self.hub.manifest_heads[ANONYMOUS]
        self.assertGreaterEqual(heads, GROUPS, "each TTL expiry must be revalidated with a HEAD")
        self.assertLessEqual(heads, pulls)
        self.assertEqual(self.hub.blob_requests["GET"], 0, "cached blobs went upstream again")

    def test_changed_digest_costs_exactly_one_get(self):
        repo, tag = "library/moving", "v1"
        old = self.s.images[(repo, tag)]
        d, _ = self.manifest(repo, tag)
        self.assertEqual(d, old.digest)
        self.hub.reset_counters()
        new = None
        seen_after_change = []
        for g in range(GROUPS):
            if g == GROUPS // 2:
                new = self.s.push(repo, tag, "quota-moving-2", (1650,))
                self.assertNotEqual(new.digest, old.digest)
            time.sleep(TTL_SLEEP)
            digests, caches = self.pull_group(repo, tag, g)
            self.assertNotIn("STALE", caches, f"group {g}")
            if new is None:
                self.assertEqual(set(digests), {old.digest}, f"group {g} before the push")
            else:
                # the TTL expired after the push: the first pull of the group revalidates
                self.assertEqual(set(digests), {new.digest}, f"group {g} after the push")
                seen_after_change += digests
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 1,
                         "a changed tag must cost exactly one upstream GET manifest; GETs: "
                         f"{[r for r in self.hub.records('manifests', 'GET')]}")
        self.assertGreaterEqual(self.hub.manifest_heads[ANONYMOUS], GROUPS)
        self.assertEqual(len(seen_after_change), (GROUPS - GROUPS // 2) * PER_GROUP)

    def test_digest_requests_never_go_upstream_once_cached(self):
        repo = "library/bydigest"
        img = self.s.images[(repo, "v1")]
        d, _ = self.manifest(repo, img.digest)
        self.assertEqual(d, img.digest)
        for b in img.blob_digests:
            st, _, body = self.rm.get(f"/v2/{repo}/blobs/{b}")
            self.assertEqual((st, sha(body)), (200, b))
        self.hub.reset_counters()
        for i in range(20):
            d, cache = self.manifest(repo, img.digest, "HEAD" if i % 2 else "GET")
            self.assertEqual((d, cache), (img.digest, "HIT"), f"request {i}")
            for b in img.blob_digests:
                st, h, body = self.rm.get(f"/v2/{repo}/blobs/{b}")
                self.assertEqual((st, sha(body), h.get("x-cache")), (200, b, "HIT"))
        self.assertEqual(self.hub.requests, [], "cached digests must never go upstream")


if __name__ == "__main__":
    unittest.main()
