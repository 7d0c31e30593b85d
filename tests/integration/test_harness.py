"""Self-test of the integration harness against REAL parts, without regmirror.

Run:  cd tests/integration && /usr/bin/python3 -m unittest -v test_harness

One distribution registry (module-wide) holds:
  library/small:v1   2 gzip layers (1000 B, 5000 B)
  library/multi:v1   OCI index, linux/amd64 + linux/arm64
  library/big:v1     one 64 MiB uncompressed layer
Containerd tests need root and are skipped otherwise.  The regmirror wrapper
is tested with a tiny fake binary; the real binary is smoke-tested only if
found (REGMIRROR_BIN or build*/regmirror).
"""

import gzip
import hashlib
import json
import http.client
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import oci_layout, proc, skopeo  # noqa: E402
from harness.containerd import Containerd, available as containerd_available, write_hosts_toml  # noqa: E402
from harness.counting_proxy import CountingProxy  # noqa: E402
from harness.regmirror import Regmirror, check_loopback_config, find_binary  # noqa: E402
from harness.upstream import Registry  # noqa: E402

BIG = 64 << 20
S = {}  # module state: tmp, layout, small, multi, big, big_seconds, registry


def setUpModule():
    S["tmp"] = proc.register_tmp(tempfile.mkdtemp(prefix="rm-selftest-"))
    lay = S["layout"] = os.path.join(S["tmp"], "layout")
    S["small"] = oci_layout.build_image(lay, "v1", layers=[1000, 5000], seed="selftest")
    S["multi"] = oci_layout.build_multiarch(lay, "multi", layers=[2000], seed="selftest")
    t = time.monotonic()
    S["big"] = oci_layout.build_image(lay, "big", layers=[BIG], seed="selftest")
    S["big_seconds"] = time.monotonic() - t
    reg = S["registry"] = Registry()
    reg.push_layout(lay, "v1", "library/small", dest_tag="v1")
    reg.push_layout(lay, "multi", "library/multi", dest_tag="v1")
    reg.push_layout(lay, "big", "library/big", dest_tag="v1")


