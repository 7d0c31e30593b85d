"""Issue 4: the Docker Hub password never leaks; JSON log lines carry the request fields.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_dockerhub_logs

Upstream: tests/fakes/docker_hub.py (user "me" with a random password, CDN redirect, 429 after
4 GET manifests of the account) in front of docker-registry.
  * TestSecretsNeverLeak: regmirror (text logs) with ``password_file`` and a second one with a
    wrong password; every response the test received (bodies and headers, errors included),
    /metrics, /readyz, /healthz and the logs of both are searched for the password, for
    base64("me:<password>") and for the wrong password.
  * TestJsonLogs: ``"log_format": "json"``: every line is a JSON object with ts, level, event;
    request lines for manifests and blobs carry registry, repo, ref, status and (when answered
    from or into the cache) cache; the password is not in them either.
"""

import base64
import json
import os
import re
import shutil
import time
import unittest

from harness import skopeo
from test_dockerhub_fake import (ACCEPT, BIN, HubSetup, JsonAwareRegmirror, Regmirror, Transcript,
                                 hub_config, oci_codes, proc, random_password, write_secret)

TTL_SLEEP = 1.1
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


def log_tail(rm, n=3000):
    return "\n--- regmirror log tail ---\n" + rm.logs()[-n:]


def secret_forms(user: str, password: str):
    """Every form in which a password could leak: as is, and inside a Basic header value."""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"password": password, "basic credentials": basic}


class _Scenario(unittest.TestCase):
    """Runs a pull scenario that touches every path a secret could travel on."""
    s = None
    rms = ()

    @classmethod
    def setup_hub(cls, prefix):
        cls.pw = random_password()
        specs = [("library/sec", f"t{i}", f"{prefix}-{i}", (700 + i, 20000 + i)) for i in range(1, 6)]
        cls.s = HubSetup(specs, users={"me": cls.pw}, authenticated_limit=200, limit_after=4,
                         window_seconds=30, cdn=True)
        cls.hub = cls.s.hub
        cls.pw_file = write_secret(cls.s.tmp, cls.pw)

    @classmethod
    def tearDownClass(cls):
        for rm in cls.rms:
            rm.close()
        if cls.s is not None:
            cls.s.close()

    def run_scenario(self, rm, t: Transcript):
        """miss, hit, blobs via the CDN, 404 tag, invalid name, expired token, STALE, 429.
        Returns the first image of t1 (the tag is re-pushed on the way)."""
        m = "/v2/library/sec/manifests/"
        img1 = self.s.images[("library/sec", "t1")]
        for path, method in (("/v2/", "GET"), (m + "t1", "GET"), (m + "t1", "GET"), (m + "t1", "HEAD"),
                             (m + img1.digest, "GET")):
            st, _, body = t.request(rm.url, path, ACCEPT, method)
            self.assertEqual(st, 200, f"{method} {path}: {body[:300]!r}{log_tail(rm)}")
        for b in img1.blob_digests:
            st, _, _ = t.request(rm.url, f"/v2/library/sec/blobs/{b}")
            self.assertEqual(st, 200, log_tail(rm))
        dest = os.path.join(self.s.tmp, "skopeo-t2")
        shutil.rmtree(dest, ignore_errors=True)
        t.add(skopeo.copy_to_oci(f"docker://{rm.host}/library/sec:t2", dest, check=False).stderr)
        st, _, body = t.request(rm.url, m + "does-not-exist", ACCEPT)   # GET 3: upstream 404
        self.assertEqual(st, 404)
        st, _, body = t.request(rm.url, "/v2/Bad..Name/manifests/x", ACCEPT)
        self.assertEqual(st, 400, f"invalid name: {body[:200]!r}")
        self.hub.expire_tokens()
        st, _, body = t.request(rm.url, m + "t3", ACCEPT)                # GET 4, after a 401
        self.assertEqual(st, 200, f"{body[:300]!r}{log_tail(rm)}")
        self.s.push("library/sec", "t1", "sec-1-new-" + str(time.monotonic()), (333,))
        time.sleep(TTL_SLEEP)
        st, h, body = t.request(rm.url, m + "t1", ACCEPT)                # 429 upstream -> STALE
        self.assertEqual((st, h.get("x-cache")), (200, "STALE"), log_tail(rm))
        st, _, body = t.request(rm.url, m + "t5", ACCEPT)                # 429 to the client
        self.assertEqual((st, oci_codes(body)), (429, ["TOOMANYREQUESTS"]), log_tail(rm))
        for path in ("/metrics", "/readyz", "/healthz"):
            st, _, _ = t.request(rm.url, path)
            self.assertEqual(st, 200, path)
        return img1

    def assert_no_secret(self, haystack: bytes, where: str, forms):
        for what, value in forms.items():
            self.assertNotIn(value.encode(), haystack, f"the {what} appears in {where}")


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestSecretsNeverLeak(_Scenario):
    @classmethod
    def setUpClass(cls):
        cls.setup_hub("secret")
        try:
            cls.rm = Regmirror(BIN, hub_config(cls.hub.url, ttl=1, username="me", password_file=cls.pw_file))
            cls.rms = (cls.rm,)
        except BaseException:
            cls.s.close()
            raise

    def test_password_appears_in_no_log_metric_readyz_or_response(self):
        t = Transcript()
        self.run_scenario(self.rm, t)
        self.assertGreaterEqual(self.hub.token_requests_by["me"], 2, "credentials were not used")
        forms = secret_forms("me", self.pw)
        self.assert_no_secret(t.blob(), "a response regmirror sent", forms)
        self.assert_no_secret(self.rm.logs().encode(), "regmirror's log", forms)
        for path in ("/metrics", "/readyz", "/healthz"):
            st, h, body = proc.http_get(self.rm.url + path)
            self.assert_no_secret(json.dumps(h).encode() + body, path, forms)
        self.assertIn(b"regmirror_upstream_requests_total", proc.http_get(self.rm.url + "/metrics")[2])

    def test_wrong_password_error_path_leaks_neither_password(self):
        wrong = random_password()
        path = write_secret(self.s.tmp, wrong, name="wrong")
        t = Transcript()
        with Regmirror(BIN, hub_config(self.hub.url, username="me", password_file=path)) as rm:
            failures = self.hub.token_failures
            for p in ("/v2/library/sec/manifests/t1", "/v2/library/sec/manifests/t2",
                      "/v2/library/sec/blobs/" + self.s.images[("library/sec", "t1")].config.digest,
                      "/metrics", "/readyz"):
                st, _, body = t.request(rm.url, p, ACCEPT)
                if "/v2/" in p:
                    self.assertNotEqual(st, 200, f"{p} with a wrong password")
                    self.assertTrue(oci_codes(body), f"{p}: not an OCI error body: {body[:300]!r}")
            logs = rm.logs().encode()
        self.assertGreater(self.hub.token_failures, failures, "the wrong password was never tried")
        for user_pw in (wrong, self.pw):
            forms = secret_forms("me", user_pw)
            self.assert_no_secret(t.blob(), "an error response", forms)
            self.assert_no_secret(logs, "the log of the wrong-password regmirror", forms)


