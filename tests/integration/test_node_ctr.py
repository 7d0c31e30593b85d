"""containerd itself accepts the hosts.toml that `regmirror node render` writes:
`ctr images pull --hosts-dir DIR` pulls through a running regmirror, and with regmirror stopped
falls back to the `server` stand-in.

Needs root (a private containerd), the built binary and Debian's docker-registry + skopeo:
    cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_node_ctr
Everything listens on 127.0.0.1: an upstream registry (stand-in for Docker Hub), a counting
proxy in front of it used as the hosts.toml `server`, regmirror, and containerd on unix sockets.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import oci_layout, proc  # noqa: E402
from harness.containerd import DEAD_SERVER, Containerd, available as containerd_available  # noqa: E402
from harness.counting_proxy import CountingProxy  # noqa: E402
from harness.regmirror import Regmirror, find_binary  # noqa: E402
from harness.upstream import Registry  # noqa: E402

S = {}
REF = "docker.io/library/small:v1"


def setUpModule():
    if containerd_available():
        return  # the class is skipped; build nothing
    S["tmp"] = proc.register_tmp(tempfile.mkdtemp(prefix="rm-node-ctr-"))
    layout = os.path.join(S["tmp"], "layout")
    S["image"] = oci_layout.build_image(layout, "v1", layers=[3000, 7000], seed="node-ctr")
    S["upstream"] = Registry()
    S["upstream"].push_layout(layout, "v1", "library/small", dest_tag="v1")


def tearDownModule():
    if "upstream" in S:
        S["upstream"].close()
    shutil.rmtree(S.get("tmp", "/nonexistent"), ignore_errors=True)


@unittest.skipIf(containerd_available(), containerd_available() or "")
class TestCtrWithRenderedHostsToml(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = find_binary()
        if not cls.bin:
            raise unittest.SkipTest("regmirror binary not found (set REGMIRROR_BIN)")
        cls.ctrd = Containerd()

    @classmethod
    def tearDownClass(cls):
        cls.ctrd.close()

    def setUp(self):
        self.addCleanup(self.ctrd.remove_all)
        self.mirror = Regmirror(self.bin, {
            "default_registry": "docker.io",
            "registries": {"docker.io": {"upstreams": [{"url": S["upstream"].url}]}},
        })
        self.addCleanup(self.mirror.close)
        # The fallback `server`: the same upstream behind a counting proxy, so the test sees
        # whether containerd went there.
        self.server = CountingProxy(S["upstream"].url)
        self.addCleanup(self.server.close)
        self.out = tempfile.mkdtemp(prefix="rm-node-render-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def render(self, server_url):
        r = subprocess.run([self.bin, "node", "render", "--mirror", self.mirror.url,
                            "--registry", f"docker.io={server_url}", "--out", self.out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        hosts_dir = os.path.join(self.out, "etc", "containerd", "certs.d")
        with open(os.path.join(hosts_dir, "docker.io", "hosts.toml")) as f:
            text = f.read()
        self.assertIn(f'server = "{server_url}"', text)
        self.assertIn(f'[host."{self.mirror.url}"]', text)
        return hosts_dir

    def test_pull_goes_through_the_mirror(self):
        hosts_dir = self.render(DEAD_SERVER)  # nothing else could answer
        self.ctrd.pull(REF, hosts_dir)
        self.assertEqual(self.ctrd.image_digest(REF), S["image"].digest)
        self.assertEqual(set(self.ctrd.content_digests()), set(S["image"].all_digests))
        status, headers, _ = self.mirror.get(f"/v2/library/small/manifests/v1?ns=docker.io",
                                             method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-cache"), "HIT", "the pull did not go through regmirror")

    def test_mirror_preferred_over_a_live_server(self):
        hosts_dir = self.render(self.server.url)
        self.ctrd.pull(REF, hosts_dir)
        self.assertEqual(self.ctrd.image_digest(REF), S["image"].digest)
        self.assertEqual(self.server.requests(), [], "containerd skipped the mirror")

    def test_falls_back_to_the_server_when_the_mirror_is_stopped(self):
        hosts_dir = self.render(self.server.url)
        self.mirror.stop()
        self.ctrd.pull(REF, hosts_dir)
        self.assertEqual(self.ctrd.image_digest(REF), S["image"].digest)
        self.assertGreater(self.server.count("GET", r"/v2/library/small/manifests/"), 0)
        for d in S["image"].layer_digests:
            self.assertEqual(self.server.count("GET", f"/v2/library/small/blobs/{d}"), 1)


if __name__ == "__main__":
    unittest.main()