def tearDownModule():
    if "registry" in S:
        S["registry"].close()
    shutil.rmtree(S.get("tmp", "/nonexistent"), ignore_errors=True)


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class TestOciLayout(unittest.TestCase):
    def test_deterministic(self):
        d1, d2 = (os.path.join(S["tmp"], n) for n in ("det1", "det2"))
        a = oci_layout.build_image(d1, "t", layers=[1000, 5000], seed="selftest")
        b = oci_layout.build_image(d2, "t", layers=[1000, 5000], seed="selftest")
        c = oci_layout.build_image(d2, "t", layers=[1000, 5000], seed="other")
        self.assertEqual(a.all_digests, b.all_digests)
        self.assertTrue(set(c.all_digests).isdisjoint(a.all_digests))
        self.assertEqual(len(set(a.all_digests)), 4)

    def test_blobs_match_descriptors(self):
        lay, img = S["layout"], S["small"]
        man = oci_layout.read_blob(lay, img.digest)
        self.assertEqual(sha(man), img.digest)
        self.assertEqual(man, img.manifest_bytes)
        m = json.loads(man)
        self.assertEqual(m["mediaType"], oci_layout.MT_MANIFEST)
        self.assertEqual([l["digest"] for l in m["layers"]], img.layer_digests)
        cfg = json.loads(oci_layout.read_blob(lay, img.config.digest))
        self.assertEqual(cfg["rootfs"]["diff_ids"], [l.diff_id for l in img.layers])
        for layer, size in zip(img.layers, [1000, 5000]):
            p = oci_layout.blob_path(lay, layer.digest)
            self.assertEqual(oci_layout.file_digest(p), layer.digest)
            self.assertEqual(os.path.getsize(p), layer.size)
            self.assertEqual(layer.media_type, oci_layout.MT_LAYER_GZIP)
            with tarfile.open(p) as tf:
                members = tf.getmembers()
                self.assertEqual([(mm.size, mm.isfile()) for mm in members], [(size, True)])
            with gzip.open(p) as g:
                self.assertEqual(sha(g.read()), layer.diff_id)

    def test_big_layer_is_fast_uncompressed_tar(self):
        big = S["big"]
        self.assertLess(S["big_seconds"], 10, "64 MiB layer generation too slow")
        (layer,) = big.layers
        self.assertEqual(layer.media_type, oci_layout.MT_LAYER_TAR)
        self.assertEqual(layer.diff_id, layer.digest)
        self.assertGreater(layer.size, BIG)
        p = oci_layout.blob_path(S["layout"], layer.digest)
        self.assertEqual(os.path.getsize(p), layer.size)
        self.assertEqual(oci_layout.file_digest(p), layer.digest)

    def test_multiarch_index(self):
        multi = S["multi"]
        idx = json.loads(oci_layout.read_blob(S["layout"], multi.digest))
        self.assertEqual(idx["mediaType"], oci_layout.MT_INDEX)
        plats = [(e["platform"]["os"], e["platform"]["architecture"], e["digest"]) for e in idx["manifests"]]
        self.assertEqual(plats, [("linux", "amd64", multi.images["linux/amd64"].digest),
                                 ("linux", "arm64", multi.images["linux/arm64"].digest)])
        self.assertNotEqual(multi.images["linux/amd64"].layer_digests, multi.images["linux/arm64"].layer_digests)
        with open(os.path.join(S["layout"], "index.json")) as f:
            top = json.load(f)
        tags = {e["annotations"][oci_layout.REF_NAME]: e["digest"] for e in top["manifests"]}
        self.assertEqual(tags, {"v1": S["small"].digest, "multi": multi.digest, "big": S["big"].digest})


class ProxyCase(unittest.TestCase):
    """Fresh CountingProxy in front of the module registry for each test."""

    def setUp(self):
        self.reg = S["registry"]
        self.proxy = CountingProxy(self.reg.url)
        self.addCleanup(self.proxy.close)

    def pref(self, repo, tag):
        return f"docker://{self.proxy.host}/{repo}:{tag}"