@unittest.skipUnless(BIN, "regmirror binary not found (set REGMIRROR_BIN)")
class TestJsonLogs(_Scenario):
    @classmethod
    def setUpClass(cls):
        cls.setup_hub("json")
        try:
            cls.rm = JsonAwareRegmirror(BIN, hub_config(cls.hub.url, ttl=1, username="me",
                                                        password_file=cls.pw_file, log_format="json"))
            cls.rms = (cls.rm,)
        except BaseException:
            cls.s.close()
            raise

    def test_every_line_is_json_and_request_lines_have_the_fields(self):
        t = Transcript()
        img1 = self.run_scenario(self.rm, t)
        # The last logged request of the scenario is t5's 429: wait until the log has it.
        self.rm.wait_log(r'"t5"[^\n]*"429"|"t5"[^\n]*:429\b', timeout=30)
        docs = []
        for no, line in enumerate(self.rm.logs().splitlines(), 1):
            if line.startswith("---- start "):  # the harness's own marker
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                self.fail(f"log line {no} is not JSON: {line[:300]!r}")
            self.assertIsInstance(doc, dict, f"line {no}")
            for key in ("ts", "level", "event"):
                self.assertIsInstance(doc.get(key), str, f"line {no} lacks {key}: {line[:300]}")
            self.assertRegex(doc["ts"], TS, f"line {no}")
            self.assertIn(doc["level"], ("debug", "info", "warn", "warning", "error"), f"line {no}")
            docs.append(doc)
        self.assertTrue(any(d["event"] == "listening" for d in docs))
        reqs = [d for d in docs if d["event"] == "request" and "/" in str(d.get("repo", ""))]
        self.assertGreaterEqual(len(reqs), 10, f"too few request lines with a repo: {reqs}")
        for d in reqs:
            for key in ("registry", "repo", "ref", "status"):
                self.assertIn(key, d, f"request line without {key}: {d}")
            self.assertEqual(d["registry"], "docker.io", d)
            self.assertRegex(str(d["status"]), r"^\d{3}$", d)
            if str(d["status"]) == "200":
                self.assertIn(d.get("cache"), ("HIT", "MISS", "STALE"), f"200 without cache outcome: {d}")

        def find(ref, status, cache=None):
            return [d for d in reqs if d["repo"] == "library/sec" and d["ref"] == ref
                    and str(d["status"]) == status and (cache is None or d.get("cache") == cache)]
        self.assertTrue(find("t1", "200", "MISS"), "no MISS line for t1")
        self.assertTrue(find("t1", "200", "HIT"), "no HIT line for t1")
        self.assertTrue(find("t1", "200", "STALE"), "no STALE line for t1")
        self.assertTrue(find("does-not-exist", "404"), "no 404 line")
        self.assertTrue(find("t5", "429"), "no 429 line")
        self.assertTrue(find(img1.config.digest, "200"), "no request line for a blob")
        forms = secret_forms("me", self.pw)
        self.assert_no_secret(self.rm.logs().encode(), "the JSON log", forms)
        self.assert_no_secret(t.blob(), "a response", forms)


if __name__ == "__main__":
    unittest.main()
