"""Replicas sharing an S3 bucket (issue 8), against a real S3 implementation: Ceph RADOS
Gateway started by this module (ceph_rgw.py, ~3 s once radosgw/ceph-mon/ceph-osd are
installed). Each test uses its own key prefix in one bucket, its own replicas and images.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_s3_replicas

Upstream: distribution behind a CountingProxy (counts blob GETs), holding the realistic image
set (harness/image_set.py). Replicas: regmirror serve processes with "storage.s3" on the same
bucket and prefix, each with its own data dir. Each test has its own prefix, so tests may use
the same images: "shared" is the app image (1, 30 and 200 MiB layers), "cold" its 200 MiB layer,
"kill" its 30 MiB layer, "offline" and "redirect" the 20-layer image.
"""

import hashlib
import os
import re
import shutil
import sys
import threading
import time
import unittest
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from harness import image_set
from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, log_tail,
                        mirror_config, need_binary, oci_layout, skopeo, stream_get, tmpdir)
from ceph_rgw import CephRgw
from harness.containerd import Containerd, write_hosts_toml
from harness.proc import http_get

BUCKET = "regmirror-it"


def s3_config(rgw, prefix, keys_dir, **extra):
    access = os.path.join(keys_dir, "access")
    secret = os.path.join(keys_dir, "secret")
    with open(access, "w") as f:
        f.write(rgw.access_key + "\n")
    with open(secret, "w") as f:
        f.write(rgw.secret_key + "\n")
    cfg = {"endpoint": rgw.endpoint, "bucket": BUCKET, "region": rgw.region, "prefix": prefix,
           "access_key_file": access, "secret_key_file": secret, "path_style": True}
    cfg.update(extra)
    return {"s3": cfg}


def bucket_objects(rgw, prefix):
    """{key: size} of every object under ``prefix`` (signed by curl, not by regmirror)."""
    out, token = {}, None
    while True:
        query = f"list-type=2&prefix={prefix.replace('/', '%2F')}"
        if token:
            from urllib.parse import quote
            query = f"continuation-token={quote(token, safe='')}&" + query
        status, body = rgw.curl("GET", f"/{BUCKET}?{query}")
        assert status == 200, (status, body[:300])
        root = ET.fromstring(body)
        ns = {"s": root.tag.split("}")[0][1:]} if root.tag.startswith("{") else {"s": ""}
        pfx = "s:" if ns["s"] else ""
        for c in root.findall(f"{pfx}Contents", ns):
            out[c.find(f"{pfx}Key", ns).text] = int(c.find(f"{pfx}Size", ns).text)
        if (root.findtext(f"{pfx}IsTruncated", "false", ns)) != "true":
            return out
        token = root.findtext(f"{pfx}NextContinuationToken", None, ns)


def object_digest(rgw, key):
    status, body = rgw.curl("GET", f"/{BUCKET}/{key}")
    assert status == 200, (status, key)
    return "sha256:" + hashlib.sha256(body).hexdigest()