class TestRegistryAndSkopeo(ProxyCase):
    def test_inspect_through_proxy_gives_layout_digests(self):
        small, multi = S["small"], S["multi"]
        raw = skopeo.inspect(self.pref("library/small", "v1"), raw=True)
        self.assertEqual(raw, small.manifest_bytes)
        info = skopeo.inspect(self.pref("library/small", "v1"))
        self.assertEqual(info["Digest"], small.digest)
        self.assertEqual(info["Layers"], small.layer_digests)
        raw_idx = skopeo.inspect(self.pref("library/multi", "v1"), raw=True)
        self.assertEqual(sha(raw_idx), multi.digest)
        big = skopeo.inspect(self.pref("library/big", "v1"))
        self.assertEqual((big["Digest"], big["Layers"]), (S["big"].digest, S["big"].layer_digests))
        self.assertGreaterEqual(self.proxy.count("GET", r"/v2/library/small/manifests/v1$"), 1)

    def test_manifest_head_headers(self):
        st, h, body = self.reg.get("/v2/library/multi/manifests/v1", method="HEAD",
                                   headers={"Accept": oci_layout.MT_INDEX})
        self.assertEqual(st, 200)
        self.assertEqual(h["docker-content-digest"], S["multi"].digest)
        self.assertEqual(h["content-type"], oci_layout.MT_INDEX)
        self.assertEqual(int(h["content-length"]), S["multi"].index.size)
        self.assertEqual(body, b"")

    def test_stop_and_restart_keeps_port_and_content(self):
        reg = Registry()
        try:
            reg.push_layout(S["layout"], "v1", "x/small")
            port = reg.port
            reg.stop()
            self.assertFalse(proc.port_open(port))
            with self.assertRaises(OSError):
                reg.get("/v2/")
            reg.start()
            self.assertEqual(reg.port, port)
            st, h, _ = reg.get("/v2/x/small/manifests/v1", method="HEAD",
                               headers={"Accept": oci_layout.MT_MANIFEST})
            self.assertEqual((st, h.get("docker-content-digest")), (200, S["small"].digest))
        finally:
            reg.close()

    def test_distribution_proxy_mode(self):
        with Registry(proxy_remote=self.proxy.url) as cache:
            info = skopeo.inspect(f"docker://{cache.host}/library/small:v1")
            self.assertEqual(info["Digest"], S["small"].digest)
            dest = os.path.join(S["tmp"], "via-dist-proxy")
            skopeo.copy_to_oci(f"docker://{cache.host}/library/small:v1", dest, tag="v1")
            n = self.proxy.count("GET", r"/blobs/")
            self.assertGreaterEqual(n, 3)
            shutil.rmtree(dest)
            skopeo.copy_to_oci(f"docker://{cache.host}/library/small:v1", dest, tag="v1")
            self.assertEqual(self.proxy.count("GET", r"/blobs/"), n, "distribution cache re-fetched blobs")

    def test_loopback_guards(self):
        with self.assertRaises(ValueError):
            skopeo.inspect("docker://registry-1.docker.io/library/alpine:3.19")
        with self.assertRaises(ValueError):
            Registry(proxy_remote="https://registry-1.docker.io", start=False)
        with self.assertRaises(ValueError):
            CountingProxy("http://example.com", start=False)
        with self.assertRaises(ValueError):
            proc.http_get("http://10.0.0.1/")


