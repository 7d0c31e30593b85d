"""Issue 14, part 1: per-registry repository policy ("allow"/"deny" globs).

A repository outside a registry's allow list, or matched by a deny rule (deny wins), is refused
with 403 DENIED naming the rule, before any upstream is asked: the counting proxy in front of
the upstream sees zero requests.  Judged on the client's name (after "library/", before path
templates), for path-prefix, default and ?ns= (containerd) routing alike.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror python3 -m unittest -v test_repository_policy
"""

from __future__ import annotations

import base64
import crypt
import json
import os
import re
import shutil
import unittest

from pullcommon import (ACCEPT, BIN, CountingProxy, Registry, Regmirror, mirror_config, need_binary,
                        oci_codes, oci_layout, proc, skopeo, tmpdir)
from harness import containerd, image_set
from harness.regmirror import cli


@need_binary
class RepositoryPolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-policy-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "v1", layers=[3000], seed="policy")
        cls.reg1 = Registry()
        cls.reg2 = Registry()
        for repo in ("library/alpine", "library/forbidden", "other/app", "myorg/team/app",
                     "myorg/secret/app"):
            cls.reg1.push_layout(lay, "v1", repo, dest_tag="1")
        for repo in ("container_service/pause", "container_service/other"):
            cls.reg2.push_layout(lay, "v1", repo, dest_tag="1")
        cls.px1 = CountingProxy(cls.reg1.url)
        cls.px2 = CountingProxy(cls.reg2.url)
        cfg = mirror_config(cls.px1.url, extra={
            "registry.k8s.io": {"upstreams": [{"url": cls.px2.url,
                                               "path": "container_service/{basename}"}],
                                "allow": ["pause"]}})
        cfg["registries"]["docker.io"]["allow"] = ["library/*", "myorg/**"]
        cfg["registries"]["docker.io"]["deny"] = ["library/forbidden*", "myorg/secret/**"]
        cls.rm = Regmirror(BIN, cfg)

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px1", "px2", "reg1", "reg2"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy(self, ref: str, name: str) -> str:
        dest = os.path.join(self.tmp, name)
        shutil.rmtree(dest, ignore_errors=True)
        skopeo.copy_to_oci(f"docker://{self.rm.host}/{ref}", dest, tag="t")
        return dest

    def assert_skopeo_refused(self, ref: str, rule_text: str) -> None:
        self.px1.reset()
        self.px2.reset()
        with self.assertRaises(proc.CommandError) as refused:
            self.copy(ref, "refused")
        text = str(refused.exception).lower()
        self.assertTrue("403" in text or "denied" in text, text)
        self.assertEqual(self.px1.count() + self.px2.count(), 0,
                         [(r.method, r.target) for r in self.px1.requests() + self.px2.requests()])
        self.assertIn(rule_text, self.rm.logs())

    def assert_api_refused(self, name: str, rule_text: str) -> None:
        self.px1.reset()
        digest = self.img.digest
        for path in (f"/v2/{name}/manifests/1", f"/v2/{name}/manifests/{digest}",
                     f"/v2/{name}/blobs/{self.img.layers[0].digest}", f"/v2/{name}/tags/list",
                     f"/v2/{name}/referrers/{digest}"):
            with self.subTest(path=path):
                status, _, body = proc.http_get(self.rm.url + path, headers=ACCEPT)
                self.assertEqual(status, 403, body)
                self.assertEqual(oci_codes(body), ["DENIED"], body)
                self.assertIn(rule_text, body.decode())
        self.assertEqual(self.px1.count(), 0, [(r.method, r.target) for r in self.px1.requests()])

    def test_outside_the_allow_list_is_refused_without_upstream_requests(self):
        self.assert_skopeo_refused("other/app:1", "not in the allow list")
        self.assert_api_refused("other/app", "not in the allow list")

    def test_inside_the_allow_list_pulls(self):
        for ref, name in (("library/alpine:1", "alpine"), ("alpine:1", "alpine-short"),
                          ("myorg/team/app:1", "team")):
            with self.subTest(ref=ref):
                dest = self.copy(ref, name)
                with open(os.path.join(dest, "index.json")) as f:
                    self.assertIn(self.img.digest, f.read())

    def test_deny_overrides_allow(self):
        self.assert_skopeo_refused("myorg/secret/app:1", "denied by rule 'myorg/secret/**'")
        self.assert_api_refused("myorg/secret/app", "denied by rule 'myorg/secret/**'")
        # The Docker Hub short name is judged as library/forbidden.
        self.assert_skopeo_refused("forbidden:1", "denied by rule 'library/forbidden*'")

    def test_path_prefix_routing_judges_the_clients_name_before_the_path_template(self):
        dest = self.copy("registry.k8s.io/pause:1", "pause")
        with open(os.path.join(dest, "index.json")) as f:
            self.assertIn(self.img.digest, f.read())
        self.assert_skopeo_refused("registry.k8s.io/other:1", "not in the allow list")
        # The upstream name (after the template) is not what the rule sees.
        status, _, body = proc.http_get(
            self.rm.url + "/v2/registry.k8s.io/container_service/pause/manifests/1", headers=ACCEPT)
        self.assertEqual(status, 403, body)

    def test_ns_routing_is_judged_too(self):
        status, _, body = proc.http_get(self.rm.url + "/v2/other/app/manifests/1?ns=docker.io",
                                        headers=ACCEPT)
        self.assertEqual(status, 403, body)
        status, _, _ = proc.http_get(self.rm.url + "/v2/library/alpine/manifests/1?ns=docker.io",
                                     headers=ACCEPT)
        self.assertEqual(status, 200)

    def test_containerd_pull_is_refused_outside_the_allow_list(self):
        reason = containerd.available()
        if reason:
            self.skipTest(f"containerd unavailable: {reason}")
        hosts = os.path.join(self.tmp, "hosts")
        containerd.write_hosts_toml(hosts, "docker.io", self.rm.url)
        with containerd.Containerd() as daemon:
            self.px1.reset()
            with self.assertRaises(proc.CommandError) as refused:
                daemon.pull("docker.io/other/app:1", hosts)
            self.assertEqual(self.px1.count(), 0)
            self.assertIn("403", str(refused.exception) + daemon.logs())
            daemon.pull("docker.io/library/alpine:1", hosts)
            self.assertEqual(daemon.image_digest("docker.io/library/alpine:1"), self.img.digest)