@need_binary
class TestS3Replicas(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-s3-it-")
        cls.rgw = CephRgw(os.path.join(cls.tmp, "rgw")).start()
        print(f"\n[test_s3_replicas] Ceph RGW ready in {cls.rgw.started_seconds:.1f} s", file=sys.stderr)
        cls.rgw.create_bucket(BUCKET)
        realistic = image_set.realistic()
        app, layers20 = realistic.app, realistic.layers20
        cls.images = {"shared": app, "cold": app, "kill": app, "offline": layers20,
                      "redirect": layers20}
        cls.repos = {name: "realistic/app" if img is app else "realistic/layers20"
                     for name, img in cls.images.items()}
        cls.reg = Registry(preload=realistic)
        cls.px = CountingProxy(cls.reg.url)
        cls.replicas = []

    @classmethod
    def tearDownClass(cls):
        for rm in getattr(cls, "replicas", []):
            rm.close()
        for o in ("px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        if hasattr(cls, "rgw"):
            cls.rgw.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.px.clear_faults)
        self.addCleanup(self.px.up)

    def replica(self, prefix, **s3_extra):
        keys = tmpdir("rm-s3-keys-")
        cfg = mirror_config(self.px.url, storage=s3_config(self.rgw, prefix, keys, **s3_extra))
        rm = Regmirror(BIN, cfg)
        self.replicas.append(rm)
        return rm

    def logs(self, *rms):
        return "".join(log_tail(rm) for rm in rms)

    def get_blob(self, rm, name, digest, **kw):
        return stream_get(rm.port, f"/v2/{self.repos[name]}/blobs/{digest}", timeout=120,
                          chunk=1 << 20, **kw)

    def pull_all(self, rm, name):
        img = self.images[name]
        status, headers, body = http_get(f"{rm.url}/v2/{self.repos[name]}/manifests/v1",
                                         headers=ACCEPT)
        self.assertEqual(status, 200, f"manifest via {rm.url}: {body[:200]!r}{self.logs(rm)}")
        self.assertEqual(headers.get("docker-content-digest"), img.digest)
        for digest in img.blob_digests:
            r = self.get_blob(rm, name, digest)
            self.assertEqual((r.status, r.error, r.digest), (200, None, digest), f"{r}{self.logs(rm)}")

    def assert_bucket_clean(self, prefix):
        """Every blob object in the bucket is complete: its bytes hash to its name."""
        objects = bucket_objects(self.rgw, prefix + "blobs/")
        for key in objects:
            self.assertEqual(object_digest(self.rgw, key), "sha256:" + key.rsplit("/", 1)[1],
                             f"partial or wrong object visible in the bucket: {key}")
        return objects

    def test_bucket_retention_removes_old_unpinned_blobs_and_keeps_pinned_ones(self):
        import subprocess
        rm = self.replica("gc/")
        self.pull_all(rm, "shared")
        self.pull_all(rm, "offline")
        pin = subprocess.run([BIN, "cache", "pin", "docker.io/realistic/app:v1", "--admin",
                              rm.admin_url], capture_output=True, text=True, timeout=60)
        self.assertEqual(pin.returncode, 0, pin.stdout + pin.stderr)
        before = bucket_objects(self.rgw, "gc/blobs/")
        shared = {d.split(":")[1] for d in self.images["shared"].all_digests}
        unpinned = {d.split(":")[1] for d in self.images["offline"].blob_digests} - shared
        self.assertTrue(unpinned <= {k.rsplit("/", 1)[1] for k in before})
        # Nothing is old enough yet: a 30-day retention removes nothing.
        keep_all = subprocess.run([BIN, "cache", "gc", "--s3", "--older-than", "30d", "--admin",
                                   rm.admin_url], capture_output=True, text=True, timeout=60)
        self.assertEqual(keep_all.returncode, 0, keep_all.stdout + keep_all.stderr)
        self.assertIn("removed 0", keep_all.stdout)
        self.assertEqual(bucket_objects(self.rgw, "gc/blobs/"), before)
        time.sleep(1.2)  # S3 times have one-second resolution
        gc = subprocess.run([BIN, "cache", "gc", "--s3", "--older-than", "0s", "--admin",
                             rm.admin_url], capture_output=True, text=True, timeout=60)
        self.assertEqual(gc.returncode, 0, gc.stdout + gc.stderr)
        after = {k.rsplit("/", 1)[1] for k in bucket_objects(self.rgw, "gc/blobs/")}
        self.assertTrue(shared <= after, f"pinned content removed: {shared - after}")
        self.assertFalse(unpinned & after, f"old unpinned blobs kept: {unpinned & after}")
        # Bad input is refused without touching the bucket.
        bad = subprocess.run([BIN, "cache", "gc", "--s3", "--older-than", "soon", "--admin",
                              rm.admin_url], capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--older-than", bad.stderr)

    def test_pull_through_one_replica_then_others_cost_no_upstream_blob_fetch(self):
        a, b, c = self.replica("t1/"), self.replica("t1/"), self.replica("t1/")
        img = self.images["shared"]
        self.px.reset()
        self.pull_all(a, "shared")
        self.assertEqual(self.px.count("GET", "/blobs/"), len(img.blob_digests), self.logs(a))
        objects = self.assert_bucket_clean("t1/")
        self.assertEqual(sorted(k.rsplit("/", 1)[1] for k in objects),
                         sorted(d.split(":")[1] for d in img.all_digests))
        self.px.reset()
        for rm in (b, c):
            self.pull_all(rm, "shared")
        self.assertEqual(self.px.count("GET", "/blobs/"), 0,
                         f"B and C fetched blobs upstream{self.logs(b, c)}")
        # the tag validated by A is fresh for B and C: no manifest GET either
        self.assertEqual(self.px.count("GET", "/manifests/"), 0, self.logs(b, c))

    def test_eight_concurrent_cold_pulls_over_three_replicas(self):
        rms = [self.replica("t2/") for _ in range(3)]
        layer = self.images["cold"].layers[2]
        self.px.reset()
        self.px.delay(1.5, "/blobs/" + layer.digest)
        n = 8
        results = [None] * n
        barrier = threading.Barrier(n)

        def client(i):
            barrier.wait()
            results[i] = self.get_blob(rms[i % 3], "cold", layer.digest)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        self.assertTrue(all(not t.is_alive() for t in threads), "clients still running after 240 s")
        for i, r in enumerate(results):
            self.assertEqual((r.status, r.error, r.nbytes, r.digest), (200, None, layer.size, layer.digest),
                             f"client {i} via replica {i % 3}: {r}{self.logs(*rms)}")
        fetches = self.px.count("GET", "/blobs/" + layer.digest)
        print(f"\n[test_s3_replicas] 8 concurrent cold pulls over 3 replicas: upstream served the "
              f"blob {fetches} time(s)", file=sys.stderr)
        self.assertGreaterEqual(fetches, 1)
        self.assertLessEqual(fetches, 3, self.logs(*rms))
        self.assert_bucket_clean("t2/")

    def test_killed_replica_leaves_no_partial_object_and_others_keep_serving(self):
        a, b, c = self.replica("t3/"), self.replica("t3/"), self.replica("t3/")
        layer = self.images["kill"].layers[1]
        self.px.throttle(4 * MIB, "/blobs/" + layer.digest)   # ~7.5 s for 30 MiB
        killed = threading.Event()

        def kill_midway(nbytes):
            if nbytes >= 8 * MIB and not killed.is_set():
                killed.set()
                a.kill9()

        try:
            self.get_blob(a, "kill", layer.digest, on_chunk=kill_midway)
        except Exception:  # noqa: BLE001 - the connection dies with the replica
            pass
        self.assertTrue(killed.is_set(), "replica A was not killed mid-download")
        # Nothing half-written is visible (a multipart upload only appears when completed).
        self.assertNotIn(f"t3/blobs/sha256/{layer.digest.split(':')[1]}", bucket_objects(self.rgw, "t3/"))
        self.px.clear_faults()
        for rm in (b, c):
            r = self.get_blob(rm, "kill", layer.digest)
            self.assertEqual((r.status, r.error, r.digest), (200, None, layer.digest), f"{r}{self.logs(rm)}")
        self.assert_bucket_clean("t3/")
        a.start()  # the killed replica comes back and serves from the bucket
        r = self.get_blob(a, "kill", layer.digest)
        self.assertEqual((r.status, r.digest), (200, layer.digest), f"{r}{self.logs(a)}")

    def test_empty_replica_with_every_upstream_down_serves_the_bucket(self):
        a = self.replica("t4/")
        self.pull_all(a, "offline")
        self.px.down()
        d = self.replica("t4/")   # empty data dir, upstream refusing connections
        dest = os.path.join(tmpdir("rm-s3-oci-"), "out")
        try:
            skopeo.copy_to_oci(f"docker://{d.host}/realistic/layers20:v1", dest, tag="v1")
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"skopeo through the empty replica failed: {e}{self.logs(d)}")
        img = self.images["offline"]
        for digest in img.blob_digests:
            path = os.path.join(dest, "blobs", "sha256", digest.split(":")[1])
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(oci_layout.file_digest(path), digest)

    def test_blob_redirect_works_with_skopeo_and_containerd(self):
        r = self.replica("t5/", redirect_blobs=True, redirect_expiry_seconds=120)
        img = self.images["redirect"]
        self.pull_all(r, "redirect")  # fills the bucket (first GETs stream: the blob was not there)
        layer = img.layers[0]
        status, headers, _ = http_get(f"{r.url}/v2/realistic/layers20/blobs/{layer.digest}")
        self.assertEqual(status, 307, self.logs(r))
        location = headers.get("location", "")
        self.assertEqual(urlsplit(location).netloc, urlsplit(self.rgw.endpoint).netloc, location)
        self.assertIn("X-Amz-Signature=", location)
        status, _, body = http_get(location)
        self.assertEqual((status, "sha256:" + hashlib.sha256(body).hexdigest()), (200, layer.digest))
        self.px.reset()
        dest = os.path.join(tmpdir("rm-s3-oci-"), "out")
        skopeo.copy_to_oci(f"docker://{r.host}/realistic/layers20:v1", dest, tag="v1")
        path = os.path.join(dest, "blobs", "sha256", layer.digest.split(":")[1])
        self.assertEqual(oci_layout.file_digest(path), layer.digest)
        hosts = tmpdir("rm-s3-hosts-")
        write_hosts_toml(hosts, "docker.io", r.url)
        with Containerd() as ctrd:
            ctrd.pull("docker.io/realistic/layers20:v1", hosts, unpack=False)
            self.assertIn(layer.digest, ctrd.content_digests())
        self.assertEqual(self.px.count("GET", "/blobs/"), 0, "redirected pulls must not reach the upstream")


if __name__ == "__main__":
    unittest.main()
