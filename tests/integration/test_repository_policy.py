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
import signal
import threading
import time
import unittest

from test_referrers import artifact, canon, digest_of, push_blob, push_manifest
from pullcommon import (ACCEPT, BIN, CountingProxy, stream_get, Registry, Regmirror, mirror_config, need_binary,
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
        # The request line is written after the answer: wait for it rather than race it.
        self.rm.wait_log(re.escape(rule_text))

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
        self.auth.wait_log(r"event=request client=127\.0\.0\.1 user=alice .*route=blob")
        lines = self.request_lines(self.auth, "route=manifest")
        self.assertTrue(lines, self.auth.logs()[-2000:])
        for line in lines + self.request_lines(self.auth, "route=blob"):
            self.assertIn("client=127.0.0.1 user=alice", line)
        self.assertNotIn(self.password, self.auth.logs())

    def test_token_name_and_forwarded_client_from_a_trusted_proxy(self):
        status, _, _ = proc.http_get(self.auth.url + "/v2/library/alpine/tags/list", headers={
            "Authorization": "Bearer tok-secret-1", "X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
        self.assertEqual(status, 200)
        # The request line is written after the answer: wait for it rather than race it.
        self.auth.wait_log(r"event=request client=203\.0\.113\.9 user=ci-bot .*route=tags")
        self.assertNotIn("tok-secret-1", self.auth.logs())

    def test_anonymous_and_untrusted_forwarded_for(self):
        status, _, _ = proc.http_get(self.open.url + "/v2/library/alpine/manifests/1",
                                     headers=dict(ACCEPT, **{"X-Forwarded-For": "203.0.113.9"}))
        self.assertEqual(status, 200)
        self.open.wait_log(r"event=request client=127\.0\.0\.1 user=- .*route=manifest")
        lines = self.request_lines(self.open, "route=manifest")
        self.assertTrue(lines)
        self.assertTrue(all(re.search(r"client=127\.0\.0\.1 user=- ", l) for l in lines), lines)


def poll(predicate, deadline: float, what: str):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return time.monotonic() - (end - deadline)
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline}s: {what}")


@need_binary
class ReloadTest(unittest.TestCase):
    """Issue 14, part 4: policy and blocklist reload while serving."""

    def setUp(self):
        self.tmp = tmpdir("rm-reload-")
        self.images = image_set.realistic()
        self.reg = Registry(preload=self.images)
        self.blocklist = os.path.join(self.tmp, "blocked")
        with open(self.blocklist, "w") as f:
            f.write("# none yet\n")
        self.rm = Regmirror(BIN, mirror_config(self.reg.url, blocked_digests_file=self.blocklist))

    def tearDown(self):
        self.rm.close()
        self.reg.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def status(self, path):
        return proc.http_get(self.rm.url + path, headers=ACCEPT)[0]

    def edit_config(self, **docker_io):
        with open(self.rm.config_path) as f:
            cfg = json.load(f)
        cfg["registries"]["docker.io"].update(docker_io)
        with open(self.rm.config_path + ".new", "w") as f:
            json.dump(cfg, f)
        os.replace(self.rm.config_path + ".new", self.rm.config_path)

    def test_policy_edit_takes_effect_without_cutting_a_transfer(self):
        layer = self.images.app.layers[1]  # 30 MiB, read slowly: in flight across the reload
        result = {}
        started = threading.Event()

        def slow(n):
            started.set()
            time.sleep(0.02)

        reader = threading.Thread(target=lambda: result.setdefault("r", stream_get(
            self.rm.port, f"/v2/realistic/app/blobs/{layer.digest}", chunk=256 * 1024, on_chunk=slow)))
        reader.start()
        self.assertTrue(started.wait(30))
        self.assertEqual(self.status("/v2/realistic/app/manifests/v1"), 200)
        self.edit_config(deny=["realistic/**"])
        took = poll(lambda: self.status("/v2/realistic/app/manifests/v1") == 403, 5.0, "deny applied")
        self.assertTrue(reader.is_alive(), "the transfer ended before the reload: nothing proven")
        reader.join(120)
        r = result["r"]
        self.assertTrue(r.complete, r)
        self.assertEqual(r.digest, layer.digest)
        self.rm.wait_log(r"event=policy_reloaded reason=file_changed registries=1 blocked_digests=0")
        print(f"policy edit effective after {took:.2f}s", flush=True)

    def test_bad_policy_keeps_the_old_one(self):
        self.edit_config(allow=["library/*"])
        poll(lambda: self.status("/v2/realistic/app/manifests/v1") == 403, 5.0, "allow applied")
        self.edit_config(allow=["realistic/**", "Bad//glob"])
        self.rm.wait_log(r"event=policy_reload_failed .*Bad//glob.*kept=")
        self.assertEqual(self.status("/v2/realistic/app/manifests/v1"), 403)

    def test_sighup_reloads_the_blocklist_and_a_bad_one_is_kept_out(self):
        digest = self.images.multi.images["linux/arm64"].digest
        path = f"/v2/realistic/multi/manifests/{digest}"
        self.assertEqual(self.status(path), 200)
        before = os.stat(self.blocklist)
        with open(self.blocklist, "w") as f:
            f.write(digest + "\n")
        # Same mtime as before: only the signal can make the server notice.
        os.utime(self.blocklist, ns=(before.st_atime_ns, before.st_mtime_ns))
        time.sleep(1.5)
        self.assertEqual(self.status(path), 200, "reloaded without a signal")
        self.rm._p.send_signal(signal.SIGHUP)
        poll(lambda: self.status(path) == 403, 5.0, "blocklist reloaded on SIGHUP")
        self.rm.wait_log(r"event=policy_reloaded reason=sighup registries=\d+ blocked_digests=1")
        with open(self.blocklist, "w") as f:
            f.write("not-a-digest\n")
        self.rm.wait_log(r"event=policy_reload_failed .*blocked:1: not a digest")
        self.assertEqual(self.status(path), 403)
        self.assertTrue(self.rm.running())


@need_binary
class ClientScopeTest(unittest.TestCase):
    """Issue 14, part 3: access.scopes limits named clients (tokens here) to registries and
    repository globs, and a scoped client cannot read a cached blob or manifest of a repository
    it may not pull through the name of one it may (content is stored once, by digest).

    Tried: two users with disjoint scopes pulling with skopeo (Basic, htpasswd), and the same
    names as bearer tokens over HTTP; each client against the other's
    repository (403, zero upstream requests); alice asking for ci's cached private layer and
    manifest through library/alpine (404 BLOB_UNKNOWN / MANIFEST_UNKNOWN: the real upstream says
    that repository does not hold them); an unscoped token pulling both.
    """

    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-scope-")
        pub, priv = os.path.join(cls.tmp, "pub"), os.path.join(cls.tmp, "priv")
        cls.public = oci_layout.build_image(pub, "v1", layers=[3 << 20], seed="scope-public")
        cls.private = oci_layout.build_image(priv, "v1", layers=[24 << 20], seed="scope-private")
        cls.reg = Registry()
        cls.reg.push_layout(pub, "v1", "library/alpine", dest_tag="1")
        cls.reg.push_layout(priv, "v1", "myorg/private", dest_tag="1")
        cls.px = CountingProxy(cls.reg.url)
        tokens = os.path.join(cls.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("tok-alice alice\ntok-ci ci\ntok-admin admin\n")
        cls.passwords = {u: "pw-" + os.urandom(6).hex() for u in ("alice", "ci", "admin")}
        htpasswd = os.path.join(cls.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            for user, password in cls.passwords.items():
                f.write(user + ":" + crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)) + "\n")
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url, access={
            "tokens_file": tokens, "htpasswd_file": htpasswd,
            "scopes": {"alice": ["docker.io/library/*"], "ci": ["docker.io/myorg/**"]}}))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def get(self, token, path):
        return proc.http_get(self.rm.url + path, headers=dict(ACCEPT, Authorization=f"Bearer {token}"))

    def pull(self, token, repo, dest):
        user = token[len("tok-"):]
        return skopeo.run("copy", "--src-tls-verify=false", "--src-creds", f"{user}:{self.passwords[user]}",
                          f"docker://{self.rm.host}/{repo}:1", f"oci:{os.path.join(self.tmp, dest)}:x",
                          check=False)

    def test_each_token_pulls_only_its_repositories(self):
        self.assertEqual(self.pull("tok-alice", "library/alpine", "a1").returncode, 0)
        self.assertEqual(self.pull("tok-ci", "myorg/private", "c1").returncode, 0)
        self.px.reset()
        for token, repo in (("tok-alice", "myorg/private"), ("tok-ci", "library/alpine")):
            status, _, body = self.get(token, f"/v2/{repo}/manifests/1")
            self.assertEqual(status, 403, body)
            self.assertEqual(oci_codes(body), ["DENIED"])
            self.assertIn("access.scopes", body.decode())
            self.assertNotEqual(self.pull(token, repo, "refused").returncode, 0)
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])
        self.assertEqual(self.pull("tok-admin", "myorg/private", "d1").returncode, 0)
        self.assertEqual(self.pull("tok-admin", "library/alpine", "d2").returncode, 0)

    def test_a_private_blob_is_not_served_through_another_repository(self):
        self.assertEqual(self.pull("tok-ci", "myorg/private", "c2").returncode, 0)
        layer = self.private.layers[0].digest
        # ci's layer is cached; through its own repository alice is refused by scope ...
        self.assertEqual(self.get("tok-alice", f"/v2/myorg/private/blobs/{layer}")[0], 403)
        # ... and through library/alpine, which does not hold it, she gets nothing either.
        status, _, body = self.get("tok-alice", f"/v2/library/alpine/blobs/{layer}")
        self.assertEqual(status, 404, body[:300])
        self.assertEqual(oci_codes(body), ["BLOB_UNKNOWN"])
        status, _, body = self.get("tok-alice", f"/v2/library/alpine/manifests/{self.private.digest}")
        self.assertEqual(status, 404, body[:300])
        self.assertEqual(oci_codes(body), ["MANIFEST_UNKNOWN"])
        # Her own image still pulls, blob by blob, through the same checks.
        self.assertEqual(self.pull("tok-alice", "library/alpine", "a2").returncode, 0)
        status, _, _ = self.get("tok-alice", f"/v2/library/alpine/blobs/{self.public.layers[0].digest}")
        self.assertEqual(status, 200)
        # An unscoped client is not limited: the same private layer through any name it may pull.
        self.assertEqual(self.get("tok-admin", f"/v2/myorg/private/blobs/{layer}")[0], 200)

    def test_a_private_referrer_is_not_listed_through_another_repository(self):
        # ci's SBOM names the public image as its subject; the referrers index is by digest.
        cfg, payload = b"{}", b'{"spdxVersion":"SPDX-2.3","name":"private"}'
        for blob in (cfg, payload):
            push_blob(self.reg, "myorg/private", blob)
        sbom = canon(artifact(self.public, "application/vnd.oci.empty.v1+json", cfg, payload,
                              artifact_type="application/vnd.example.sbom"))
        push_manifest(self.reg, "myorg/private", digest_of(sbom), sbom, oci_layout.MT_MANIFEST)
        status, _, body = self.get("tok-ci", f"/v2/myorg/private/manifests/{digest_of(sbom)}")
        self.assertEqual((status, body), (200, sbom))

        def listed(token, repo):
            status, _, body = self.get(token, f"/v2/{repo}/referrers/{self.public.digest}")
            self.assertEqual(status, 200, body[:300])
            return [d["digest"] for d in json.loads(body)["manifests"]]
        # ci sees it in its repository once the mirror recorded that it holds it (background).
        proc.wait_until(lambda: listed("tok-ci", "myorg/private") == [digest_of(sbom)], 30,
                        what="the SBOM listed for ci")
        self.assertEqual(listed("tok-alice", "library/alpine"), [])
        self.assertEqual(listed("tok-admin", "library/alpine"), [digest_of(sbom)])


