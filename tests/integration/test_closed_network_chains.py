"""Closed networks (issue 7): Harbor-first chains, k8s.gcr.io/registry.k8s.io aliases, and the
docker.pkg.github.com -> ghcr.io rewrite, pulled by a real containerd through regmirror.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_closed_network_chains

Stand-ins (docker-registry on 127.0.0.1): "harbor" holds container_service/pause:3.2 and
container_service/coredns:1.8.0; "public" holds pause:3.2 (different bytes) and pause:3.1;
"ghcr" holds owner/image:v1.  containerd's hosts.toml for k8s.gcr.io, registry.k8s.io and
docker.pkg.github.com points at regmirror only (server = a dead port).
"""

import os
import shutil
import unittest

from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from closedcommon import BIN, Regmirror, Registry, log_tail, oci_layout, proc, tmpdir
from pullcommon import need_binary


@need_binary
@unittest.skipIf(containerd_available(), containerd_available() or "")
class TestHarborChain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-closed-chain-")
        harbor_lay = os.path.join(cls.tmp, "harbor")
        public_lay = os.path.join(cls.tmp, "public")
        ghcr_lay = os.path.join(cls.tmp, "ghcr")
        cls.harbor_pause = oci_layout.build_image(harbor_lay, "3.2", layers=[3000], seed="harbor-pause")
        cls.harbor_coredns = oci_layout.build_image(harbor_lay, "1.8.0", layers=[5000], seed="harbor-coredns")
        cls.public_pause = oci_layout.build_image(public_lay, "3.2", layers=[3100], seed="public-pause")
        cls.public_pause31 = oci_layout.build_image(public_lay, "3.1", layers=[2900], seed="public-pause-31")
        # 3.3 exists in both, with different bytes: who answers shows which upstream was used.
        cls.harbor_pause33 = oci_layout.build_image(harbor_lay, "3.3", layers=[3300], seed="harbor-pause-33")
        cls.public_pause33 = oci_layout.build_image(public_lay, "3.3", layers=[3300], seed="public-pause-33")
        cls.ghcr_image = oci_layout.build_image(ghcr_lay, "v1", layers=[4000], seed="ghcr-image")
        cls.harbor = Registry()
        cls.harbor.push_layout(harbor_lay, "3.2", "container_service/pause")
        cls.harbor.push_layout(harbor_lay, "1.8.0", "container_service/coredns")
        cls.harbor.push_layout(harbor_lay, "3.3", "container_service/pause")
        cls.public = Registry()
        cls.public.push_layout(public_lay, "3.2", "pause")
        cls.public.push_layout(public_lay, "3.1", "pause")
        cls.public.push_layout(public_lay, "3.3", "pause")
        cls.ghcr = Registry()
        cls.ghcr.push_layout(ghcr_lay, "v1", "owner/image")
        cfg = {
            "default_registry": "docker.io",
            "registries": {
                "registry.k8s.io": {
                    "aliases": ["k8s.gcr.io"],
                    "upstreams": [{"url": cls.harbor.url, "path": "container_service/{basename}"},
                                  {"url": cls.public.url}],
                },
                "docker.pkg.github.com": {"upstreams": [{"url": cls.ghcr.url, "path": "{owner}/{basename}"}]},
                "docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}]},
            },
        }
        cls.rm = Regmirror(BIN, cfg)
        cls.hosts = os.path.join(cls.tmp, "hosts")
        for host in ("k8s.gcr.io", "registry.k8s.io", "docker.pkg.github.com"):
            write_hosts_toml(cls.hosts, host, cls.rm.url)
        cls.ctrd = Containerd()

    @classmethod
    def tearDownClass(cls):
        for o in ("ctrd", "rm", "harbor", "public", "ghcr"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.ctrd.remove_all)

    def pull(self, ref):
        try:
            return self.ctrd.pull(ref, self.hosts)
        except proc.CommandError as e:
            raise AssertionError(f"ctr pull {ref} failed: {e}{log_tail(self.rm)}")

    def test_1_k8s_gcr_io_pause_comes_from_harbor_container_service(self):
        self.pull("k8s.gcr.io/pause:3.2")
        # Harbor's bytes, not the public registry's (which has a different pause:3.2).
        self.assertEqual(self.ctrd.image_digest("k8s.gcr.io/pause:3.2"), self.harbor_pause.digest)
        self.assertNotEqual(self.harbor_pause.digest, self.public_pause.digest)
        self.assertEqual(set(self.ctrd.content_digests()), set(self.harbor_pause.all_digests))

    def test_2_registry_k8s_io_is_the_same_registry(self):
        self.pull("registry.k8s.io/coredns:1.8.0")
        self.assertEqual(self.ctrd.image_digest("registry.k8s.io/coredns:1.8.0"), self.harbor_coredns.digest)

    def test_3_docker_pkg_github_com_reads_ghcr_owner_image(self):
        self.pull("docker.pkg.github.com/owner/repo/image:v1")
        self.assertEqual(self.ctrd.image_digest("docker.pkg.github.com/owner/repo/image:v1"),
                         self.ghcr_image.digest)

    def test_4_harbor_stopped_falls_through_to_public(self):
        self.harbor.stop()
        self.addCleanup(self.harbor.start)
        # pause:3.3 was never asked for: with Harbor up it would be Harbor's; now the public one.
        self.assertNotEqual(self.harbor_pause33.digest, self.public_pause33.digest)
        self.pull("k8s.gcr.io/pause:3.3")
        self.assertEqual(self.ctrd.image_digest("k8s.gcr.io/pause:3.3"), self.public_pause33.digest)
        # and a tag only the public registry has
        self.pull("k8s.gcr.io/pause:3.1")
        self.assertEqual(self.ctrd.image_digest("k8s.gcr.io/pause:3.1"), self.public_pause31.digest)


if __name__ == "__main__":
    unittest.main()