class TestCountingProxy(ProxyCase):
    def test_copy_counts_each_blob_once(self):
        small = S["small"]
        dest = os.path.join(S["tmp"], "copy-count")
        skopeo.copy_to_oci(self.pref("library/small", "v1"), dest, tag="v1")
        for d in small.blob_digests:
            self.assertEqual(self.proxy.count("GET", "/v2/library/small/blobs/" + d), 1, d)
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)
        self.assertEqual(self.proxy.count("GET", r"/blobs/"), len(small.blob_digests))
        self.assertEqual(self.proxy.count("PUT"), 0)
        self.proxy.reset()
        self.assertEqual(self.proxy.count(), 0)

    def test_corrupt_blob_makes_copy_fail(self):
        small = S["small"]
        bad = small.layer_digests[1]
        self.proxy.corrupt_blob(bad)
        dest = os.path.join(S["tmp"], "copy-corrupt")
        with self.assertRaises(proc.CommandError) as cm:
            skopeo.copy_to_oci(self.pref("library/small", "v1"), dest, tag="v1")
        self.assertIn(bad.split(":")[1][:12], cm.exception.result.stderr)
        # same length, different bytes
        st, h, body = proc.http_get(f"{self.proxy.url}/v2/library/small/blobs/{bad}")
        self.assertEqual((st, len(body)), (200, small.layers[1].size))
        self.assertNotEqual(sha(body), bad)
        self.proxy.clear_faults()
        shutil.rmtree(dest, ignore_errors=True)
        skopeo.copy_to_oci(self.pref("library/small", "v1"), dest, tag="v1")
        self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, bad)), bad)

    def test_big_blob_streams_with_keepalive(self):
        layer = S["big"].layers[0]
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=30)
        try:
            socks = []
            for method in ("GET", "HEAD", "GET"):
                conn.request(method, f"/v2/library/big/blobs/{layer.digest}")
                resp = conn.getresponse()
                socks.append(conn.sock)
                self.assertEqual(resp.status, 200)
                self.assertEqual(int(resp.getheader("Content-Length")), layer.size)
                h = hashlib.sha256()
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    h.update(chunk)
                if method == "GET":
                    self.assertEqual("sha256:" + h.hexdigest(), layer.digest)
            self.assertIsNotNone(socks[0])
            self.assertTrue(all(s is socks[0] for s in socks), "connection was not kept alive")
        finally:
            conn.close()
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        self.assertLess(grown_mib, 40, "proxy seems to buffer whole bodies")
        self.assertEqual(self.proxy.count("GET", "/blobs/" + layer.digest), 2)
        self.assertEqual(self.proxy.count("HEAD", "/blobs/"), 1)
        self.assertEqual([r.body_bytes for r in self.proxy.requests("GET")], [layer.size] * 2)

    def test_fail_with_delay_times(self):
        url = f"{self.proxy.url}/v2/library/small/manifests/v1"
        acc = {"Accept": oci_layout.MT_MANIFEST}
        self.proxy.fail_with(429, r"/manifests/", retry_after=7, times=2)
        for _ in range(2):
            st, h, body = proc.http_get(url, headers=acc)
            self.assertEqual((st, h.get("retry-after")), (429, "7"))
            self.assertIn(b"TOOMANYREQUESTS", body)
        st, h, body = proc.http_get(url, headers=acc)
        self.assertEqual((st, sha(body)), (200, S["small"].digest))
        self.proxy.fail_with(500, r"/manifests/", method="GET")
        self.assertEqual(proc.http_get(url, headers=acc)[0], 500)
        self.assertEqual(proc.http_get(url, headers=acc, method="HEAD")[0], 200)
        self.proxy.clear_faults()
        self.proxy.delay(0.7, r"/v2/$", times=1)
        t = time.monotonic()
        self.assertEqual(proc.http_get(self.proxy.url + "/v2/")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.7)
        self.assertEqual([r.status for r in self.proxy.requests(path_regex="/manifests/")],
                         [429, 429, 200, 500, 200])

    def test_cut_after_and_throttle(self):
        layer = S["small"].layers[1]
        path = f"/v2/library/small/blobs/{layer.digest}"
        self.proxy.cut_after(100, path, times=1)
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        with self.assertRaises(http.client.IncompleteRead) as cm:
            resp.read()
        self.assertEqual(len(cm.exception.partial), 100)
        conn.close()
        self.proxy.throttle(10000, path, times=1)
        t = time.monotonic()
        st, _, body = proc.http_get(self.proxy.url + path)
        self.assertEqual((st, sha(body)), (200, layer.digest))
        self.assertGreater(time.monotonic() - t, 0.3)

    def test_down_up(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.port, timeout=10)
        conn.request("GET", "/v2/")
        conn.getresponse().read()
        self.proxy.down()
        with self.assertRaises((http.client.HTTPException, OSError)):
            conn.request("GET", "/v2/")
            conn.getresponse().read()
        conn.close()
        self.assertFalse(proc.port_open(self.proxy.port))
        self.proxy.down("close")
        self.assertTrue(proc.port_open(self.proxy.port))
        with self.assertRaises((http.client.HTTPException, OSError)):
            proc.http_get(self.proxy.url + "/v2/", timeout=5)
        self.proxy.up()
        self.assertEqual(proc.http_get(self.proxy.url + "/v2/")[0], 200)
        # upstream down behind the proxy -> 502
        self.proxy.set_upstream(f"http://127.0.0.1:{proc.free_port()}")
        self.assertEqual(proc.http_get(self.proxy.url + "/v2/")[0], 502)

    def test_redirect_and_header_recording(self):
        with CountingProxy(self.reg.url) as other:
            self.proxy.redirect(r"/blobs/", f"http://localhost:{other.port}")
            layer = S["small"].layers[0]
            path = f"/v2/library/small/blobs/{layer.digest}"
            st, h, _ = proc.http_get(self.proxy.url + path, headers={"Authorization": "Bearer secret"})
            self.assertEqual((st, h["location"]), (307, f"http://localhost:{other.port}{path}"))
            st, _, body = proc.http_get(h["location"])  # a careful client drops Authorization
            self.assertEqual((st, sha(body)), (200, layer.digest))
            self.assertEqual(self.proxy.headers_seen(path)[0]["authorization"], "Bearer secret")
            self.assertNotIn("authorization", other.headers_seen(path)[0])
            self.assertEqual(other.requests()[0].headers["host"], f"localhost:{other.port}")

    def test_respond_unless_auth(self):
        self.proxy.respond(401, r"^/v2/", headers={"WWW-Authenticate": 'Bearer realm="x"'},
                           unless_auth="Bearer good")
        self.assertEqual(proc.http_get(self.proxy.url + "/v2/")[0], 401)
        self.assertEqual(proc.http_get(self.proxy.url + "/v2/", headers={"Authorization": "Bearer good"})[0], 200)


