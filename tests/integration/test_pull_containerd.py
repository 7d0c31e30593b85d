"""A private containerd pulls docker.io images through regmirror (hosts.toml mirror, ?ns=docker.io).

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_containerd

Needs root (private containerd daemon, own root/state/socket); skipped otherwise.
HOSTS/docker.io/hosts.toml: [host."http://127.0.0.1:<regmirror>"] pull+resolve, server = the
dead port http://127.0.0.1:9, so a pull can only succeed through regmirror.
Upstream: distribution behind a CountingProxy, holding library/alpine:3.19 and :3.20 and an
OCI index library/multi:v1.
"""

import os
import re
import shutil
import unittest

from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from pullcommon import (BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_layout, proc, tmpdir)

REQ = re.compile(r"event=request\b.*")


@need_binary
@unittest.skipIf(containerd_available(), containerd_available() or "")
class TestContainerdThroughMirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-ctrd-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.a319 = oci_layout.build_image(lay, "3.19", layers=[2000, 60000], seed="ctrd-319")
        cls.a320 = oci_layout.build_image(lay, "3.20", layers=[2500], seed="ctrd-320")
        cls.multi = oci_layout.build_multiarch(lay, "multi", layers=[3000], seed="ctrd-multi")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "3.19", "library/alpine")
        cls.reg.push_layout(lay, "3.20", "library/alpine")
        cls.reg.push_layout(lay, "multi", "library/multi", dest_tag="v1")
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))
        cls.hosts = os.path.join(cls.tmp, "hosts")
        write_hosts_toml(cls.hosts, "docker.io", cls.rm.url)
        cls.ctrd = Containerd()

    @classmethod
    def tearDownClass(cls):
        for o in ("ctrd", "rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.ctrd.remove_all)

    def pull(self, ref, **kw):
        try:
            return self.ctrd.pull(ref, self.hosts, **kw)
        except proc.CommandError as e:
            raise AssertionError(f"ctr pull {ref} failed: {e}{log_tail(self.rm)}"
                                 f"\n--- containerd log tail ---\n{self.ctrd.logs()[-3000:]}")

    def repo_request_lines(self, repo):
        return [l for l in self.rm.logs().splitlines()
                if REQ.search(l) and f"repo={repo}" in l]

    def test_pull_unpack_alpine(self):
        img = self.a319
        with open(os.path.join(self.hosts, "docker.io", "hosts.toml")) as f:
            text = f.read()
        self.assertIn('server = "http://127.0.0.1:9"', text)
        self.assertIn(f'[host."{self.rm.url}"]', text)
        n_lines_before = len(self.repo_request_lines("library/alpine"))

        self.pull("docker.io/library/alpine:3.19")
        self.assertEqual(self.ctrd.image_digest("docker.io/library/alpine:3.19"), img.digest)
        self.assertEqual(set(self.ctrd.content_digests()), set(img.all_digests))
        self.assertEqual(len(self.ctrd.snapshots()), len(img.layers), "unpack did not happen")
        # containerd verified every blob against its digest on commit; the store holds exactly
        # the upstream's blobs, and the unpacked layers have the upstream's diff_ids
        snaps = set(self.ctrd.snapshots())
        self.assertIn(img.layers[0].diff_id, snaps)

        # every request containerd made for this repository carried ns=docker.io
        lines = self.repo_request_lines("library/alpine")[n_lines_before:]
        self.assertTrue(lines, "no request lines for library/alpine in the log" + log_tail(self.rm))
        self.assertTrue(all(" ns=docker.io" in l for l in lines), "\n".join(lines))
        routes = {re.search(r"route=(\S+)", l).group(1) for l in lines}
        self.assertTrue({"manifest", "blob"} <= routes, routes)
        # the upstream was asked for each blob exactly once and never got ns (it is the origin)
        for d in img.blob_digests:
            self.assertEqual(self.px.count("GET", f"^/v2/library/alpine/blobs/{d}"), 1, d)
        self.assertEqual(self.px.count(None, r"ns="), 0)

    def test_pull_multiarch_one_platform(self):
        multi = self.multi
        arm, amd = multi.images["linux/arm64"], multi.images["linux/amd64"]
        self.pull("docker.io/library/multi:v1", platform="linux/arm64", unpack=False)
        self.assertEqual(self.ctrd.image_digest("docker.io/library/multi:v1"), multi.digest)
        got = set(self.ctrd.content_digests())
        self.assertTrue(set(arm.all_digests) | {multi.digest} <= got, got)
        self.assertTrue(got.isdisjoint(amd.blob_digests), got)
        for d in amd.blob_digests:
            self.assertEqual(self.px.count("GET", f"/blobs/{d}"), 0)

    def test_no_fallback_when_mirror_stopped(self):
        # a reference regmirror has never seen, with regmirror down: the pull must fail
        # (server is the dead port 127.0.0.1:9; nothing else to fall back to)
        self.rm.stop()
        self.addCleanup(self.rm.start)
        before = self.px.count()
        with self.assertRaises(proc.CommandError) as cm:
            self.ctrd.pull("docker.io/library/alpine:3.20", self.hosts, timeout=90)
        err = cm.exception.result.stderr
        self.assertRegex(err, r"connection refused|127\.0\.0\.1:9|failed to resolve|dial tcp", err)
        self.assertIsNone(self.ctrd.image_digest("docker.io/library/alpine:3.20"))
        self.assertEqual(self.px.count(), before)
        self.assertNotIn(self.a320.digest, self.ctrd.content_digests())


if __name__ == "__main__":
    unittest.main(verbosity=2)
