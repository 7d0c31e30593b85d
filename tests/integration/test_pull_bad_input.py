"""Bad input gets clear OCI errors (never forwarded upstream) and the server keeps serving;
bad configs are rejected by `serve --check-config` and by `serve` before it listens.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_bad_input

Upstream: distribution behind a CountingProxy with library/alpine:3.19.  Requests with odd
paths are sent raw (http.client / socket) so nothing normalises them on the way.
"""

import http.client
import json
import os
import shutil
import subprocess
import unittest

from pullcommon import (ACCEPT, BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_codes, oci_layout, proc, raw_request, sha, skopeo, tmpdir)
from harness.regmirror import cli


@need_binary
class TestBadRequests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-badin-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "3.19", layers=[4000, 70000], seed="badinput")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "3.19", "library/alpine")
        cls.px = CountingProxy(cls.reg.url)
        # a second name for the same upstream, keyed host:port (ns=127.0.0.1%3APORT)
        cls.ns_name = f"127.0.0.1:{cls.reg.port}"
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url, extra={
            cls.ns_name: {"upstreams": [{"url": cls.px.url}]}}))
        # cache the image so range tests have a known cached blob
        st, _, body = cls.rm.get(f"/v2/library/alpine/blobs/{cls.img.layers[1].digest}")
        assert st == 200 and sha(body) == cls.img.layers[1].digest, st
        cls.layer_bytes = body

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not self.rm.running() or not proc.port_open(self.rm.port):
            # an earlier test crashed it (that test failed): carry on with a new process
            proc.wait_until(lambda: not self.rm.running(), 10, what="crashed regmirror exit")
            self.rm.start()
        self.px.reset()
        self.addCleanup(self.assert_still_serving)

    def assert_still_serving(self):
        self.assertTrue(self.rm.running(), "regmirror died" + log_tail(self.rm))
        st, h, body = self.rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, timeout=30)
        self.assertEqual((st, sha(body)), (200, self.img.digest), log_tail(self.rm))

    def raw(self, method, target, headers=None):
        """One request with ``target`` sent verbatim (no normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.rm.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def assert_oci_error(self, method, target, status, code, headers=None):
        st, h, body = self.raw(method, target, headers)
        self.assertEqual(st, status, f"{method} {target}: {body[:300]!r}")
        self.assertIn(code, oci_codes(body), f"{method} {target}: {body[:300]!r}")
        self.assertTrue(h.get("content-type", "").startswith("application/json"), (target, h))
        return h

    # ------------------------------------------------------------------ names
    def test_invalid_names_400(self):
        long_comp = "a" * 300
        targets = [
            "/v2/../x/manifests/t",
            "/v2/library/../x/manifests/t",
            "/v2/library/alpine/../../../etc/manifests/passwd",
            "/v2/./alpine/manifests/3.19",
            "/v2/Library/Alpine/manifests/3.19",
            "/v2/library/ALPINE/blobs/" + self.img.layers[0].digest,
            f"/v2/{long_comp}/manifests/t",
            f"/v2/library/{long_comp}/blobs/{self.img.layers[0].digest}",
            "/v2/a//b/manifests/t",
            "/v2/-alpine/manifests/t",
            "/v2/alp%2Fine/manifests/t",
            "/v2/alpine_/manifests/t",
            "/v2/library/alpine/tags/../manifests/3.19",
            "/v2/" + "/".join(["a"] * 200) + "/manifests/t",
        ]
        for t in targets:
            with self.subTest(target=t[:80]):
                self.assert_oci_error("GET", t, 400, "NAME_INVALID")
        self.assert_oci_error("GET", "/v2/../x/tags/list", 400, "NAME_INVALID")
        self.assertEqual(self.px.count(), 0, [r.target for r in self.px.requests()])

    # ------------------------------------------------------------------ tags and digests
    def test_invalid_tags_and_digests_404(self):
        cases = [
            ("/v2/library/alpine/manifests/.INVALID", "MANIFEST_UNKNOWN"),
            ("/v2/library/alpine/manifests/-dash", "MANIFEST_UNKNOWN"),
            ("/v2/library/alpine/manifests/" + "t" * 129, "MANIFEST_UNKNOWN"),
            ("/v2/library/alpine/manifests/sha256:totallywrong", "MANIFEST_UNKNOWN"),
            ("/v2/library/alpine/blobs/sha256:totallywrong", "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/sha256:" + "a" * 63, "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/sha256:" + "A" * 64, "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/sha256:" + "g" * 64, "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/notadigest", "BLOB_UNKNOWN"),
            ("/v2/library/alpine/blobs/sha256:../../../../etc/passwd", "BLOB_UNKNOWN"),
        ]
        for target, code in cases:
            for method in ("GET", "HEAD"):
                with self.subTest(method=method, target=target[:80]):
                    st, h, body = self.raw(method, target, ACCEPT)
                    self.assertEqual(st, 404, f"{method} {target}: {body[:300]!r}")
                    if method == "GET":
                        self.assertIn(code, oci_codes(body), body[:300])
        # answered by the mirror itself, never forwarded
        self.assertEqual(self.px.count(), 0, [r.target for r in self.px.requests()])

    # ------------------------------------------------------------------ Range
    def test_bad_range_416(self):
        layer = self.img.layers[1]
        size = layer.size
        path = f"/v2/library/alpine/blobs/{layer.digest}"
        for rng in ("bytes=abc", "bytes=5-1", f"bytes={size}-", f"bytes={size + 10}-{size + 20}",
                    "bytes=-", "items=0-10", "bytes=--5"):
            with self.subTest(range=rng):
                st, h, body = self.raw("GET", path, {"Range": rng})
                self.assertEqual(st, 416, f"Range {rng}: {body[:200]!r}")
                self.assertEqual(h.get("content-range"), f"bytes */{size}", rng)
        self.assertEqual(self.px.count("GET", "/blobs/"), 0)

    def test_good_ranges(self):
        layer = self.img.layers[1]
        size, data = layer.size, self.layer_bytes
        path = f"/v2/library/alpine/blobs/{layer.digest}"
        for rng, lo, hi in (("bytes=10-19", 10, 19), ("bytes=100-", 100, size - 1),
                            (f"bytes=0-{size + 100}", 0, size - 1), ("bytes=-50", size - 50, size - 1),
                            (f"bytes={size - 1}-", size - 1, size - 1)):
            with self.subTest(range=rng):
                st, h, body = self.raw("GET", path, {"Range": rng})
                self.assertEqual(st, 206, rng)
                self.assertEqual(h.get("content-range"), f"bytes {lo}-{hi}/{size}", rng)
                self.assertEqual(int(h.get("content-length")), hi - lo + 1)
                self.assertEqual(body, data[lo:hi + 1], rng)
                self.assertNotIn("content-encoding", h)
        # an uncached blob with an open-ended range (containerd 2.1 style): 206 and the right bytes
        cfg = self.img.config
        st, h, body = self.raw("GET", f"/v2/library/alpine/blobs/{cfg.digest}", {"Range": "bytes=7-"})
        full = oci_layout.read_blob(os.path.join(self.tmp, "layout"), cfg.digest)
        self.assertEqual((st, h.get("content-range"), body), (206, f"bytes 7-{cfg.size - 1}/{cfg.size}", full[7:]),
                         log_tail(self.rm))

    # ------------------------------------------------------------------ routing by ns
    def test_ns_unconfigured_registry_404(self):
        # ?ns= naming a registry that is not configured, and a path prefix naming one
        for target in ("/v2/library/alpine/manifests/3.19?ns=unknown.example.com",
                       f"/v2/library/alpine/blobs/{self.img.config.digest}?ns=quay.io",
                       "/v2/library/alpine/tags/list?ns=unknown.example.com",
                       "/v2/quay.io/coreos/flannel/manifests/v0.14.0"):
            with self.subTest(target=target):
                if not self.rm.running():
                    self.rm.start()
                self.assert_oci_error("GET", target, 404, "NAME_UNKNOWN", ACCEPT)
                # the server survives answering it
                st = None
                try:
                    st = self.rm.get("/v2/", timeout=10)[0]
                except OSError:
                    # let it finish dying so the next case starts a fresh one
                    proc.wait_until(lambda: not self.rm.running(), 10, what="crashed regmirror exit")
                self.assertEqual(st, 200, f"server gone after {target}{log_tail(self.rm, 600)}")
        self.assertEqual(self.px.count(), 0)

    def test_ns_configured_registries(self):
        # URL-encoded ns naming a configured host:port registry is decoded and echoed
        port = self.reg.port
        st, h, body = self.raw("GET", f"/v2/library/alpine/manifests/3.19?ns=127.0.0.1%3A{port}", ACCEPT)
        self.assertEqual((st, sha(body)), (200, self.img.digest), log_tail(self.rm))
        self.assertEqual(h.get("oci-namespace"), self.ns_name)
        st, h, body = self.raw("GET", "/v2/library/alpine/manifests/3.19?ns=docker.io", ACCEPT)
        self.assertEqual((st, h.get("oci-namespace"), sha(body)), (200, "docker.io", self.img.digest))

    # ------------------------------------------------------------------ push methods
    def test_push_methods_405(self):
        d = self.img.layers[0].digest
        for method, target in (("PUT", "/v2/library/alpine/manifests/evil"),
                               ("PUT", f"/v2/library/alpine/blobs/uploads/x?digest={d}"),
                               ("POST", "/v2/library/alpine/blobs/uploads/"),
                               ("PATCH", "/v2/library/alpine/blobs/uploads/0123"),
                               ("DELETE", f"/v2/library/alpine/manifests/{self.img.digest}"),
                               ("DELETE", f"/v2/library/alpine/blobs/{d}")):
            with self.subTest(method=method, target=target):
                self.assert_oci_error(method, target, 405, "UNSUPPORTED",
                                      {"Content-Type": "application/octet-stream", "Content-Length": "0"})
        self.assertEqual(self.px.count(), 0)
        # nothing was deleted upstream or in the cache
        st, _, body = self.reg.get(f"/v2/library/alpine/manifests/{self.img.digest}", headers=ACCEPT)
        self.assertEqual((st, sha(body)), (200, self.img.digest))

    # ------------------------------------------------------------------ malformed HTTP
    def test_huge_header_431_and_next_connection_served(self):
        req = (b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (20 * 1024) + b"\r\n\r\n")
        st, h, body = raw_request(self.rm.port, req)
        self.assertEqual(st, 431, body[:200])
        st, h, body = raw_request(self.rm.port, b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(st, 200)

    def test_garbage_request_and_next_connection_served(self):
        for junk in (b"GARBAGE\r\n\r\n", b"GET /v2/ HTTP/9.9\r\n\r\n", b"\x00\xff\x16\x03\x01\x02\x00\r\n\r\n",
                     b"GET /v2/ HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):
            with self.subTest(junk=junk[:20]):
                try:
                    st, h, body = raw_request(self.rm.port, junk, timeout=10)
                except OSError:
                    st = None  # the server hanging up is fine
                self.assertIn(st, (None, 400, 505), junk)
                self.assertEqual(raw_request(self.rm.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")[0], 200)

    def test_z_real_client_pull_after_bad_input(self):
        dest = os.path.join(self.tmp, "after")
        skopeo.copy_to_oci(f"docker://{self.rm.host}/library/alpine:3.19", dest, tag="t")
        for d in self.img.all_digests:
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)


@need_binary
class TestBadConfig(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-badcfg-it-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def good(self):
        return {"listen": f"127.0.0.1:{proc.free_port()}", "data_dir": os.path.join(self.tmp, "data"),
                "default_registry": "docker.io",
                "registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}], "tag_ttl_seconds": 5},
                               "registry.k8s.io": {"aliases": ["k8s.gcr.io"], "upstreams": [
                                   {"url": "http://127.0.0.1:9", "path": "container_service/{basename}"}]}}}

    def write(self, name, cfg):
        p = os.path.join(self.tmp, name + ".json")
        with open(p, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        return p

    def bad_cases(self):
        g = self.good
        c1 = g(); c1["listn"] = "127.0.0.1:1"
        c2 = g(); c2["registries"]["docker.io"]["tag_ttl"] = 5
        c3 = g(); c3["registries"]["docker.io"]["upstreams"][0]["pth"] = "{repo}"
        c4 = g(); c4["registries"]["docker.io"]["upstreams"][0]["url"] = "ftp://127.0.0.1:21"
        c5 = g(); c5["listen"] = "127.0.0.1:notaport"
        c6 = g(); c6["listen"] = "127.0.0.1:70000"
        c7 = g(); c7["registries"]["registry.k8s.io"]["upstreams"][0]["path"] = "container_service/{nope}"
        c8 = g(); c8["registries"]["registry.k8s.io"]["upstreams"][0]["path"] = "container_service/{basename"
        c9 = g(); c9["registries"]["docker.io"]["tag_ttl_seconds"] = "soon"
        c10 = g(); c10["registries"]["docker.io"]["upstreams"][0]["url"] = "not a url"
        return [("unknown_top", c1, "listn"), ("unknown_registry_key", c2, "tag_ttl"),
                ("unknown_upstream_key", c3, "pth"), ("url_scheme", c4, "url"),
                ("listen_port_text", c5, "listen"), ("listen_port_range", c6, "listen"),
                ("path_placeholder", c7, "path"), ("path_unclosed", c8, "path"),
                ("ttl_type", c9, "tag_ttl_seconds"), ("url_garbage", c10, "url"),
                ("invalid_json", '{"listen": "127.0.0.1:0", ', None)]

    def test_good_config_checks_ok(self):
        cp = cli(BIN, "serve", "--check-config", "--config", self.write("good", self.good()), timeout=30)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr)

    def test_check_config_rejects(self):
        for name, cfg, key in self.bad_cases():
            with self.subTest(case=name):
                cp = cli(BIN, "serve", "--check-config", "--config", self.write(name, cfg), timeout=30)
                out = (cp.stdout + cp.stderr).strip()
                self.assertEqual(cp.returncode, 2, f"{name}: rc={cp.returncode} {out}")
                lines = [l for l in out.splitlines() if l.strip()]
                self.assertEqual(len(lines), 1, f"{name}: not a one-line message: {out!r}")
                if key:
                    self.assertIn(key, out, name)
                self.assertNotIn("event=listening", out)

    def test_serve_rejects_before_listening(self):
        for name, cfg, key in self.bad_cases():
            if isinstance(cfg, str):
                continue
            with self.subTest(case=name):
                port = proc.free_port()
                if cfg.get("listen", "").endswith(("notaport", "70000")):
                    port = None
                else:
                    cfg["listen"] = f"127.0.0.1:{port}"
                try:
                    cp = cli(BIN, "serve", "--config", self.write(name + "-serve", cfg), timeout=15)
                except subprocess.TimeoutExpired as e:
                    self.fail(f"{name}: serve kept running with a bad config: {e.stdout!r} {e.stderr!r}")
                out = cp.stdout + cp.stderr
                self.assertEqual(cp.returncode, 2, f"{name}: {out}")
                self.assertIn(key, out)
                self.assertNotIn("event=listening", out)
                if port:
                    self.assertFalse(proc.port_open(port))


if __name__ == "__main__":
    unittest.main(verbosity=2)
