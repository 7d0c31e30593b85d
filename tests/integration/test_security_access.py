"""Issue 6: HTTPS with a self-signed CA, client access control, connection cap, metrics port.

Real clients: skopeo with --src-cert-dir and containerd with hosts.toml `ca` pull through
regmirror over HTTPS; a client outside the CIDR list gets 403, one without (or with wrong)
credentials gets 401; past max_connections a client gets 503 and the server keeps serving.
"""

from __future__ import annotations

import base64
import crypt
import http.client
import os
import socket
import ssl
import subprocess
import time
import unittest

from pullcommon import (ACCEPT, BIN, Registry, Regmirror, need_binary, oci_layout, proc, sha,
                        skopeo, tmpdir)
from harness import containerd


def make_ca_and_cert(directory: str) -> tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    ca_key, ca_crt = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt")
    key, csr, crt = (os.path.join(directory, n) for n in ("server.key", "server.csr", "server.crt"))
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
        ca_crt, "-days", "2", "-subj", "/CN=regmirror-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
        "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def https_get(port: int, path: str, ca: str, headers=None) -> tuple[int, dict, bytes]:
    context = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@need_binary
class HttpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tmpdir("rm-tls-")
        cls.ca, cls.crt, cls.key = make_ca_and_cert(cls.work)
        cls.upstream = Registry()
        layout = os.path.join(cls.work, "layout")
        cls.image = oci_layout.build_image(layout, "v1", layers=[2048, 300_000], seed="tls")
        cls.upstream.push_layout(layout, "v1", "library/alpine", dest_tag="3.19")
        cls.mirror = Regmirror(BIN, {
            "listen": "127.0.0.1:0",
            "registries": {"docker.io": {"upstreams": [{"url": cls.upstream.url}]}},
            "tls": {"cert": cls.crt, "key": cls.key},
        })

    @classmethod
    def tearDownClass(cls):
        cls.mirror.close()
        cls.upstream.close()

    def test_plain_http_is_not_answered_as_http(self):
        status = None
        try:
            status, _, _ = proc.http_get(self.mirror.url + "/v2/")
        except Exception:  # noqa: BLE001 - a TLS server drops a plain HTTP request
            pass
        self.assertNotEqual(status, 200)

    def test_https_api_with_the_ca(self):
        status, headers, body = https_get(self.mirror.port, "/v2/library/alpine/manifests/3.19",
                                          self.ca, ACCEPT)
        self.assertEqual(status, 200)
        self.assertEqual(headers["docker-content-digest"], self.image.digest)
        self.assertEqual(sha(body), self.image.digest)
        # An untrusted client refuses the certificate.
        with self.assertRaises(ssl.SSLError):
            https_get(self.mirror.port, "/v2/", ssl.get_default_verify_paths().cafile or self.crt)

    def test_skopeo_pulls_over_https_with_cert_dir(self):
        cert_dir = os.path.join(self.work, "certs")
        os.makedirs(cert_dir, exist_ok=True)
        with open(self.ca, "rb") as src, open(os.path.join(cert_dir, "ca.crt"), "wb") as dst:
            dst.write(src.read())
        dest = os.path.join(self.work, "out-skopeo")
        skopeo.run("copy", "--src-cert-dir", cert_dir, "--src-tls-verify=true",
                   f"docker://{self.mirror.host}/library/alpine:3.19", f"oci:{dest}:x")
        with open(os.path.join(dest, "index.json")) as f:
            self.assertIn(self.image.digest, f.read())

    def test_containerd_pulls_over_https_with_hosts_toml_ca(self):
        reason = containerd.available()
        if reason:
            self.fail(f"containerd unavailable: {reason}")
        hosts = os.path.join(self.work, "hosts")
        containerd.write_hosts_toml(hosts, "docker.io", f"https://{self.mirror.host}",
                                    extra=f'  ca = "{self.ca}"\n')
        with containerd.Containerd() as daemon:
            daemon.pull("docker.io/library/alpine:3.19", hosts)
            self.assertEqual(daemon.image_digest("docker.io/library/alpine:3.19"), self.image.digest)