@need_binary
class BlockedGcTest(unittest.TestCase):
    """Issue 14, part 2: `cache gc --blocked` removes the cached copies of blocked digests, and
    only those (blocking alone removes nothing)."""

    def setUp(self):
        self.tmp = tmpdir("rm-gcblocked-")
        self.images = image_set.realistic()
        self.reg = Registry(preload=self.images)
        self.data_dir = os.path.join(self.tmp, "data")
        self.blocklist = os.path.join(self.tmp, "blocked")
        self.layers20 = self.images.layers20
        self.bad_layer = self.layers20.layers[3].digest
        with open(self.blocklist, "w") as f:
            f.write(f"{self.layers20.digest}\n{self.bad_layer}\n{self.images.app.layers[0].digest}\n")
        # Cached first, blocked afterwards: what happens when a CVE lands on a pulled image.
        with Regmirror(BIN, mirror_config(self.reg.url), data_dir=self.data_dir) as warm:
            skopeo.copy_to_oci(f"docker://{warm.host}/realistic/layers20:v1",
                               os.path.join(self.tmp, "warm"), tag="t")
        self.rm = Regmirror(BIN, mirror_config(self.reg.url, blocked_digests_file=self.blocklist),
                            data_dir=self.data_dir)

    def tearDown(self):
        self.rm.close()
        self.reg.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def on_disk(self, digest):
        return os.path.exists(os.path.join(self.data_dir, "blobs", "sha256", digest[7:9], digest[7:]))

    def test_gc_blocked_removes_exactly_the_blocked_copies(self):
        kept = self.layers20.layers[0].digest
        self.assertTrue(self.on_disk(self.bad_layer) and self.on_disk(self.layers20.digest))
        out = cli(BIN, "cache", "gc", "--blocked", "--admin", self.rm.admin_url, check=True).stdout
        self.assertIn("3 digests blocked; removed 2 cached", out)  # app's layer was never cached
        self.assertFalse(self.on_disk(self.bad_layer))
        self.assertFalse(self.on_disk(self.layers20.digest))
        self.assertTrue(self.on_disk(kept))
        status, _, body = proc.http_get(self.rm.url + f"/v2/realistic/layers20/blobs/{self.bad_layer}")
        self.assertEqual(status, 403, body)
        self.assertEqual(proc.http_get(self.rm.url + f"/v2/realistic/layers20/blobs/{kept}")[0], 200)
        self.rm.wait_log(rf"event=admin_gc_blocked_removed digest={self.bad_layer}")
        # Again: nothing left to remove.
        again = cli(BIN, "cache", "gc", "--blocked", "--admin", self.rm.admin_url, check=True).stdout
        self.assertIn("removed 0 cached", again)

    def test_without_a_blocklist_gc_blocked_says_so(self):
        with Regmirror(BIN, mirror_config(self.reg.url), data_dir=os.path.join(self.tmp, "d2")) as plain:
            cp = cli(BIN, "cache", "gc", "--blocked", "--admin", plain.admin_url)
            self.assertEqual(cp.returncode, 1)
            self.assertIn("no blocked_digests_file", cp.stderr)


if __name__ == "__main__":
    unittest.main()
