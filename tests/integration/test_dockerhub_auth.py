"""Issue 4: anonymous and authenticated pulls from a Docker-Hub-like upstream through regmirror.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_dockerhub_auth

Upstream: tests/fakes/docker_hub.py (token auth, ratelimit headers, blob CDN redirect) in front of
a real docker-registry.  Three regmirrors share it: anonymous, ``password_file`` and
``password_env`` (user "me").  The fake counts GET/HEAD manifests per principal ("anonymous" /
"me"), so these tests prove whose quota a pull spends; its CDN counts Authorization headers.
"""

import os
import shutil
import unittest

from harness import skopeo
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml
from test_dockerhub_fake import (ACCEPT, ANONYMOUS, BIN, HubSetup, Regmirror, hub_config, oci_codes,
                                 proc, random_password, scrape, metric_value, sha, write_secret)

PW_ENV = "REGMIRROR_TEST_DOCKERHUB_PASSWORD"


def log_tail(rm, n=3000):
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestDockerHubCredentials(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pw = random_password()
        specs = [("library/alpine", "3.19", "auth-alpine", (2000, 300000)),
                 ("library/busybox", "1.36", "auth-busybox", (900, 50000)),
                 ("library/nginx", "1.25", "auth-nginx", (1200, 80000)),
                 ("library/redis", "7", "auth-redis", (700,)),
                 ("library/ctrd", "v1", "auth-ctrd", (2500, 40000)),
                 ("library/tokrepo", "a", "auth-tok-a", (600,)),
                 ("library/tokrepo", "b", "auth-tok-b", (650,)),
                 ("library/expire", "a", "auth-exp-a", (610,)),
                 ("library/expire", "b", "auth-exp-b", (660,))]
        cls.s = HubSetup(specs, users={"me": cls.pw}, anonymous_limit=100,
                         authenticated_limit=200, cdn=True)
        cls.hub = cls.s.hub
        cls.pw_file = write_secret(cls.s.tmp, cls.pw)
        cls.rms = []
        cls.anon = cls._rm(hub_config(cls.hub.url))
        cls.auth = cls._rm(hub_config(cls.hub.url, username="me", password_file=cls.pw_file))
        os.environ[PW_ENV] = cls.pw  # the harness passes os.environ to regmirror
        try:
            cls.env = cls._rm(hub_config(cls.hub.url, username="me", password_env=PW_ENV))
        finally:
            del os.environ[PW_ENV]

    @classmethod
    def _rm(cls, cfg):
        try:
            rm = Regmirror(BIN, cfg)
        except BaseException:
            cls.tearDownClass()
            raise
        cls.rms.append(rm)
        return rm

    @classmethod
    def tearDownClass(cls):
        for rm in getattr(cls, "rms", []):
            rm.close()
        cls.s.close()

    def setUp(self):
        self.hub.reset_counters()

    def copy(self, rm, path, name):
        dest = os.path.join(self.s.tmp, name)
        shutil.rmtree(dest, ignore_errors=True)
        try:
            skopeo.copy_to_oci(f"docker://{rm.host}/{path}", dest, tag="t")
        except proc.CommandError as e:
            raise AssertionError(f"skopeo copy {path} via {rm.url} failed: {e}{log_tail(rm)}")
        return dest

    def assert_layout_has(self, dest, img):
        for d in img.all_digests:
            p = os.path.join(dest, "blobs", "sha256", d.split(":", 1)[1])
            self.assertTrue(os.path.exists(p), f"{d} missing in {dest}")
            with open(p, "rb") as f:
                self.assertEqual(sha(f.read()), d)

    def gauges(self, rm):
        _, _, samples = scrape(rm)
        lab = {"registry": "docker.io", "upstream": self.hub.url}
        return (metric_value(samples, "regmirror_upstream_ratelimit_limit", **lab),
                metric_value(samples, "regmirror_upstream_ratelimit_remaining", **lab))

    # ------------------------------------------------------------------ anonymous
    def test_anonymous_pull_spends_the_anonymous_quota(self):
        img = self.s.images[("library/alpine", "3.19")]
        dest = self.copy(self.anon, "library/alpine:3.19", "anon")
        self.assert_layout_has(dest, img)
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 1,
                         f"one GET manifest for one single-arch pull; fake saw {self.hub.requests}")
        self.assertEqual(self.hub.manifest_gets["me"], 0)
        self.assertEqual(self.hub.token_requests_by["me"], 0, "anonymous config sent credentials")
        self.assertEqual(self.gauges(self.anon), (100.0, float(self.hub.last_ratelimit[1])),
                         "ratelimit gauges must show the anonymous limit and the last remaining")

    # ------------------------------------------------------------------ password_file
    def test_authenticated_pull_spends_the_account_quota(self):
        img = self.s.images[("library/busybox", "1.36")]
        dest = self.copy(self.auth, "library/busybox:1.36", "auth")
        self.assert_layout_has(dest, img)
        self.assertEqual(self.hub.manifest_gets["me"], 1, f"fake saw {self.hub.requests}")
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS], 0,
                         "a pull with credentials must not spend the anonymous quota")
        self.assertEqual(self.hub.manifest_heads[ANONYMOUS], 0)
        self.assertGreaterEqual(self.hub.token_requests_by["me"], 1)
        self.assertEqual(self.hub.token_requests_by[ANONYMOUS], 0,
                         "regmirror with credentials asked for anonymous tokens")
        self.assertEqual(self.hub.token_failures, 0)
        limit, remaining = self.gauges(self.auth)
        self.assertEqual(limit, 200.0, "the authenticated account's limit is the one reported")
        self.assertEqual(remaining, float(self.hub.last_ratelimit[1]))
        self.assertEqual(self.hub.last_ratelimit[0], 200)

    def test_blobs_follow_the_cdn_redirect_without_authorization(self):
        img = self.s.images[("library/nginx", "1.25")]
        st, h, body = self.auth.get("/v2/library/nginx/manifests/1.25", headers=ACCEPT)
        self.assertEqual((st, h.get("docker-content-digest")), (200, img.digest), log_tail(self.auth))
        for b in img.blob_digests:
            st, h, body = self.auth.get(f"/v2/library/nginx/blobs/{b}")
            self.assertEqual(st, 200, f"blob {b}: {body[:300]!r}{log_tail(self.auth)}")
            self.assertEqual(sha(body), b)
            self.assertEqual(int(h["content-length"]), len(body))
        self.assertEqual(self.hub.blob_requests["GET"], len(img.blob_digests),
                         "one upstream GET per uncached blob")
        self.assertEqual(self.hub.cdn_requests, len(img.blob_digests),
                         f"every blob must come from the CDN; fake saw {self.hub.requests}")
        self.assertEqual(self.hub.cdn_auth_headers, 0,
                         "regmirror sent Authorization to the CDN host (must be dropped cross-host)")

    def test_token_is_cached_per_scope(self):
        first = self.copy(self.auth, "library/tokrepo:a", "tok-1")
        self.assert_layout_has(first, self.s.images[("library/tokrepo", "a")])
        tokens_after_first = self.hub.token_requests_by["me"]
        self.assertGreaterEqual(tokens_after_first, 1)
        scopes = [s for p, ss in self.hub.token_scopes for s in ss]
        self.assertIn("repository:library/tokrepo:pull", scopes)
        second = self.copy(self.auth, "library/tokrepo:b", "tok-2")
        self.assert_layout_has(second, self.s.images[("library/tokrepo", "b")])
        self.assertEqual(self.hub.token_requests_by["me"], tokens_after_first,
                         "a second pull of the same repository within expires_in fetched a new token")
        self.assertEqual(self.hub.manifest_gets["me"], 2)

    def test_expired_token_is_renewed(self):
        self.copy(self.auth, "library/expire:a", "exp-1")
        before = self.hub.token_requests_by["me"]
        self.assertGreaterEqual(before, 1)
        self.hub.expire_tokens()
        img = self.s.images[("library/expire", "b")]
        st, h, body = self.auth.get("/v2/library/expire/manifests/b", headers=ACCEPT)
        self.assertEqual(st, 200, f"{body[:300]!r}{log_tail(self.auth)}")
        self.assertEqual(h.get("docker-content-digest"), img.digest)
        self.assertGreater(self.hub.token_requests_by["me"], before)

    # ------------------------------------------------------------------ password_env
    def test_password_env_authenticates(self):
        img = self.s.images[("library/redis", "7")]
        dest = self.copy(self.env, "library/redis:7", "env")
        self.assert_layout_has(dest, img)
        self.assertEqual(self.hub.manifest_gets, {"me": 1}, f"fake saw {self.hub.requests}")
        self.assertEqual(self.hub.token_failures, 0)

    # ------------------------------------------------------------------ wrong password
    def test_wrong_password_fails_without_echoing_it(self):
        wrong = random_password()
        path = write_secret(self.s.tmp, wrong, name="wrong-token")
        with Regmirror(BIN, hub_config(self.hub.url, username="me", password_file=path)) as rm:
            st, h, body = rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
            logs = rm.logs()
        self.assertNotEqual(st, 200, "a wrong password must not give a manifest")
        self.assertGreaterEqual(st, 400)
        self.assertTrue(oci_codes(body), f"error must be an OCI error body, got {body[:300]!r}")
        self.assertGreaterEqual(self.hub.token_failures, 1, "regmirror never tried the password")
        self.assertEqual(self.hub.manifest_gets["me"] + self.hub.manifest_gets[ANONYMOUS], 0)
        seen = (str(st) + repr(h)).encode() + body
        for secret in (wrong, self.pw):
            self.assertNotIn(secret.encode(), seen, "password echoed in the error response")
            self.assertNotIn(secret, logs, "password written to the log")

    # ------------------------------------------------------------------ containerd
    @unittest.skipIf(containerd_available(), containerd_available() or "")
    def test_containerd_pull_with_credentials(self):
        img = self.s.images[("library/ctrd", "v1")]
        hosts = os.path.join(self.s.tmp, "hosts")
        write_hosts_toml(hosts, "docker.io", self.auth.url)
        with Containerd() as ctrd:
            try:
                ctrd.pull("docker.io/library/ctrd:v1", hosts)
            except proc.CommandError as e:
                raise AssertionError(f"ctr pull failed: {e}{log_tail(self.auth)}"
                                     f"\n--- containerd ---\n{ctrd.logs()[-2000:]}")
            self.assertEqual(ctrd.image_digest("docker.io/library/ctrd:v1"), img.digest)
            self.assertEqual(set(ctrd.content_digests()), set(img.all_digests))
        self.assertEqual(self.hub.manifest_gets[ANONYMOUS] + self.hub.manifest_heads[ANONYMOUS], 0)
        self.assertEqual(self.hub.manifest_gets["me"], 1,
                         f"containerd HEAD+GET by digest must cost one upstream GET: {self.hub.requests}")
        self.assertEqual(self.hub.cdn_auth_headers, 0)
        self.assertEqual(self.hub.cdn_requests, len(img.blob_digests))


if __name__ == "__main__":
    unittest.main()
