"""Upstream resilience: broken transfers resumed, dead upstreams skipped fast, deleted tags kept,
offline meaning offline. Everything behind counting, fault-injecting fronts (CountingProxy) in
front of real docker-registry upstreams.

What is tried:
  - a 256 MiB blob whose every upstream answer is cut after 64 MiB: four concurrent clients all
    get the right sha256; the upstream saw closed Range requests from the byte reached and
    served at most 1.1x the blob; an upstream that ignores Range (200, whole body) still ends
    correct (its first bytes are skipped);
  - a black hole (accepts, never answers) with cached tags and TTL 1 s: 50 tag requests answered
    STALE with p99 under 2 s; at most 3 connections to it in 60 s; a chain [dead Harbor, live
    registry] serves uncached pulls without waiting on the dead one after the first failure;
    once it heals, tags are HIT again within the probe interval;
  - a pinned tag deleted upstream pulls with skopeo and containerd (STALE); an unpinned one
    follows on_upstream_not_found (serve_cached: STALE, forget: 404); a re-pushed tag with a
    new digest does not move a frozen pin; `regmirror cache forget` drops one tag on purpose;
  - offline: zero upstream connections on every route (manifests by tag and digest, blobs GET
    and HEAD, tags/list, referrers), cached or not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import skopeo
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from closedcommon import cache_ls, refs_by_name, run_cli, write_list
from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, log_tail,
                        mirror_config, need_binary, oci_codes, oci_layout, proc, push_tag, sha,
                        stream_get, tmpdir)

BIG = 256 * MIB
CUT = 64 * MIB


@need_binary
class TestResumableTransfers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-resume-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "v1", layers=[BIG, BIG], seed="resume-256")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "v1", "resume/big")
        shutil.rmtree(lay)
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def four_clients(self, layer):
        path = f"/v2/resume/big/blobs/{layer.digest}"
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: stream_get(self.rm.port, path, timeout=300, chunk=1 << 20),
                                    range(4)))
        for i, r in enumerate(results):
            self.assertTrue(r.complete, f"client {i}: {r}{log_tail(self.rm)}")
            self.assertEqual(r.digest, layer.digest, f"client {i}")

    def test_cut_every_64_mib_is_resumed_with_closed_ranges(self):
        layer = self.img.layers[0]
        rx = "/blobs/" + layer.digest
        self.px.reset()
        self.px.cut_after(CUT, rx)  # every answer, the resumed ones too
        self.four_clients(layer)
        gets = self.px.requests("GET", rx)
        ranges = [g.headers.get("range") for g in gets]
        expected = [None] + [f"bytes={k * CUT}-{layer.size - 1}" for k in range(1, -(-layer.size // CUT))]
        self.assertEqual(ranges, expected)
        served = sum(g.body_bytes for g in gets)
        print(f"\n[resume] 256 MiB cut every 64 MiB: {len(gets)} upstream requests, "
              f"{served / layer.size:.3f}x the blob served", flush=True)
        self.assertLessEqual(served, 1.1 * layer.size)
        self.rm.wait_log(rf"event=blob_cached\b.*{layer.digest}")
        self.assertIn("regmirror_upstream_resumes_total", self.rm.get("/metrics")[2].decode())
        self.px.clear_faults()

    def test_an_upstream_that_ignores_range_still_ends_correct(self):
        layer = self.img.layers[1]
        rx = "/blobs/" + layer.digest
        self.px.reset()
        self.px.cut_after(CUT, rx, times=1)
        self.px.ignore_range(rx)
        self.four_clients(layer)
        gets = self.px.requests("GET", rx)
        self.assertEqual(len(gets), 2, [g.headers.get("range") for g in gets])
        self.assertEqual(gets[1].status, 200)  # the whole body again; its first 64 MiB skipped
        self.rm.wait_log(rf"event=blob_cached\b.*{layer.digest}")
        self.px.clear_faults()


@need_binary
class TestDeadUpstreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-deadup-")
        lay = os.path.join(cls.tmp, "layout")
        cls.images = [oci_layout.build_image(lay, f"t{i}", layers=[200_000 + i], seed=f"dead-{i}")
                      for i in range(6)]
        cls.reg = Registry()
        for i in range(6):
            cls.reg.push_layout(lay, f"t{i}", "dead/app")

    @classmethod
    def tearDownClass(cls):
        cls.reg.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_black_hole_with_cached_tags(self):
        px = CountingProxy(self.reg.url)
        self.addCleanup(px.close)
        rm = Regmirror(BIN, mirror_config(px.url, ttl=1))
        self.addCleanup(rm.close)
        tags = ["t0", "t1", "t2"]
        for tag in tags:
            st, _, _ = rm.get(f"/v2/dead/app/manifests/{tag}", headers=ACCEPT)
            self.assertEqual(st, 200)
        px.down("hang")
        hung_at = time.monotonic()
        before = px.connections
        time.sleep(1.1)  # past the 1 s TTL (the mirror's clock, which the test sets)

        def ask(i):
            t0 = time.monotonic()
            st, h, body = rm.get(f"/v2/dead/app/manifests/{tags[i % 3]}", headers=ACCEPT, timeout=30)
            return st, h.get("x-cache"), sha(body), time.monotonic() - t0, tags[i % 3]
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(ask, range(50)))
        for st, cache, digest, _, tag in answers:
            self.assertEqual((st, cache), (200, "STALE"), log_tail(rm))
            self.assertEqual(digest, self.images[int(tag[1:])].digest)
        took = sorted(a[3] for a in answers)
        p99 = took[int(0.99 * (len(took) - 1))]
        print(f"\n[black hole] 50 tag requests: p50 {took[25]:.3f}s p99 {p99:.3f}s", flush=True)
        self.assertLess(p99, 2.0)
        # Keep asking for a minute: the dead upstream sees at most 3 connections.
        while time.monotonic() - hung_at < 60:
            st, h, _ = rm.get(f"/v2/dead/app/manifests/{tags[int(time.monotonic()) % 3]}",
                              headers=ACCEPT, timeout=30)
            self.assertEqual((st, h.get("x-cache")), (200, "STALE"))
            time.sleep(1)
        connections = px.connections - before
        print(f"[black hole] connections to it in 60 s: {connections} at "
              f"{[round(t - hung_at, 2) for t in px.connection_times if t >= hung_at]}", flush=True)
        self.assertLessEqual(connections, 3)
        st, _, body = proc.http_get(rm.admin_url + "/admin/upstreams")
        self.assertEqual(st, 200)
        self.assertIn(json.loads(body)["upstreams"][0]["state"], ("open", "half-open", "closed"))
        # It heals: tags are fresh again within the probe interval.
        px.up()

        def fresh():
            st, h, _ = rm.get("/v2/dead/app/manifests/t0", headers=ACCEPT, timeout=30)
            return st == 200 and h.get("x-cache") == "HIT"
        proc.wait_until(fresh, 30, interval=0.5, what="t0 HIT again after the upstream healed")

    def test_chain_skips_a_dead_harbor_after_the_first_failure(self):
        harbor = CountingProxy(self.reg.url)
        self.addCleanup(harbor.close)
        public = CountingProxy(self.reg.url)
        self.addCleanup(public.close)
        harbor.down("hang")
        cfg = mirror_config(harbor.url, limits={"upstream_request_timeout_seconds": 5})
        cfg["registries"]["docker.io"]["upstreams"].append({"url": public.url})
        rm = Regmirror(BIN, cfg)
        self.addCleanup(rm.close)
        timings = []
        for img in self.images[3:6]:
            t0 = time.monotonic()
            st, _, body = rm.get(f"/v2/dead/app/manifests/{img.digest}", headers=ACCEPT, timeout=60)
            timings.append(time.monotonic() - t0)
            self.assertEqual((st, sha(body)), (200, img.digest), log_tail(rm))
            layer = img.layers[0]
            r = stream_get(rm.port, f"/v2/dead/app/blobs/{layer.digest}", timeout=60)
            self.assertEqual((r.status, r.digest), (200, layer.digest), f"{r}{log_tail(rm)}")
        print(f"\n[dead harbor] uncached pulls: {', '.join(f'{t:.2f}s' for t in timings)}", flush=True)
        self.assertLess(timings[1], 1.0, "the second pull waited on the dead Harbor again")
        self.assertLess(timings[2], 1.0)
        self.assertIn('upstream_circuit', rm.logs())


@need_binary
class TestDeletedUpstreamTags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-deleted-")
        lay = os.path.join(cls.tmp, "layout")
        cls.base = oci_layout.build_image(lay, "base", layers=[3 * MIB, 40_000], seed="keep-base")
        cls.other = oci_layout.build_image(lay, "other", layers=[70_000], seed="keep-other")
        cls.gone = oci_layout.build_image(lay, "gone", layers=[60_000], seed="keep-gone")
        cls.newer = oci_layout.build_image(lay, "newer", layers=[50_000], seed="keep-newer")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "base", "keep/base", dest_tag="1")
        cls.reg.push_layout(lay, "other", "keep/other", dest_tag="1")
        cls.reg.push_layout(lay, "gone", "keep/gone", dest_tag="1")
        cls.reg.push_layout(lay, "newer", "keep/base", dest_tag="newer")
        cls.rm = Regmirror(BIN, mirror_config(cls.reg.url, ttl=1))
        forget_cfg = mirror_config(cls.reg.url, ttl=1)
        forget_cfg["registries"]["docker.io"]["on_upstream_not_found"] = "forget"
        cls.rm_forget = Regmirror(BIN, forget_cfg)

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "rm_forget", "reg"):
            getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def manifest(self, rm, repo, tag):
        st, h, body = rm.get(f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
        return st, h.get("x-cache"), (sha(body) if st == 200 else oci_codes(body))

    def test_pinned_tag_survives_deletion_and_stays_frozen(self):
        listing = write_list(os.path.join(self.tmp, "images.txt"), ["docker.io/keep/base:1"])
        cp = run_cli("seed", "--images", listing, "--server", self.rm.url, "--admin", self.rm.admin_url,
                     "--platform", "linux/amd64")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)
        self.assertTrue(refs_by_name(cache_ls(self.rm))["docker.io/keep/base:1"]["pinned"])
        self.assertEqual(self.manifest(self.rm, "keep/other", "1")[0], 200)  # cached, unpinned
        self.assertEqual(self.reg.delete_manifest("keep/base", self.base.digest), 202)
        self.assertEqual(self.reg.delete_manifest("keep/other", self.other.digest), 202)
        time.sleep(1.1)  # past the TTL
        self.assertEqual(self.manifest(self.rm, "keep/base", "1"), (200, "STALE", self.base.digest))
        self.assertEqual(self.manifest(self.rm, "keep/other", "1"), (200, "STALE", self.other.digest))
        self.assertIn("event=tag_gone_upstream_kept", self.rm.logs())
        # Real clients pull the pinned image the upstream deleted.
        dest = os.path.join(self.tmp, "skopeo-base")
        skopeo.copy_to_oci(f"docker://{self.rm.host}/keep/base:1", dest, tag="x")
        for d in self.base.all_digests:
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)
        reason = containerd_available()
        if reason:
            self.fail(f"containerd needed for this check: {reason}")
        hosts = os.path.join(self.tmp, "hosts")
        write_hosts_toml(hosts, "docker.io", self.rm.url)
        with Containerd() as ctrd:
            ctrd.pull("docker.io/keep/base:1", hosts, platform="linux/amd64")
            self.assertEqual(ctrd.image_digest("docker.io/keep/base:1"), self.base.digest)
        # Re-pushed upstream with another digest: the pin does not move.
        push_tag(self.reg, "keep/base", "1", self.newer.manifest_bytes, oci_layout.MT_MANIFEST)
        time.sleep(1.1)
        self.assertEqual(self.manifest(self.rm, "keep/base", "1"), (200, "STALE", self.base.digest))
        self.rm.wait_log(r"event=pinned_tag_moved_upstream\b.*keep/base")
        # cache forget: refused for the pinned tag, and drops the unpinned one.
        cp = run_cli("cache", "forget", "docker.io/keep/base:1", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("is pinned", cp.stderr)
        cp = run_cli("cache", "forget", "docker.io/keep/other:1", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertEqual(self.manifest(self.rm, "keep/other", "1")[:2], (404, None))
        # Input tried: forget without a tag, and of something never cached.
        self.assertEqual(run_cli("cache", "forget", "docker.io/keep/other", "--admin",
                                 self.rm.admin_url).returncode, 1)
        self.assertEqual(run_cli("cache", "forget", "docker.io/keep/never:1", "--admin",
                                 self.rm.admin_url).returncode, 1)

    def test_forget_policy_answers_404_once_upstream_deleted_the_tag(self):
        self.assertEqual(self.manifest(self.rm_forget, "keep/gone", "1")[0], 200)
        self.assertEqual(self.reg.delete_manifest("keep/gone", self.gone.digest), 202)
        time.sleep(1.1)
        st, cache, codes = self.manifest(self.rm_forget, "keep/gone", "1")
        self.assertEqual((st, codes), (404, ["MANIFEST_UNKNOWN"]))
        self.assertNotIn("docker.io/keep/gone:1", refs_by_name(cache_ls(self.rm_forget)))


@need_binary
class TestOfflineMeansOffline(unittest.TestCase):
    def test_zero_upstream_connections_on_every_route(self):
        work = tmpdir("rm-offline-")
        lay = os.path.join(work, "layout")
        img = oci_layout.build_image(lay, "v1", layers=[2 * MIB], seed="offline-v1")
        missing = oci_layout.build_image(lay, "v2", layers=[1000], seed="offline-v2")
        reg = Registry()
        self.addCleanup(reg.close)
        reg.push_layout(lay, "v1", "off/app")
        reg.push_layout(lay, "v2", "off/app")
        px = CountingProxy(reg.url)
        self.addCleanup(px.close)
        rm = Regmirror(BIN, mirror_config(px.url, ttl=1))
        self.addCleanup(rm.close)
        dest = os.path.join(work, "warm")
        skopeo.copy_to_oci(f"docker://{rm.host}/off/app:v1", dest, tag="x")  # cache v1
        rm.stop()
        rm.config["offline"] = True
        rm.start()
        time.sleep(1.1)  # the cached tag is past its TTL: online it would be revalidated
        px.reset()
        before = px.connections
        layer = img.layers[0]
        routes = [
            ("GET", "/v2/off/app/manifests/v1", 200),                    # cached tag
            ("HEAD", "/v2/off/app/manifests/v1", 200),
            ("GET", "/v2/off/app/manifests/v2", 404),                    # uncached tag
            ("GET", f"/v2/off/app/manifests/{img.digest}", 200),         # cached digest
            ("GET", f"/v2/off/app/manifests/{missing.digest}", 404),     # uncached digest
            ("GET", f"/v2/off/app/blobs/{layer.digest}", 200),           # cached blob
            ("HEAD", f"/v2/off/app/blobs/{layer.digest}", 200),
            ("GET", f"/v2/off/app/blobs/{missing.layers[0].digest}", 404),   # uncached blob
            ("HEAD", f"/v2/off/app/blobs/{missing.layers[0].digest}", 404),
            ("GET", "/v2/off/app/tags/list", 200),                       # from the cache
            ("GET", f"/v2/off/app/referrers/{img.digest}", 200),         # the (empty) cached index
            ("GET", "/v2/off/unknown/tags/list", 503),
        ]
        for method, path, want in routes:
            st, h, body = rm.get(path, headers=ACCEPT, method=method)
            self.assertEqual(st, want, f"{method} {path}: {body[:200]!r}")
        self.assertEqual(px.count(), 0, [(r.method, r.target) for r in px.requests()])
        self.assertEqual(px.connections - before, 0, "an offline mirror opened upstream connections")


if __name__ == "__main__":
    unittest.main()