@need_binary
class DigestBlocklistTest(unittest.TestCase):
    """Issue 14, part 2: blocked_digests_file, on the realistic image set."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-blocklist-")
        cls.images = image_set.realistic()
        cls.reg = Registry(preload=cls.images)
        cls.px = CountingProxy(cls.reg.url)
        cls.arm64 = cls.images.multi.images["linux/arm64"]
        cls.amd64 = cls.images.multi.images["linux/amd64"]
        cls.layers20 = cls.images.layers20
        cls.blocked_blob = cls.images.app.layers[0].digest
        cls.data_dir = os.path.join(cls.tmp, "data")
        # First the cache gets layers20 (unblocked), then the blocking mirror starts on it.
        with Regmirror(BIN, mirror_config(cls.px.url), data_dir=cls.data_dir) as warm:
            dest = os.path.join(cls.tmp, "warm")
            skopeo.copy_to_oci(f"docker://{warm.host}/realistic/layers20:v1", dest, tag="t")
        cls.blocklist = os.path.join(cls.tmp, "blocked")
        with open(cls.blocklist, "w") as f:
            f.write(f"# known bad\n{cls.arm64.digest}  # arm64 build\n\n{cls.layers20.digest}\n"
                    f"{cls.blocked_blob}\n")
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url, blocked_digests_file=cls.blocklist),
                           data_dir=cls.data_dir)

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, path):
        return proc.http_get(self.rm.url + path, headers=ACCEPT)

    def assert_denied(self, path, digest):
        status, _, body = self.get(path)
        self.assertEqual(status, 403, body)
        self.assertEqual(oci_codes(body), ["DENIED"], body)
        self.assertIn(digest, body.decode())

    def test_refused_by_digest_without_upstream_requests(self):
        self.px.reset()
        self.assert_denied(f"/v2/realistic/multi/manifests/{self.arm64.digest}", self.arm64.digest)
        self.assert_denied(f"/v2/realistic/app/blobs/{self.blocked_blob}", self.blocked_blob)
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])

    def test_refused_by_tag_though_cached_and_nothing_removed_from_disk(self):
        self.assert_denied("/v2/realistic/layers20/manifests/v1", self.layers20.digest)
        with self.assertRaises(proc.CommandError):
            skopeo.copy_to_oci(f"docker://{self.rm.host}/realistic/layers20:v1",
                               os.path.join(self.tmp, "l20"), tag="t")
        # Its blobs are still cached, and served (they are not blocked themselves).
        layer = self.layers20.layers[0].digest
        on_disk = [n for _, _, files in os.walk(self.data_dir) for n in files
                   if layer.split(":")[1] in n]
        self.assertTrue(on_disk, "blocking removed the cached blob")
        self.px.reset()
        status, headers, _ = self.get(f"/v2/realistic/layers20/blobs/{layer}")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-cache"), "HIT")

    def test_blocked_platform_of_an_index_fails_the_other_pulls(self):
        def pull(arch, name):
            return skopeo.run("--override-arch", arch, "--override-os", "linux", "copy",
                              "--src-tls-verify=false", "--retry-times=0",
                              f"docker://{self.rm.host}/realistic/multi:v1",
                              f"oci:{os.path.join(self.tmp, name)}:t",
                              "--dest-oci-accept-uncompressed-layers", check=False)
        amd = pull("amd64", "amd64")
        self.assertEqual(amd.returncode, 0, amd.stderr)
        with open(os.path.join(self.tmp, "amd64", "index.json")) as f:
            self.assertIn(self.amd64.digest, f.read())
        arm = pull("arm64", "arm64")
        self.assertNotEqual(arm.returncode, 0)
        self.assertIn("denied", (arm.stderr or "").lower() + (arm.stdout or "").lower())
        # The index itself is served.
        status, _, _ = self.get(f"/v2/realistic/multi/manifests/v1")
        self.assertEqual(status, 200)

    def test_a_malformed_line_is_a_config_error_naming_it(self):
        bad = os.path.join(self.tmp, "bad-blocked")
        with open(bad, "w") as f:
            f.write(f"{self.arm64.digest}\n# fine\nsha256:nothex\n")
        cfg = os.path.join(self.tmp, "bad.json")
        with open(cfg, "w") as f:
            json.dump(dict(mirror_config(self.px.url, blocked_digests_file=bad),
                           data_dir=os.path.join(self.tmp, "bad-data"), listen="127.0.0.1:0"), f)
        result = cli(BIN, "serve", "--config", cfg, "--check-config")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(f"{bad}:3:", result.stderr)


@need_binary
class AuditTest(unittest.TestCase):
    """Issue 14, part 3: every request line says client= and user=."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-audit-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "v1", layers=[2000], seed="audit")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "v1", "library/alpine", dest_tag="1")
        cls.password = "pw-" + os.urandom(6).hex()
        htpasswd = os.path.join(cls.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write("alice:" + crypt.crypt(cls.password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)) + "\n")
        tokens = os.path.join(cls.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("tok-secret-1 ci-bot\n")
        cls.auth = Regmirror(BIN, mirror_config(cls.reg.url, access={
            "htpasswd_file": htpasswd, "tokens_file": tokens, "trusted_proxies": ["127.0.0.1/32"]}))
        cls.open = Regmirror(BIN, mirror_config(cls.reg.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("auth", "open", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def request_lines(self, mirror, marker):
        return [l for l in mirror.logs().splitlines() if "event=request" in l and marker in l]

    def test_skopeo_pull_as_alice_is_logged_with_client_and_user(self):
        skopeo.run("copy", "--src-tls-verify=false", "--src-creds", f"alice:{self.password}",
                   f"docker://{self.auth.host}/library/alpine:1", f"oci:{os.path.join(self.tmp, 'a')}:x")
        lines = self.request_lines(self.auth, "route=manifest")
        self.assertTrue(lines, self.auth.logs()[-2000:])
        for line in lines + self.request_lines(self.auth, "route=blob"):
            self.assertIn("client=127.0.0.1 user=alice", line)
        self.assertNotIn(self.password, self.auth.logs())

    def test_token_name_and_forwarded_client_from_a_trusted_proxy(self):
        status, _, _ = proc.http_get(self.auth.url + "/v2/library/alpine/tags/list", headers={
            "Authorization": "Bearer tok-secret-1", "X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
        self.assertEqual(status, 200)
        lines = self.request_lines(self.auth, "route=tags")
        self.assertTrue(any("client=203.0.113.9 user=ci-bot" in l for l in lines), lines)
        self.assertNotIn("tok-secret-1", self.auth.logs())

    def test_anonymous_and_untrusted_forwarded_for(self):
        status, _, _ = proc.http_get(self.open.url + "/v2/library/alpine/manifests/1",
                                     headers=dict(ACCEPT, **{"X-Forwarded-For": "203.0.113.9"}))
        self.assertEqual(status, 200)
        lines = self.request_lines(self.open, "route=manifest")
        self.assertTrue(lines)
        self.assertTrue(all(re.search(r"client=127\.0\.0\.1 user=- ", l) for l in lines), lines)


if __name__ == "__main__":
    unittest.main()
