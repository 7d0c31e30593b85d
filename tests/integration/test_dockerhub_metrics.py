"""Issue 4: /metrics is valid Prometheus text and agrees with what the upstream saw and sent.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_dockerhub_metrics

Upstream: tests/fakes/docker_hub.py (user "me", authenticated limit 200, 429 after 5 GET
manifests of the account) in front of docker-registry; regmirror with credentials and
tag_ttl_seconds 1.  The test drives regmirror with plain HTTP requests only (no skopeo), so it
knows every X-Cache value regmirror answered and can compare them with
regmirror_cache_requests_total; the fake's own counts are compared with
regmirror_upstream_requests_total, and the ratelimit headers it last sent with the gauges.
"""

import collections
import time
import unittest

from test_dockerhub_fake import (ACCEPT, BIN, HubSetup, Regmirror, hub_config, metric_sum, metric_value,
                                 random_password, scrape, sha, write_secret)

TTL_SLEEP = 1.1


def log_tail(rm, n=3000):
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestDockerHubMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pw = random_password()
        specs = [("library/m", f"t{i}", f"metrics-{i}", (800 + i, 5000 + i)) for i in range(1, 5)]
        cls.s = HubSetup(specs, users={"me": cls.pw}, authenticated_limit=200, limit_after=5,
                         window_seconds=60)
        cls.hub = cls.s.hub
        try:
            cls.rm = Regmirror(BIN, hub_config(cls.hub.url, ttl=1, username="me",
                                               password_file=write_secret(cls.s.tmp, cls.pw)))
        except BaseException:
            cls.s.close()
            raise
        cls.xcache = collections.Counter()  # (manifest|blob, HIT|MISS|STALE) answered with 200

    @classmethod
    def tearDownClass(cls):
        cls.rm.close()
        cls.s.close()

    def req(self, path, method="GET", expect=200):
        st, h, body = self.rm.get(path, headers=ACCEPT, method=method)
        self.assertEqual(st, expect, f"{method} {path} -> {st} {body[:300]!r}{log_tail(self.rm)}")
        if st == 200:
            kind = "blob" if "/blobs/" in path else "manifest"
            self.assertIn(h.get("x-cache"), ("HIT", "MISS", "STALE"), f"{method} {path}: {h}")
            self.xcache[(kind, h["x-cache"])] += 1
            if method == "GET" and kind == "manifest":
                self.assertEqual(sha(body), h.get("docker-content-digest"))
        return h

    def gauges(self, samples):
        lab = {"registry": "docker.io", "upstream": self.hub.url}
        return (metric_value(samples, "regmirror_upstream_ratelimit_limit", **lab),
                metric_value(samples, "regmirror_upstream_ratelimit_remaining", **lab))

    def test_metrics_parse_and_match_the_upstream(self):
        m = "/v2/library/m/manifests/"
        img1 = self.s.images[("library/m", "t1")]
        self.req(m + "t1")                      # MISS  (GET 1)
        self.req(m + "t1")                      # HIT
        self.req(m + "t1", "HEAD")              # HIT
        self.req(m + img1.digest)               # HIT by digest
        for b in img1.blob_digests:
            self.req(f"/v2/library/m/blobs/{b}")  # MISS
            self.req(f"/v2/library/m/blobs/{b}")  # HIT
        self.req(m + "t2")                      # MISS  (GET 2)
        time.sleep(TTL_SLEEP)
        self.req(m + "t1")                      # revalidated with HEAD (unchanged)
        self.req(m + "t3")                      # MISS  (GET 3)

        text, fams, samples = scrape(self.rm)
        self.assertEqual(self.gauges(samples), (200.0, 197.0),
                         f"gauges must show the account's limit and remaining; fake sent "
                         f"{self.hub.last_ratelimit}\n{text}")
        self.assertEqual(self.hub.last_ratelimit, (200, 197))

        self.s.push("library/m", "t1", "metrics-1-new", (999,))
        time.sleep(TTL_SLEEP)
        self.req(m + "absent", expect=404)      # GET 4: an upstream 404 stays a 404
        self.req(m + "t4")                      # MISS  (GET 5, the last one allowed)
        self.req(m + "t1")                      # new digest needs a GET -> 429 -> STALE

        text, fams, samples = scrape(self.rm)
        # -- format: every family named regmirror_*, with HELP and TYPE
        for name, fam in fams.items():
            self.assertTrue(name.startswith("regmirror_"), f"metric {name} lacks the regmirror_ prefix")
            self.assertTrue(fam["help"], f"{name} has no # HELP text")
            self.assertTrue(fam["type"], f"{name} has no # TYPE")
        for name, ftype in (("regmirror_upstream_ratelimit_limit", "gauge"),
                            ("regmirror_upstream_ratelimit_remaining", "gauge"),
                            ("regmirror_upstream_requests_total", "counter"),
                            ("regmirror_cache_requests_total", "counter")):
            self.assertIn(name, fams, f"{name} missing from /metrics:\n{text}")
            self.assertEqual(fams[name]["type"], ftype, name)
        # -- rate-limit gauges: the values the upstream sent last
        limit, remaining = self.hub.last_ratelimit
        self.assertEqual(self.hub.manifest_429s["me"], 1, f"{self.hub.records('manifests')}")
        self.assertEqual(self.gauges(samples), (float(limit), float(remaining)),
                         f"fake last sent ratelimit {limit}/{remaining}\n{text}")
        self.assertEqual(remaining, 0)
        # -- upstream requests: regmirror's count of GET/HEAD manifests is what the fake saw
        up = "regmirror_upstream_requests_total"
        for s_name, lab, _ in samples:
            if s_name == up:
                self.assertEqual(set(lab), {"registry", "method", "kind", "status"}, lab)
        gets = metric_sum(samples, up, registry="docker.io", method="GET", kind="manifest")
        heads = metric_sum(samples, up, registry="docker.io", method="HEAD", kind="manifest")
        limited = metric_sum(samples, up, registry="docker.io", method="GET", kind="manifest", status="429")
        self.assertEqual(gets, self.hub.total_manifest_gets(),
                         f"GET manifests: regmirror counted {gets}, fake saw {self.hub.manifest_gets}")
        self.assertEqual(heads, self.hub.total_manifest_heads(),
                         f"HEAD manifests: regmirror counted {heads}, fake saw {self.hub.manifest_heads}")
        self.assertGreaterEqual(heads, 1)
        self.assertEqual(limited, 1.0, "the upstream's 429 must be counted with status=\"429\"")
        # -- cache outcomes agree with the X-Cache headers regmirror sent
        cr = "regmirror_cache_requests_total"
        for outcome in ("hit", "stale", "miss"):
            seen_manifest = self.xcache[("manifest", outcome.upper())]
            seen_blob = self.xcache[("blob", outcome.upper())]
            counted_manifest = sum(v for n, lab, v in samples
                                   if n == cr and lab.get("outcome") == outcome and lab.get("kind") != "blob")
            counted_blob = metric_sum(samples, cr, kind="blob", outcome=outcome)
            if outcome == "miss":  # a miss answered 404/429 is still a miss
                self.assertGreaterEqual(counted_manifest, seen_manifest, outcome)
            else:
                self.assertEqual(counted_manifest, seen_manifest, f"manifest {outcome}: {self.xcache}")
            self.assertEqual(counted_blob, seen_blob, f"blob {outcome}: {self.xcache}")
        self.assertEqual(self.xcache[("manifest", "STALE")], 1, self.xcache)


if __name__ == "__main__":
    unittest.main()
