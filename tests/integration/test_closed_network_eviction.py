"""Closed networks (issue 7): the cache is kept under max_cache_bytes by evicting least recently
used unpinned blobs (`regmirror cache gc`); pinned images survive and still pull with the
upstream stopped; `cache verify` finds and removes a blob whose bytes were damaged on disk.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_closed_network_eviction
"""

import json
import os
import shutil
import time
import unittest

from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from closedcommon import (BIN, Regmirror, Registry, blob_bytes, cache_ls, has_blob, log_tail, oci_layout,
                          proc, refs_by_name, run_cli, tmpdir, write_list)
from pullcommon import MIB, ACCEPT, need_binary, stream_get

MAX = 16 * MIB  # the smallest max_cache_bytes the config accepts


@need_binary
class TestEviction(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-closed-evict-")
        lay = os.path.join(cls.tmp, "hub")
        cls.pinned = oci_layout.build_image(lay, "keep", layers=[3 * MIB, 2000], seed="evict-pinned")
        cls.fillers = [oci_layout.build_image(lay, f"f{i}", layers=[4 * MIB], seed=f"evict-filler-{i}")
                       for i in range(6)]
        cls.hub = Registry()
        cls.hub.push_layout(lay, "keep", "library/pinned", dest_tag="1")
        for i in range(6):
            cls.hub.push_layout(lay, f"f{i}", "library/filler", dest_tag=str(i))
        cls.rm = Regmirror(BIN, {"default_registry": "docker.io", "max_cache_bytes": MAX,
                                 "registries": {"docker.io": {"upstreams": [{"url": cls.hub.url}]}}})

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "hub"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pull_http(self, repo, tag, img):
        st, _, _ = self.rm.get(f"/v2/docker.io/{repo}/manifests/{tag}", headers=ACCEPT)
        self.assertEqual(st, 200)
        for d in img.blob_digests:
            r = stream_get(self.rm.port, f"/v2/docker.io/{repo}/blobs/{d}")
            self.assertTrue(r.complete, r)
            self.assertEqual(r.digest, d)

    def test_1_gc_brings_usage_under_the_limit_and_keeps_pinned(self):
        images = write_list(os.path.join(self.tmp, "pinned.txt"), ["docker.io/library/pinned:1"])
        cp = run_cli("seed", "--images", images, "--server", self.rm.url, "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(self.rm))
        pulled = self.pinned.total_size
        for i, img in enumerate(self.fillers):
            if i > 0:
                time.sleep(1.1)  # last-use times have one-second resolution: make the order real
            self.pull_http("library/filler", str(i), img)
            pulled += img.total_size
        self.assertGreater(pulled, MAX, "the test must fill past max_cache_bytes")

        cp = run_cli("cache", "gc", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stderr + log_tail(self.rm))
        self.assertRegex(cp.stdout, r"removed [1-9][0-9]* blobs")
        on_disk = blob_bytes(self.rm.data_dir)
        self.assertLessEqual(on_disk, MAX, f"{on_disk} bytes on disk after gc")
        for d in self.pinned.all_digests:
            self.assertTrue(has_blob(self.rm.data_dir, d), f"pinned {d} was evicted")
        listing = cache_ls(self.rm)
        self.assertLessEqual(listing["total_bytes"], MAX)
        self.assertTrue(refs_by_name(listing)["docker.io/library/pinned:1"]["pinned"])
        # The least recently used fillers went first: the first filler is gone, the last is whole.
        self.assertFalse(has_blob(self.rm.data_dir, self.fillers[0].layer_digests[0]))
        self.assertTrue(has_blob(self.rm.data_dir, self.fillers[-1].layer_digests[0]))

        reason = containerd_available()
        if reason:
            self.fail(f"containerd needed for this check: {reason}")
        self.hub.stop()
        self.addCleanup(self.hub.start)
        hosts = os.path.join(self.tmp, "hosts")
        write_hosts_toml(hosts, "docker.io", self.rm.url)
        with Containerd() as ctrd:
            try:
                ctrd.pull("docker.io/library/pinned:1", hosts)
            except proc.CommandError as e:
                raise AssertionError(f"pinned image did not pull after gc: {e}{log_tail(self.rm)}")
            self.assertEqual(ctrd.image_digest("docker.io/library/pinned:1"), self.pinned.digest)

    def test_2_verify_removes_a_damaged_blob(self):
        victim = self.pinned.layers[1].digest
        algo, hexd = victim.split(":")
        path = os.path.join(self.rm.data_dir, "blobs", algo, hexd[:2], hexd)
        self.assertTrue(os.path.exists(path))
        with open(path, "r+b") as f:
            f.seek(10)
            b = f.read(1)
            f.seek(10)
            f.write(bytes([b[0] ^ 0xFF]))
        cp = run_cli("cache", "verify", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 1, cp.stdout + cp.stderr)
        self.assertIn(victim, cp.stdout)
        self.assertFalse(os.path.exists(path))
        cp = run_cli("cache", "verify", "--json", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stdout)
        self.assertEqual(json.loads(cp.stdout)["bad"], [])


if __name__ == "__main__":
    unittest.main()
