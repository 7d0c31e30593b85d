"""skopeo pulls through regmirror: same digests as upstream, second pull served from cache.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_skopeo

Upstreams (distribution 2.8, each behind a CountingProxy):
  docker.io       -> reg1: library/alpine:3.19 (2 layers), library/multi:v1 (OCI index amd64+arm64)
  registry.k8s.io -> reg2 with path template "container_service/{basename}"
                     (alias k8s.gcr.io); reg2 holds container_service/pause:3.2
"""

import json
import os
import shutil
import unittest

from pullcommon import (ACCEPT, BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_layout, sha, skopeo, tmpdir)


def layout_blobs_ok(test, dest, digests):
    for d in digests:
        p = oci_layout.blob_path(dest, d)
        test.assertTrue(os.path.exists(p), f"{d} missing in {dest}")
        test.assertEqual(oci_layout.file_digest(p), d)


def layout_top_digest(dest):
    with open(os.path.join(dest, "index.json")) as f:
        idx = json.load(f)
    return [m["digest"] for m in idx["manifests"]]


@need_binary
class TestSkopeoThroughMirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-skopeo-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.alpine = oci_layout.build_image(lay, "3.19", layers=[3000, 40000], seed="skopeo-alpine")
        cls.multi = oci_layout.build_multiarch(lay, "multi", layers=[5000], seed="skopeo-multi")
        cls.pause = oci_layout.build_image(lay, "pause", layers=[700], seed="skopeo-pause")
        cls.reg1 = Registry()
        cls.reg2 = Registry()
        cls.reg1.push_layout(lay, "3.19", "library/alpine")
        cls.reg1.push_layout(lay, "multi", "library/multi", dest_tag="v1")
        cls.reg2.push_layout(lay, "pause", "container_service/pause", dest_tag="3.2")
        cls.px1 = CountingProxy(cls.reg1.url)
        cls.px2 = CountingProxy(cls.reg2.url)
        cfg = mirror_config(cls.px1.url, ttl=300, extra={
            "registry.k8s.io": {"aliases": ["k8s.gcr.io"], "tag_ttl_seconds": 300,
                                "upstreams": [{"url": cls.px2.url, "path": "container_service/{basename}"}]}})
        cls.rm = Regmirror(BIN, cfg)

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px1", "px2", "reg1", "reg2"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mref(self, path):
        return f"docker://{self.rm.host}/{path}"

    def copy(self, ref, name, all=True):
        dest = os.path.join(self.tmp, name)
        shutil.rmtree(dest, ignore_errors=True)
        try:
            skopeo.copy_to_oci(ref, dest, tag="t", all=all)
        except Exception as e:
            raise AssertionError(f"skopeo copy {ref} failed: {e}{log_tail(self.rm)}")
        return dest

    # ------------------------------------------------------------------ docker.io, single image
    def test_single_image_same_digests_and_second_pull_all_hit(self):
        img = self.alpine
        self.px1.reset()
        ref = self.mref("library/alpine:3.19")
        dest = self.copy(ref, "alpine-1")
        self.assertEqual(layout_top_digest(dest), [img.digest])
        layout_blobs_ok(self, dest, img.all_digests)
        # every blob came from upstream exactly once
        for d in img.blob_digests:
            self.assertEqual(self.px1.count("GET", f"/v2/library/alpine/blobs/{d}"), 1, d)

        # skopeo inspect through the mirror == inspect of the upstream itself
        up_raw = skopeo.inspect(self.reg1.ref("library/alpine", "3.19"), raw=True)
        raw = skopeo.inspect(ref, raw=True)
        self.assertEqual(raw, up_raw)
        self.assertEqual(sha(raw), img.digest)
        info, up_info = skopeo.inspect(ref), skopeo.inspect(self.reg1.ref("library/alpine", "3.19"))
        self.assertEqual(info["Digest"], img.digest)
        self.assertEqual(info["Digest"], up_info["Digest"])
        self.assertEqual(info["Layers"], up_info["Layers"])
        self.assertEqual(info["Layers"], img.layer_digests)
        cfg_raw = skopeo.inspect(ref, raw=True, config=True)
        self.assertEqual(sha(cfg_raw), img.config.digest)

        # second pull: nothing goes upstream (tag fresh, blobs cached)
        self.px1.reset()
        dest2 = self.copy(ref, "alpine-2")
        self.assertEqual(layout_top_digest(dest2), [img.digest])
        layout_blobs_ok(self, dest2, img.all_digests)
        self.assertEqual(self.px1.count("GET", "/blobs/"), 0,
                         [r.target for r in self.px1.requests()])
        self.assertEqual(self.px1.count(), 0, [(r.method, r.target) for r in self.px1.requests()])
        # and the mirror says HIT for each of them
        for d in img.blob_digests:
            st, h, body = self.rm.get(f"/v2/library/alpine/blobs/{d}")
            self.assertEqual((st, h.get("x-cache"), sha(body)), (200, "HIT", d))
            self.assertEqual(h.get("docker-content-digest"), d)
        st, h, body = self.rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual((st, h.get("x-cache"), h.get("docker-content-digest")), (200, "HIT", img.digest))
        self.assertEqual(h.get("content-type"), oci_layout.MT_MANIFEST)
        self.assertEqual(body, img.manifest_bytes)
        self.assertEqual(self.px1.count(), 0)

    def test_short_docker_hub_name_gets_library_prefix(self):
        img = self.alpine
        raw = skopeo.inspect(self.mref("alpine:3.19"), raw=True)
        self.assertEqual(sha(raw), img.digest)
        # by digest as well
        raw = skopeo.inspect(self.mref(f"alpine@{img.digest}"), raw=True)
        self.assertEqual(raw, img.manifest_bytes)
        # never asked upstream for a repository without library/
        self.assertEqual(self.px1.count(None, r"^/v2/alpine/"), 0)

    # ------------------------------------------------------------------ multi-arch index
    def test_multiarch_all_same_digests_and_second_pull_all_hit(self):
        multi = self.multi
        ref = self.mref("library/multi:v1")
        self.px1.reset()
        dest = self.copy(ref, "multi-1", all=True)
        self.assertEqual(layout_top_digest(dest), [multi.digest])
        layout_blobs_ok(self, dest, multi.all_digests)
        raw = skopeo.inspect(ref, raw=True)
        self.assertEqual(raw, multi.index_bytes)
        self.assertEqual(raw, skopeo.inspect(self.reg1.ref("library/multi", "v1"), raw=True))
        st, h, _ = self.rm.get("/v2/library/multi/manifests/v1", headers=ACCEPT, method="HEAD")
        self.assertEqual((st, h.get("docker-content-digest"), h.get("content-type")),
                         (200, multi.digest, oci_layout.MT_INDEX))
        self.assertEqual(int(h.get("content-length")), len(multi.index_bytes))
        for img in multi.images.values():
            for d in img.blob_digests:
                self.assertEqual(self.px1.count("GET", f"/blobs/{d}"), 1, d)

        self.px1.reset()
        dest2 = self.copy(ref, "multi-2", all=True)
        layout_blobs_ok(self, dest2, multi.all_digests)
        self.assertEqual(self.px1.count("GET", "/blobs/"), 0, [r.target for r in self.px1.requests()])
        self.assertEqual(self.px1.count("GET", "/manifests/"), 0)

    # ------------------------------------------------------------------ second registry, path prefix
    def test_second_registry_by_path_prefix_with_path_template(self):
        img = self.pause
        self.px2.reset()
        before1 = self.px1.count()
        ref = self.mref("registry.k8s.io/pause:3.2")
        dest = self.copy(ref, "pause-1")
        self.assertEqual(layout_top_digest(dest), [img.digest])
        layout_blobs_ok(self, dest, img.all_digests)
        self.assertEqual(skopeo.inspect(ref, raw=True), img.manifest_bytes)
        # the upstream saw the templated repository, nothing else; docker.io's upstream nothing
        targets = [r.target for r in self.px2.requests()]
        self.assertTrue(targets)
        self.assertTrue(all(t == "/v2/" or t.startswith("/v2/container_service/pause/") for t in targets),
                        targets)
        self.assertGreaterEqual(self.px2.count("GET", r"^/v2/container_service/pause/manifests/"), 1)
        for d in img.blob_digests:
            self.assertEqual(self.px2.count("GET", f"^/v2/container_service/pause/blobs/{d}"), 1, d)
        self.assertEqual(self.px1.count(), before1)

        # the alias k8s.gcr.io names the same registry: blobs come from the cache
        self.px2.reset()
        ref2 = self.mref("k8s.gcr.io/pause:3.2")
        dest2 = self.copy(ref2, "pause-2")
        self.assertEqual(layout_top_digest(dest2), [img.digest])
        layout_blobs_ok(self, dest2, img.all_digests)
        self.assertEqual(self.px2.count("GET", "/blobs/"), 0, [r.target for r in self.px2.requests()])
        self.assertEqual(self.px1.count(), before1)

        # second pull by the canonical name: nothing upstream at all
        self.px2.reset()
        self.copy(ref, "pause-3")
        self.assertEqual(self.px2.count(), 0, [(r.method, r.target) for r in self.px2.requests()])


if __name__ == "__main__":
    unittest.main(verbosity=2)
