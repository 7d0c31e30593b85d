"""Closed networks (issue 7): `regmirror seed` pulls and pins a list through the mirror; with
every upstream stopped afterwards, containerd still pulls each image.  Also `cache ls/pin/unpin`.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_closed_network_seed

Stand-ins: "hub" (docker.io) holds library/alpine:3.19 (the realistic set's app image: 1, 30 and
200 MiB layers), :3.20 (its 20-layer image), :edge (small), and its amd64+arm64 index as
library/multi:v1; "harbor" (first upstream of registry.k8s.io, path container_service/{basename})
holds container_service/pause:3.2 (a 300 KB layer, like the real one).
"""

import os
import shutil
import unittest

from harness import image_set
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from closedcommon import (BIN, Regmirror, Registry, cache_ls, has_blob, log_tail, oci_layout, proc,
                          refs_by_name, run_cli, tmpdir, write_list)
from pullcommon import need_binary


@need_binary
class TestSeed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-closed-seed-")
        hub_lay = os.path.join(cls.tmp, "hub")
        harbor_lay = os.path.join(cls.tmp, "harbor")
        images = image_set.realistic()
        cls.a319, cls.a320, cls.multi = images.app, images.layers20, images.multi
        cls.edge = oci_layout.build_image(hub_lay, "edge", layers=[2600], seed="seed-edge")
        cls.pause = oci_layout.build_image(harbor_lay, "3.2", layers=[300_000], seed="seed-pause")
        cls.hub = Registry()
        for repo, tag, (src_repo, src_tag) in (("library/alpine", "3.19", image_set.APP),
                                               ("library/alpine", "3.20", image_set.LAYERS20),
                                               ("library/multi", "v1", image_set.MULTI)):
            cls.hub.push_layout(images.layout, image_set.layout_tag(src_repo, src_tag), repo,
                                dest_tag=tag)
        cls.hub.push_layout(hub_lay, "edge", "library/alpine")
        cls.harbor = Registry()
        cls.harbor.push_layout(harbor_lay, "3.2", "container_service/pause")
        cfg = {
            "default_registry": "docker.io",
            "registries": {
                "docker.io": {"upstreams": [{"url": cls.hub.url}], "tag_ttl_seconds": 1},
                "registry.k8s.io": {"aliases": ["k8s.gcr.io"],
                                    "upstreams": [{"url": cls.harbor.url, "path": "container_service/{basename}"}],
                                    "tag_ttl_seconds": 1},
            },
        }
        cls.rm = Regmirror(BIN, cfg)
        cls.list = write_list(os.path.join(cls.tmp, "images.txt"), [
            "k8s.gcr.io/pause:3.2",
            "docker.io/library/alpine   # every tag matching --tags",
            "library/multi:v1",
            "docker.io/library/does-not-exist:1",
        ])

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "hub", "harbor"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def seed(self, *extra):
        return run_cli("seed", "--images", self.list, "--tags", r"3\.[0-9]+", "--platform", "linux/amd64",
                       "--server", self.rm.url, "--admin", self.rm.admin_url, *extra)

    def test_seed_pins_then_serves_everything_with_upstreams_stopped(self):
        cp = self.seed()
        out = cp.stdout
        # The one bad entry fails alone; the others are seeded.
        self.assertEqual(cp.returncode, 1, out + cp.stderr + log_tail(self.rm))
        self.assertRegex(out, r"FAILED\s+docker.io/library/does-not-exist:1")
        for ref in ("k8s.gcr.io/pause:3.2", "docker.io/library/alpine:3.19", "docker.io/library/alpine:3.20",
                    "docker.io/library/multi:v1"):
            self.assertRegex(out, r"ok\s+" + ref.replace(".", r"\."), out)
        self.assertNotIn("alpine:edge", out, "--tags must filter the listed tags")
        self.assertIn("seeded 4 of 5 images", out)

        # Every blob of the chosen platform is in the data dir; the arm64 one is not.
        for img in (self.a319, self.a320, self.pause, self.multi.images["linux/amd64"]):
            for d in img.all_digests:
                self.assertTrue(has_blob(self.rm.data_dir, d), d)
        arm_layer = self.multi.images["linux/arm64"].layer_digests[0]
        self.assertFalse(has_blob(self.rm.data_dir, arm_layer))

        listing = refs_by_name(cache_ls(self.rm))
        for ref in ("registry.k8s.io/pause:3.2", "docker.io/library/alpine:3.19",
                    "docker.io/library/alpine:3.20", "docker.io/library/multi:v1"):
            self.assertIn(ref, listing)
            self.assertTrue(listing[ref]["pinned"], ref)
        self.assertEqual(listing["docker.io/library/alpine:3.19"]["digest"], self.a319.digest)
        self.assertEqual(listing["docker.io/library/alpine:3.19"]["size"], self.a319.total_size)

        # Re-running resumes cheaply: nothing is fetched again.
        again = self.seed()
        self.assertIn("0 B fetched", again.stdout.splitlines()[-1], again.stdout)

        # Every upstream stopped: containerd pulls each seeded image from the mirror alone.
        reason = containerd_available()
        if reason:
            self.fail(f"containerd needed for this check: {reason}")
        self.hub.stop()
        self.harbor.stop()
        self.addCleanup(self.hub.start)
        self.addCleanup(self.harbor.start)
        hosts = os.path.join(self.tmp, "hosts")
        for host in ("docker.io", "k8s.gcr.io", "registry.k8s.io"):
            write_hosts_toml(hosts, host, self.rm.url)
        with Containerd() as ctrd:
            for ref, digest in (("k8s.gcr.io/pause:3.2", self.pause.digest),
                                ("docker.io/library/alpine:3.19", self.a319.digest),
                                ("docker.io/library/alpine:3.20", self.a320.digest),
                                ("docker.io/library/multi:v1", self.multi.digest)):
                try:
                    ctrd.pull(ref, hosts, platform="linux/amd64")
                except proc.CommandError as e:
                    raise AssertionError(f"ctr pull {ref} with upstreams stopped: {e}{log_tail(self.rm)}")
                self.assertEqual(ctrd.image_digest(ref), digest)

    def test_pin_unpin_and_bad_references(self):
        st, _, _ = self.rm.get("/v2/docker.io/library/alpine/manifests/edge",
                               headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual(st, 200)
        cp = run_cli("cache", "pin", "alpine:edge", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertTrue(refs_by_name(cache_ls(self.rm))["docker.io/library/alpine:edge"]["pinned"])
        cp = run_cli("cache", "unpin", "docker.io/library/alpine:edge", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.assertFalse(refs_by_name(cache_ls(self.rm))["docker.io/library/alpine:edge"]["pinned"])
        # Input tried: a reference never cached -> 404 with a one-line reason, exit 1.
        cp = run_cli("cache", "pin", "docker.io/library/alpine:never", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("not in the cache", cp.stderr)
        self.assertEqual(len(cp.stderr.strip().splitlines()), 1)
        # Input tried: an invalid repository name.
        cp = run_cli("cache", "pin", "docker.io/UPPER:1", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("invalid repository", cp.stderr)
        # Input tried: unpinning something never pinned.
        cp = run_cli("cache", "unpin", "docker.io/library/alpine:3.99", "--admin", self.rm.admin_url)
        self.assertEqual(cp.returncode, 1)
        self.assertIn("not pinned", cp.stderr)

    def test_cli_usage_errors(self):
        for argv, needle in ((["seed"], "exactly one of"),
                             (["seed", "--base-set", "--images", "x"], "exactly one of"),
                             (["seed", "--base-set", "--platform", "linux"], "OS/ARCH"),
                             (["seed", "--base-set", "--tags", "("], "--tags"),
                             (["cache"], "missing command"),
                             (["cache", "frobnicate"], "unknown command"),
                             (["cache", "pin"], "exactly one reference"),
                             (["import"], "missing BUNDLE"),
                             (["export", "--images", "x"], "required")):
            cp = run_cli(*argv)
            self.assertEqual(cp.returncode, 2, argv)
            self.assertIn(needle, cp.stderr, argv)
        for command in ("seed", "cache", "export", "import"):
            cp = run_cli(command, "--help")
            self.assertEqual(cp.returncode, 0, command)
            self.assertIn("Usage: regmirror " + command, cp.stdout)


if __name__ == "__main__":
    unittest.main()
