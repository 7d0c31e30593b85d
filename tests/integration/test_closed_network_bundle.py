"""Closed networks (issue 7): offline bundles.  `regmirror export` on one mirror writes an OCI
layout tarball (skopeo reads it); `regmirror import` into an empty, offline mirror whose
upstreams are all stopped makes containerd pulls succeed; a truncated bundle and a bundle with
one flipped byte are refused and leave the cache exactly as it was; importing twice is a no-op.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_closed_network_bundle
"""

import json
import os
import shutil
import tarfile
import unittest

from harness import skopeo
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from closedcommon import (BIN, Regmirror, Registry, blob_files, cache_ls, log_tail, oci_layout, proc,
                          refs_by_name, run_cli, tmpdir, write_list)
from pullcommon import need_binary


@need_binary
class TestOfflineBundle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-closed-bundle-")
        hub_lay = os.path.join(cls.tmp, "hub")
        harbor_lay = os.path.join(cls.tmp, "harbor")
        cls.alpine = oci_layout.build_image(hub_lay, "3.19", layers=[4000, 70000], seed="bundle-alpine")
        cls.multi = oci_layout.build_multiarch(hub_lay, "multi", layers=[3000], seed="bundle-multi")
        cls.pause = oci_layout.build_image(harbor_lay, "3.2", layers=[1800], seed="bundle-pause")
        cls.hub = Registry()
        cls.hub.push_layout(hub_lay, "3.19", "library/alpine")
        cls.hub.push_layout(hub_lay, "multi", "library/multi", dest_tag="v1")
        cls.harbor = Registry()
        cls.harbor.push_layout(harbor_lay, "3.2", "container_service/pause")
        cls.registries = {
            "docker.io": {"upstreams": [{"url": cls.hub.url}]},
            "registry.k8s.io": {"aliases": ["k8s.gcr.io"],
                                "upstreams": [{"url": cls.harbor.url, "path": "container_service/{basename}"}]},
        }
        cls.source = Regmirror(BIN, {"default_registry": "docker.io", "registries": cls.registries})
        cls.list = write_list(os.path.join(cls.tmp, "images.txt"),
                              ["k8s.gcr.io/pause:3.2", "alpine:3.19", "docker.io/library/multi:v1"])
        cls.bundle = os.path.join(cls.tmp, "bundle.tar")
        cp = run_cli("export", "--images", cls.list, "-o", cls.bundle, "--server", cls.source.url,
                     "--platform", "linux/amd64")
        if cp.returncode != 0:
            raise AssertionError(f"export failed: {cp.stdout}{cp.stderr}{log_tail(cls.source)}")
        cls.source.stop()
        cls.hub.stop()
        cls.harbor.stop()
        # The target: empty data dir, offline, every upstream stopped.
        cls.target = Regmirror(BIN, {"default_registry": "docker.io", "offline": True,
                                     "registries": cls.registries})

    @classmethod
    def tearDownClass(cls):
        for o in ("target", "source", "hub", "harbor"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def import_bundle(self, path):
        return run_cli("import", path, "--admin", self.target.admin_url)

    def test_1_bundle_is_a_standard_oci_layout(self):
        with tarfile.open(self.bundle) as tar:
            names = tar.getnames()
            index = json.load(tar.extractfile("index.json"))
            layout = json.load(tar.extractfile("oci-layout"))
        self.assertEqual(layout["imageLayoutVersion"], "1.0.0")
        self.assertIn("blobs/sha256/" + self.alpine.layers[1].digest.split(":")[1], names)
        by_ref = {m["annotations"]["io.regmirror.image.ref"]: m for m in index["manifests"]}
        self.assertEqual(set(by_ref), {"k8s.gcr.io/pause:3.2", "docker.io/library/alpine:3.19",
                                       "docker.io/library/multi:v1"})
        self.assertEqual(by_ref["docker.io/library/alpine:3.19"]["digest"], self.alpine.digest)
        self.assertEqual(by_ref["docker.io/library/multi:v1"]["digest"], self.multi.digest)
        # only the requested platform's layers travel
        self.assertNotIn("blobs/sha256/" + self.multi.images["linux/arm64"].layer_digests[0].split(":")[1], names)
        # skopeo reads it by its ref.name and sees the upstream's exact manifest
        raw = skopeo.inspect(f"oci-archive:{self.bundle}:docker.io/library/alpine:3.19", raw=True)
        self.assertEqual(raw, self.alpine.manifest_bytes)

    def test_2_truncated_and_flipped_bundles_are_refused_and_change_nothing(self):
        before = blob_files(self.target.data_dir)
        with open(self.bundle, "rb") as f:
            data = f.read()
        # Input tried: the bundle cut in the middle.
        cut = os.path.join(self.tmp, "truncated.tar")
        with open(cut, "wb") as f:
            f.write(data[: len(data) // 2])
        cp = self.import_bundle(cut)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn("truncated", cp.stderr)
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1, cp.stderr)
        # Input tried: one byte flipped inside the big layer's data.
        layer_name = "blobs/sha256/" + self.alpine.layers[1].digest.split(":")[1]
        with tarfile.open(self.bundle) as tar:
            offset = tar.getmember(layer_name).offset_data
        flipped = bytearray(data)
        flipped[offset + 1000] ^= 0x01
        bad = os.path.join(self.tmp, "flipped.tar")
        with open(bad, "wb") as f:
            f.write(flipped)
        cp = self.import_bundle(bad)
        self.assertNotEqual(cp.returncode, 0)
        self.assertIn(layer_name, cp.stderr)
        self.assertIn("corrupt", cp.stderr)
        # Nothing was uploaded or indexed.
        self.assertEqual(blob_files(self.target.data_dir), before)
        self.assertEqual(cache_ls(self.target)["references"], [])

    def test_3_import_into_offline_mirror_then_containerd_pulls(self):
        cp = self.import_bundle(self.bundle)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(self.target))
        listing = refs_by_name(cache_ls(self.target))
        for ref in ("registry.k8s.io/pause:3.2", "docker.io/library/alpine:3.19", "docker.io/library/multi:v1"):
            self.assertTrue(listing[ref]["pinned"], ref)
        # Idempotent: a second import uploads nothing and changes nothing.
        files = blob_files(self.target.data_dir)
        again = self.import_bundle(self.bundle)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn(" 0 blobs uploaded", again.stdout)
        self.assertEqual(blob_files(self.target.data_dir), files)

        reason = containerd_available()
        if reason:
            self.fail(f"containerd needed for this check: {reason}")
        hosts = os.path.join(self.tmp, "hosts")
        for host in ("docker.io", "k8s.gcr.io", "registry.k8s.io"):
            write_hosts_toml(hosts, host, self.target.url)
        with Containerd() as ctrd:
            for ref, digest in (("k8s.gcr.io/pause:3.2", self.pause.digest),
                                ("docker.io/library/alpine:3.19", self.alpine.digest),
                                ("docker.io/library/multi:v1", self.multi.digest)):
                try:
                    ctrd.pull(ref, hosts, platform="linux/amd64")
                except proc.CommandError as e:
                    raise AssertionError(f"ctr pull {ref} from the imported cache: {e}{log_tail(self.target)}")
                self.assertEqual(ctrd.image_digest(ref), digest)
        # Offline: a miss is answered at once with MANIFEST_UNKNOWN, no upstream involved.
        st, _, body = self.target.get("/v2/docker.io/library/alpine/manifests/3.99",
                                      headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual(st, 404)
        self.assertIn(b"MANIFEST_UNKNOWN", body)


if __name__ == "__main__":
    unittest.main()
