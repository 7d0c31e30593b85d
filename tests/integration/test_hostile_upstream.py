"""Hostile upstream answers: each named case gets a clean error (or, where the bytes are
content-addressed and match, the exact bytes), nothing wrong is cached, and once the upstream
behaves again the next request returns the right content.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_hostile_upstream

Upstream: distribution behind a CountingProxy whose respond()/cut_after() rules stand in for a
broken or malicious registry (or a captive portal in front of one).  Images: library/up:v1
(a 3 KiB gzip layer and a 3 MiB plain layer), library/up:v2 (one small layer), and a few more
tags pointing at v1 so each case can start from an uncached tag.
"""

import hashlib
import json
import os
import shutil
import unittest

from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, blob_file, files_named,
                        files_under, invalid_committed_blobs, log_tail, mirror_config, need_binary,
                        oci_codes, oci_layout, proc, push_tag, sha, stream_get, tmpdir,
                        wait_upstream_healthy)

HTML = (b"<!DOCTYPE html><html><head><title>Proxy login</title></head>"
        b"<body><form action=\"/login\">Please sign in</form></body></html>\n")


@need_binary
class TestHostileUpstream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-hostile-up-")
        lay = os.path.join(cls.tmp, "layout")
        cls.lay = lay
        cls.v1 = oci_layout.build_image(lay, "v1", layers=[3000, 3 * MIB], seed="hostile-up-v1")
        cls.v2 = oci_layout.build_image(lay, "v2", layers=[2000], seed="hostile-up-v2")
        cls.v3 = oci_layout.build_image(lay, "v3", layers=[1500], seed="hostile-up-v3")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "v1", "library/up")
        cls.reg.push_layout(lay, "v2", "library/up")
        cls.reg.push_layout(lay, "v3", "library/up")
        for tag in ("lying", "cut", "big", "html", "garbage", "garbage2", "challenge"):
            push_tag(cls.reg, "library/up", tag, cls.v1.manifest_bytes, cls.v1.manifest.media_type)
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not self.rm.running():
            self.rm.start()
        self.px.clear_faults()
        self.px.reset()
        # LIFO: the mirror is alive, the faults go, then its circuit sees the upstream back
        # (a test that made it fail must not leave the next one a cooling-down upstream).
        self.addCleanup(lambda: wait_upstream_healthy(self.rm, "/v2/library/up/tags/list"))
        self.addCleanup(self.px.clear_faults)
        self.addCleanup(self.assert_alive)

    # ------------------------------------------------------------------ helpers
    def assert_alive(self):
        self.assertTrue(self.rm.running(), "regmirror died" + log_tail(self.rm))
        self.assertEqual(self.rm.get("/v2/", timeout=30)[0], 200)

    def manifest(self, ref, method="GET"):
        return self.rm.get(f"/v2/library/up/manifests/{ref}", headers=ACCEPT, method=method, timeout=60)

    def assert_oci_error(self, st, h, body, statuses, codes, what):
        self.assertIn(st, statuses, f"{what}: {st} {body[:300]!r}{log_tail(self.rm)}")
        self.assertTrue(h.get("content-type", "").startswith("application/json"), (what, h))
        self.assertTrue(set(oci_codes(body)) & set(codes), f"{what}: {body[:300]!r}")

    def assert_blob_not_cached(self, digest):
        dd = self.rm.data_dir
        self.assertFalse(os.path.exists(blob_file(dd, digest)), f"{digest} was committed")
        self.assertEqual(files_named(os.path.join(dd, "blobs"), digest.split(":")[1]), [])
        tmp = os.path.join(dd, "tmp")
        try:
            proc.wait_until(lambda: not files_under(tmp), 10, what="data_dir/tmp empty")
        except TimeoutError:
            self.fail(f"partial files left in {tmp}: {files_under(tmp)}{log_tail(self.rm)}")
        self.assertEqual(invalid_committed_blobs(dd), [])

    def assert_manifest_now_correct(self, tag, img, what):
        self.px.clear_faults()
        st, h, body = self.manifest(tag)
        self.assertEqual((st, sha(body)), (200, img.digest), f"{what}: after the upstream recovered"
                                                            + log_tail(self.rm))
        self.assertEqual(h.get("docker-content-digest"), img.digest, what)

    # ------------------------------------------------------------------ manifests
    def test_manifest_with_lying_docker_content_digest_by_tag_is_502(self):
        claimed = sha(b"not these bytes")
        self.px.respond(200, r"/manifests/lying$", body=self.v1.manifest_bytes, method="GET",
                        headers={"Content-Type": self.v1.manifest.media_type, "Docker-Content-Digest": claimed})
        st, h, body = self.manifest("lying")
        self.assert_oci_error(st, h, body, {502}, {"UPSTREAM_INVALID"}, "lying digest by tag")
        self.assertNotEqual(h.get("docker-content-digest"), claimed)
        # the lie was not recorded: the claimed digest is unknown here and upstream
        st, _, body = self.manifest(claimed)
        self.assertEqual(st, 404, body[:300])
        self.assert_manifest_now_correct("lying", self.v1, "lying digest by tag")

    def test_manifest_by_digest_with_other_bytes_is_502(self):
        """The upstream answers a digest request with another image's manifest (bytes valid JSON,
        Docker-Content-Digest honest for those bytes)."""
        rx = "/manifests/" + self.v3.digest + "$"
        self.px.respond(200, rx, body=self.v1.manifest_bytes, method="GET",
                        headers={"Content-Type": self.v1.manifest.media_type,
                                 "Docker-Content-Digest": self.v1.digest})
        st, h, body = self.manifest(self.v3.digest)
        self.assert_oci_error(st, h, body, {502}, {"UPSTREAM_INVALID"}, "other manifest by digest")
        self.assertNotEqual(sha(body), self.v1.digest)
        self.assert_manifest_now_correct(self.v3.digest, self.v3, "other manifest by digest")

    def test_manifest_by_digest_answered_with_html_page_is_502(self):
        cases = [("html_200_text_html", {"Content-Type": "text/html; charset=utf-8"}),
                 ("html_200_claiming_manifest_type", {"Content-Type": self.v2.manifest.media_type}),
                 ("html_200_claiming_the_digest", {"Content-Type": self.v2.manifest.media_type,
                                                   "Docker-Content-Digest": self.v2.digest})]
        for name, headers in cases:
            with self.subTest(upstream=name):
                self.px.clear_faults()
                self.px.respond(200, "/manifests/" + self.v2.digest + "$", body=HTML, headers=headers)
                for method in ("GET", "HEAD"):
                    st, h, body = self.manifest(self.v2.digest, method=method)
                    if method == "GET":
                        self.assert_oci_error(st, h, body, {502}, {"UPSTREAM_INVALID"}, name)
                        self.assertNotIn(b"<html>", body)
                    else:
                        # a HEAD may be answered from the upstream's HEAD, which carries no body
                        # to check; it must still never name another digest
                        self.assertIn(st, {200, 502, 503}, f"{name} HEAD: {st}")
                        if st == 200:
                            self.assertEqual(h.get("docker-content-digest"), self.v2.digest, name)
        self.assert_manifest_now_correct(self.v2.digest, self.v2, "html by digest")

    def test_malformed_json_manifest(self):
        """Bytes that are not a manifest at all (truncated JSON, an HTML page, binary junk) sent
        for a tag get a clean error and are not cached under the tag; the same bytes asked for
        by their own digest are content-addressed and match, so they are the exact answer."""
        junk_cases = [
            ("truncated_json", b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [',
             self.v1.manifest.media_type, "garbage"),
            ("html_page_for_tag", HTML, "text/html", "garbage2"),
        ]
        for name, junk, ctype, tag in junk_cases:
            with self.subTest(upstream=name):
                self.px.clear_faults()
                self.px.respond(200, rf"/manifests/{tag}$", body=junk,
                                headers={"Content-Type": ctype, "Docker-Content-Digest": sha(junk)})
                st, h, body = self.manifest(tag)
                self.assert_oci_error(st, h, body, {502}, {"UPSTREAM_INVALID"}, name)
                self.assert_manifest_now_correct(tag, self.v1, name)

    def test_truncated_manifest_body(self):
        self.px.cut_after(100, r"/manifests/cut$")
        st, h, body = self.manifest("cut")
        self.assert_oci_error(st, h, body, {502, 503}, {"UPSTREAM_INVALID", "UNAVAILABLE"}, "cut manifest")
        self.assertNotEqual(sha(body), self.v1.digest)
        self.assert_manifest_now_correct("cut", self.v1, "cut manifest")

    def test_manifest_over_4_mib_is_refused(self):
        big = json.dumps({"schemaVersion": 2, "mediaType": self.v1.manifest.media_type,
                          "annotations": {"pad": "x" * (5 * MIB)}}).encode()
        self.px.respond(200, r"/manifests/big$", body=big,
                        headers={"Content-Type": self.v1.manifest.media_type, "Docker-Content-Digest": sha(big)})
        st, h, body = self.manifest("big")
        self.assert_oci_error(st, h, body, {502, 503}, {"UPSTREAM_INVALID", "UNAVAILABLE"}, "5 MiB manifest")
        self.assertLess(len(body), 64 * 1024)
        self.assertEqual(files_named(os.path.join(self.rm.data_dir, "blobs"), sha(big).split(":")[1]), [])
        self.assert_manifest_now_correct("big", self.v1, "5 MiB manifest")

    def test_garbage_auth_challenges(self):
        """401s whose WWW-Authenticate is malformed, unterminated, huge, or names a token realm
        that does not answer: a clean error, never a crash or a hang."""
        challenges = [
            ("no_scheme", "=,=,="),
            ("unterminated_quote", 'Bearer realm="http://127.0.0.1:1/token,service="x'),
            ("no_realm", 'Bearer service="registry",scope="repository:library/up:pull"'),
            ("realm_not_a_url", 'Bearer realm="::::",service="x"'),
            ("realm_refused", 'Bearer realm="http://127.0.0.1:1/token",service="x"'),
            ("huge_param", 'Bearer realm="http://127.0.0.1:1/t",service="' + "s" * 6000 + '"'),
            ("many_challenges", ", ".join(["Basic realm=\"r\""] * 300)),
            ("non_utf8", 'Bearer realm="http://127.0.0.1:1/\udcff"'),
        ]
        for name, value in challenges:
            with self.subTest(challenge=name):
                self.px.clear_faults()
                self.px.fail_with(401, r"/manifests/challenge$", headers={
                    "WWW-Authenticate": value.encode("utf-8", "surrogateescape").decode("latin-1")})
                st, h, body = self.manifest("challenge")
                self.assertIn(st, {401, 403, 502, 503}, f"{name}: {st} {body[:300]!r}{log_tail(self.rm)}")
                self.assertTrue(oci_codes(body), f"{name}: not an OCI error body: {body[:300]!r}")
        self.assert_manifest_now_correct("challenge", self.v1, "garbage challenge")

    # ------------------------------------------------------------------ blobs
    def blob_fault_then_recover(self, name, layer, fault):
        path = f"/v2/library/up/blobs/{layer.digest}"
        self.px.clear_faults()
        fault()
        r = stream_get(self.rm.port, path, timeout=60)
        self.assertFalse(r.complete and r.digest != layer.digest,
                         f"{name}: complete body with the WRONG digest {r}")
        self.assertFalse(r.complete, f"{name}: a complete answer although the upstream's bytes were bad {r}")
        if r.status is not None and r.status >= 400:
            self.assertTrue(oci_codes(r.body_prefix), f"{name}: {r.status} without an OCI body")
        self.assert_blob_not_cached(layer.digest)
        self.px.clear_faults()
        r = stream_get(self.rm.port, path, timeout=60)
        self.assertTrue(r.complete and r.status == 200, f"{name}: after recovery {r}{log_tail(self.rm)}")
        self.assertEqual(r.digest, layer.digest, name)
        self.assertTrue(os.path.exists(blob_file(self.rm.data_dir, layer.digest)), name)

    def test_truncated_upstream_blob_body_is_resumed(self):
        # Cut once after 1 MiB: the mirror continues from the byte reached (Range), the client
        # gets the whole, right body, and it is cached.
        layer = self.v1.layers[1]  # 3 MiB
        path = f"/v2/library/up/blobs/{layer.digest}"
        self.px.clear_faults()
        self.px.reset()
        self.px.cut_after(MIB, "/blobs/" + layer.digest, times=1)
        r = stream_get(self.rm.port, path, timeout=60)
        self.assertTrue(r.complete and r.status == 200, f"{r}{log_tail(self.rm)}")
        self.assertEqual(r.digest, layer.digest)
        ranges = [g.headers.get("range") for g in self.px.requests("GET", "/blobs/" + layer.digest)]
        self.assertEqual(ranges, [None, f"bytes={MIB}-{layer.size - 1}"])
        self.rm.wait_log(rf"event=blob_cached\b.*{layer.digest}")
        self.assertTrue(os.path.exists(blob_file(self.rm.data_dir, layer.digest)))

    def test_blob_answered_with_html_page(self):
        layer = self.v1.layers[0]
        self.blob_fault_then_recover(
            "html_200", layer,
            lambda: self.px.respond(200, "/blobs/" + layer.digest, body=HTML,
                                    headers={"Content-Type": "text/html", "Docker-Content-Digest": layer.digest}))

    def test_blob_with_same_length_wrong_bytes(self):
        layer = self.v2.layers[0]
        junk = hashlib.shake_256(b"junk").digest(layer.size)
        self.blob_fault_then_recover(
            "same_length_junk", layer,
            lambda: self.px.respond(200, "/blobs/" + layer.digest, body=junk,
                                    headers={"Content-Type": "application/octet-stream",
                                             "Docker-Content-Digest": layer.digest}))


if __name__ == "__main__":
    unittest.main(verbosity=2)