@unittest.skipIf(containerd_available(), containerd_available() or "")
class TestContainerd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctrd = Containerd()
        cls.hosts = proc.register_tmp(tempfile.mkdtemp(prefix="rm-hosts-"))

    @classmethod
    def tearDownClass(cls):
        cls.ctrd.close()
        shutil.rmtree(cls.hosts, ignore_errors=True)

    def setUp(self):
        self.proxy = CountingProxy(S["registry"].url)
        self.addCleanup(self.proxy.close)
        self.addCleanup(self.ctrd.remove_all)
        write_hosts_toml(self.hosts, "docker.io", self.proxy.url)

    def test_hosts_toml_content(self):
        with open(os.path.join(self.hosts, "docker.io", "hosts.toml")) as f:
            text = f.read()
        self.assertIn('server = "http://127.0.0.1:9"', text)
        self.assertIn(f'[host."{self.proxy.url}"]', text)
        self.assertIn('capabilities = ["pull", "resolve"]', text)

    def test_pull_unpack_via_mirror(self):
        small = S["small"]
        self.ctrd.pull("docker.io/library/small:v1", self.hosts)
        self.assertEqual(self.ctrd.image_digest("docker.io/library/small:v1"), small.digest)
        self.assertEqual(set(self.ctrd.content_digests()), set(small.all_digests))
        self.assertEqual(len(self.ctrd.snapshots()), 2)  # one per layer: unpack happened
        reqs = self.proxy.requests()
        self.assertTrue(reqs)
        self.assertTrue(all(r.target.endswith("?ns=docker.io") for r in reqs), [r.target for r in reqs])
        for d in small.blob_digests:
            self.assertEqual(self.proxy.count("GET", f"/v2/library/small/blobs/{d}"), 1)

    def test_pull_multiarch_platform(self):
        multi = S["multi"]
        arm = multi.images["linux/arm64"]
        amd = multi.images["linux/amd64"]
        self.ctrd.pull("docker.io/library/multi:v1", self.hosts, platform="linux/arm64", unpack=False)
        self.assertEqual(self.ctrd.image_digest("docker.io/library/multi:v1"), multi.digest)
        got = set(self.ctrd.content_digests())
        self.assertTrue(set(arm.all_digests) | {multi.digest} <= got, got)
        self.assertTrue(got.isdisjoint(amd.blob_digests))

    def test_pull_big_native_snapshotter(self):
        big = S["big"]
        self.ctrd.pull("docker.io/library/big:v1", self.hosts, snapshotter="native")
        self.assertEqual(self.ctrd.image_digest("docker.io/library/big:v1"), big.digest)
        self.assertEqual(set(self.ctrd.content_digests()), set(big.all_digests))
        self.assertEqual(len(self.ctrd.snapshots("native")), 1)
        self.assertEqual(self.proxy.requests("GET", "/blobs/" + big.layer_digests[0])[0].body_bytes,
                         big.layers[0].size)

    def test_pull_fails_when_mirror_down(self):
        self.proxy.down()
        with self.assertRaises(proc.CommandError) as cm:
            self.ctrd.pull("docker.io/library/small:v1", self.hosts, timeout=60)
        self.assertIn("connection refused", cm.exception.result.stderr)
        self.assertIsNone(self.ctrd.image_digest("docker.io/library/small:v1"))

    def test_pull_fails_on_corrupt_layer(self):
        small = S["small"]
        self.proxy.corrupt_blob(small.layer_digests[0])
        with self.assertRaises(proc.CommandError):
            self.ctrd.pull("docker.io/library/small:v1", self.hosts, timeout=60)
        self.assertNotIn(small.layer_digests[0], self.ctrd.content_digests())