@need_binary
class AccessControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tmpdir("rm-access-")
        cls.upstream = Registry()
        layout = os.path.join(cls.work, "layout")
        cls.image = oci_layout.build_image(layout, "v1", layers=[1024], seed="access")
        cls.upstream.push_layout(layout, "v1", "library/alpine", dest_tag="3.19")
        cls.password = "s3cret-" + os.urandom(6).hex()
        htpasswd = os.path.join(cls.work, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write("# users\nnode:" + crypt.crypt(cls.password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)) + "\n")
        tokens = os.path.join(cls.work, "tokens")
        with open(tokens, "w") as f:
            f.write("token-one\n")
        registries = {"docker.io": {"upstreams": [{"url": cls.upstream.url}]}}
        cls.auth = Regmirror(BIN, {"listen": "127.0.0.1:0", "registries": registries,
                                   "access": {"htpasswd_file": htpasswd, "tokens_file": tokens}})
        cls.denied = Regmirror(BIN, {"listen": "127.0.0.1:0", "registries": registries,
                                     "access": {"allow_cidrs": ["10.0.0.0/8", "::1/128"]}})
        cls.allowed = Regmirror(BIN, {"listen": "127.0.0.1:0", "registries": registries,
                                      "access": {"allow_cidrs": ["127.0.0.0/8"]}})

    @classmethod
    def tearDownClass(cls):
        for m in (cls.auth, cls.denied, cls.allowed):
            m.close()
        cls.upstream.close()

    def manifest(self, mirror, headers=None):
        h = dict(ACCEPT)
        h.update(headers or {})
        return proc.http_get(mirror.url + "/v2/library/alpine/manifests/3.19", headers=h)

    def test_address_outside_the_allow_list_gets_403(self):
        status, _, body = self.manifest(self.denied)
        self.assertEqual(status, 403)
        self.assertIn(b"DENIED", body)
        # Probes stay reachable for kubelet.
        self.assertEqual(proc.http_get(self.denied.url + "/healthz")[0], 200)
        status, _, _ = self.manifest(self.allowed)
        self.assertEqual(status, 200)

    def test_credentials_are_required_and_checked(self):
        for name, headers in [
            ("no credentials", {}),
            ("wrong password", {"Authorization": "Basic " + base64.b64encode(b"node:nope").decode()}),
            ("unknown user", {"Authorization": "Basic " + base64.b64encode(
                f"ghost:{self.password}".encode()).decode()}),
            ("garbage basic", {"Authorization": "Basic !!!"}),
            ("wrong token", {"Authorization": "Bearer token-two"}),
        ]:
            with self.subTest(name):
                status, headers_out, body = self.manifest(self.auth, headers)
                self.assertEqual(status, 401)
                self.assertIn(b"UNAUTHORIZED", body)
                self.assertIn("basic", headers_out.get("www-authenticate", "").lower())
        good_basic = base64.b64encode(f"node:{self.password}".encode()).decode()
        for name, headers in [("basic", {"Authorization": "Basic " + good_basic}),
                              ("bearer", {"Authorization": "Bearer token-one"})]:
            with self.subTest(name):
                status, _, body = self.manifest(self.auth, headers)
                self.assertEqual(status, 200)
                self.assertEqual(sha(body), self.image.digest)
        self.assertNotIn(self.password, self.auth.logs())

    def test_skopeo_with_credentials(self):
        dest = os.path.join(self.work, "out")
        skopeo.run("copy", "--src-tls-verify=false", "--src-creds", f"node:{self.password}",
                   f"docker://{self.auth.host}/library/alpine:3.19", f"oci:{dest}:x")
        with self.assertRaises(proc.CommandError) as anonymous:
            skopeo.run("copy", "--src-tls-verify=false",
                       f"docker://{self.auth.host}/library/alpine:3.19", f"oci:{dest}-anon:x")
        self.assertIn("unauthorized", str(anonymous.exception).lower())


@need_binary
class ConnectionCapTest(unittest.TestCase):
    def test_past_the_cap_clients_get_503_and_the_server_recovers(self):
        upstream = Registry()
        mirror = Regmirror(BIN, {"listen": "127.0.0.1:0",
                                 "registries": {"docker.io": {"upstreams": [{"url": upstream.url}]}},
                                 "limits": {"max_connections": 4}})
        held = []
        try:
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", mirror.port), timeout=5)
                held.append(s)
                # One answered request each: the server has accepted and counted the connection
                # (no sleep that hopes it did); keep-alive keeps it open and counted.
                s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200"))
            extra = socket.create_connection(("127.0.0.1", mirror.port), timeout=5)
            extra.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = extra.recv(4096)
            extra.close()
            self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer[:80])
            for s in held:
                s.close()
            # The server notices the closes on its own time: poll until a slot is free again.
            proc.wait_until(lambda: proc.http_get(mirror.url + "/v2/")[0] == 200, 10,
                            what="a free connection slot after closing the held ones")
        finally:
            for s in held:
                s.close()
            mirror.close()
            upstream.close()


@need_binary
class MetricsListenerTest(unittest.TestCase):
    def test_metrics_on_their_own_port(self):
        upstream = Registry()
        port = proc.free_port()
        mirror = Regmirror(BIN, {"listen": "127.0.0.1:0", "metrics_listen": f"127.0.0.1:{port}",
                                 "registries": {"docker.io": {"upstreams": [{"url": upstream.url}]}}})
        try:
            proc.wait_until(lambda: proc.port_open(port), 10, 0.05, "metrics listener")
            status, _, body = proc.http_get(f"http://127.0.0.1:{port}/metrics")
            self.assertEqual(status, 200)
            self.assertIn(b"# TYPE regmirror_inflight_downloads gauge", body)
            self.assertEqual(proc.http_get(mirror.url + "/metrics")[0], 404)
        finally:
            mirror.close()
            upstream.close()


if __name__ == "__main__":
    unittest.main()