FAKE_SERVER = textwrap.dedent('''\
    #!/usr/bin/python3
    """Stand-in for `regmirror serve --config FILE`: prints the listening line, serves /healthz."""
    import http.server, json, sys
    cfg = json.load(open(sys.argv[sys.argv.index("--config") + 1]))
    host, port = cfg["listen"].rsplit(":", 1)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok\\n"
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    http.server.HTTPServer.allow_reuse_address = True
    srv = http.server.HTTPServer((host, int(port)), H)
    print("event=starting data_dir=" + cfg["data_dir"], flush=True)
    print("level=info event=listening addr=%s:%d" % srv.server_address, file=sys.stderr, flush=True)
    srv.serve_forever()
''')


class TestRegmirrorWrapper(unittest.TestCase):
    CONFIG = {"registries": {"docker.io": {"upstreams": [{"url": "http://127.0.0.1:9"}]}}}

    def test_fake_binary_lifecycle(self):
        fake = os.path.join(S["tmp"], "fake-regmirror")
        with open(fake, "w") as f:
            f.write(FAKE_SERVER)
        os.chmod(fake, 0o755)
        with Regmirror(fake, self.CONFIG) as rm:
            port = rm.port
            self.assertEqual(rm.host, f"127.0.0.1:{port}")
            self.assertEqual(rm.get("/healthz")[0], 200)
            self.assertIn("event=starting data_dir=" + rm.data_dir, rm.logs())
            rm.kill9()
            self.assertFalse(rm.running())
            self.assertFalse(proc.port_open(port))
            rm.start()
            self.assertEqual(rm.port, port)
            self.assertEqual(rm.get("/healthz")[0], 200)
            self.assertEqual(rm.logs().count("event=listening"), 2)
            rm.stop()
            self.assertFalse(proc.port_open(port))

    def test_fake_binary_that_dies(self):
        dead = os.path.join(S["tmp"], "dead-regmirror")
        with open(dead, "w") as f:
            f.write("#!/bin/sh\necho 'error: config: bad key' >&2\nexit 2\n")
        os.chmod(dead, 0o755)
        with self.assertRaises(RuntimeError) as cm:
            Regmirror(dead, self.CONFIG)
        self.assertIn("bad key", str(cm.exception))

    def test_config_guard(self):
        ok = dict(self.CONFIG, listen="127.0.0.1:0")
        check_loopback_config(ok)
        for bad in ({"listen": "0.0.0.0:5000", **self.CONFIG},
                    {"listen": "127.0.0.1:0"},
                    {"listen": "127.0.0.1:0", "registries": {"docker.io": {"upstreams": [
                        {"url": "https://registry-1.docker.io"}]}}},
                    {"listen": "127.0.0.1:0", **self.CONFIG, "storage": {"s3": {"endpoint": "https://s3.amazonaws.com"}}}):
            with self.assertRaises(ValueError, msg=bad):
                check_loopback_config(bad)

    @unittest.skipUnless(find_binary(), "regmirror binary not built")
    def test_real_binary_smoke(self):
        cfg = {"registries": {"docker.io": {"upstreams": [{"url": S["registry"].url}]}}}
        with Regmirror(find_binary(), cfg) as rm:
            self.assertEqual(rm.get("/healthz")[0], 200, rm.logs()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
