"""Clients that go away at any moment cost only their own connection.

Production clients vanish mid-transfer all the time: containerd cancels a pull, a node reboots,
a kubelet times out, a range fetcher closes early. Before the fix, the first client that reset
its socket while the mirror was sendfile()ing a cached blob ended the whole process with
SIGPIPE (exit 141), taking every node's pulls down with it. The mirror is started the way an
operator starts it (default signal dispositions, see harness/regmirror.py).

What is tried, against production-sized blobs (a 256 MiB cached layer, the 200 MiB layer of the
realistic set as a cold shared download):
  - 200 connections on the cached blob: they read part of the body (whole requests and open
    ranges) and then reset (RST) or close, send a partial request head and reset, send a
    request and reset before reading, or reset after a HEAD;
  - 50 connections join a cold download that another client streams to the end, read part of
    it and reset or close: that client still gets every byte right, the upstream serves the
    blob once, and it is cached;
  - two wrk runs end with 64 connections cut mid-body;
  - over TLS: resets during the handshake and mid-body;
  - over TLS, one kept-alive connection carries a manifest, a HEAD, a range, an error and the
    whole 256 MiB blob (TLS records go straight from OpenSSL to the socket, see
    proxy/server/tls_socket_writer.hpp);
  - a client that stops reading mid-body, over plain TCP and over TLS: the mirror waits for
    the socket without spinning (CPU time measured over the stall) and drops the connection
    once write_timeout passes with no progress;
after each, the mirror is alive, healthy, and serves the whole blob correctly.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import image_set
from pullcommon import (BIN, MIB, CountingProxy, Registry, Regmirror, mirror_config, need_binary,
                        oci_layout, proc, stream_get, tmpdir)

BIG = 256 * MIB


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, as a killed or rebooted client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def request_bytes(path: str, method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def read_some(sock: socket.socket, nbytes: int) -> int:
    got = 0
    while got < nbytes:
        data = sock.recv(min(256 * 1024, nbytes - got))
        if not data:
            break
        got += len(data)
    return got


@need_binary
class ClientHangupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tmpdir("rm-hangup-")
        cls.images = image_set.realistic()
        cls.registry = Registry(preload=cls.images)
        layout = os.path.join(cls.work, "layout")
        cls.big = oci_layout.build_image(layout, "v1", layers=[BIG], seed="hangup-256")
        cls.registry.push_layout(layout, "v1", "hangup/big")
        cls.blob = cls.big.layers[0]
        cls.blob_path = f"/v2/hangup/big/blobs/{cls.blob.digest}"
        cls.proxy = CountingProxy(cls.registry.url)
        cls.mirror = Regmirror(BIN, mirror_config(cls.proxy.url))

    @classmethod
    def tearDownClass(cls):
        for closer in (cls.mirror.close, cls.proxy.close, cls.registry.close):
            closer()
        shutil.rmtree(cls.work, ignore_errors=True)

    def assert_alive_and_whole(self, mirror: Regmirror, path: str, digest: str, size: int):
        """The process runs, /healthz answers, and the whole blob comes back correct."""
        self.assertTrue(mirror.running(), f"mirror died (rc={mirror.returncode()}):\n"
                        + mirror.logs()[-3000:])
        self.assertEqual(mirror.get("/healthz")[0], 200)
        whole = stream_get(mirror.port, path, timeout=120)
        self.assertTrue(whole.complete, whole)
        self.assertEqual((whole.nbytes, whole.digest), (size, digest))

    def cache_big_blob(self):
        r = stream_get(self.mirror.port, self.blob_path, timeout=120)
        self.assertTrue(r.complete, r)
        self.assertEqual(r.digest, self.blob.digest)

    # ------------------------------------------------------------------ cached blob
    def hang_up_once(self, kind: str, rng: random.Random) -> None:
        sock = socket.create_connection(("127.0.0.1", self.mirror.port), timeout=30)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            if kind == "partial-head":
                sock.sendall(request_bytes(self.blob_path)[:rng.randint(5, 40)])
                time.sleep(rng.random() * 0.05)
                return reset(sock)
            if kind == "reset-before-reading":
                sock.sendall(request_bytes(self.blob_path))
                return reset(sock)
            if kind == "head":
                sock.sendall(request_bytes(self.blob_path, "HEAD"))
                read_some(sock, 200)
                return reset(sock)
            extra = ""
            if kind.startswith("range"):
                extra = f"Range: bytes={rng.randint(0, self.blob.size - 1)}-\r\n"
            sock.sendall(request_bytes(self.blob_path, extra=extra))
            read_some(sock, rng.randint(1, 8 * MIB))
            if kind.endswith("close"):
                sock.close()
            else:
                reset(sock)
        finally:
            sock.close()

    def test_1_resets_and_closes_mid_body_of_a_cached_blob(self):
        self.cache_big_blob()
        kinds = (["body-reset"] * 80 + ["body-close"] * 40 + ["range-reset"] * 20 +
                 ["range-close"] * 10 + ["partial-head"] * 20 + ["reset-before-reading"] * 20 +
                 ["head"] * 10)
        self.assertEqual(len(kinds), 200)
        rng = random.Random(1234)
        random.Random(99).shuffle(kinds)
        seeds = [rng.randint(0, 1 << 30) for _ in kinds]
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(lambda ks: self.hang_up_once(ks[0], random.Random(ks[1])),
                          zip(kinds, seeds)))
        self.assert_alive_and_whole(self.mirror, self.blob_path, self.blob.digest, self.blob.size)

    # ------------------------------------------------------------------ shared cold download
    def test_2_hang_ups_on_a_shared_cold_download_leave_it_running_and_cached(self):
        layer = self.images.app.layers[2]  # the 200 MiB layer, not cached yet
        path = f"/v2/realistic/app/blobs/{layer.digest}"
        self.proxy.reset()
        self.proxy.throttle(60 * MIB, path_regex=f"/blobs/{layer.digest}")
        survivor = {}
        first_bytes = threading.Event()

        def stream_to_the_end():
            survivor["r"] = stream_get(self.mirror.port, path, timeout=180,
                                       on_chunk=lambda n: first_bytes.set())
        reader = threading.Thread(target=stream_to_the_end)
        reader.start()
        self.assertTrue(first_bytes.wait(60), "the survivor got no byte of the cold download")

        def join_and_leave(i: int):
            sock = socket.create_connection(("127.0.0.1", self.mirror.port), timeout=60)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                sock.sendall(request_bytes(path))
                read_some(sock, (i % 5 + 1) * 256 * 1024)
                if i % 3 == 0:
                    sock.close()
                else:
                    reset(sock)
            finally:
                sock.close()
        with ThreadPoolExecutor(max_workers=50) as pool:
            list(pool.map(join_and_leave, range(50)))
        reader.join(180)
        r = survivor["r"]
        self.assertTrue(r.complete, r)
        self.assertEqual(r.digest, layer.digest)
        self.mirror.wait_log(rf"event=blob_cached\b.*{layer.digest}", timeout=60)
        self.assertEqual(self.proxy.count("GET", f"/blobs/{layer.digest}"), 1,
                         "the shared download was restarted or duplicated")
        status, headers, _ = self.mirror.get(path, method="HEAD")
        self.assertEqual((status, headers.get("x-cache")), (200, "HIT"))
        self.proxy.clear_faults()
        self.assert_alive_and_whole(self.mirror, path, layer.digest, layer.size)

    # ------------------------------------------------------------------ wrk
    def test_3_wrk_runs_ending_on_64_connections_mid_body(self):
        wrk = shutil.which("wrk")
        self.assertIsNotNone(wrk, "wrk is not installed (scripts/install-deps.sh installs it)")
        self.cache_big_blob()
        for run in range(2):
            out = subprocess.run([wrk, "-t2", "-c64", "-d2s", "--timeout", "10s",
                                  self.mirror.url + self.blob_path],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertTrue(self.mirror.running(), f"mirror died after wrk run {run + 1} "
                            f"(rc={self.mirror.returncode()}):\n{self.mirror.logs()[-3000:]}")
        self.assert_alive_and_whole(self.mirror, self.blob_path, self.blob.digest, self.blob.size)

    # ------------------------------------------------------------------ TLS
    def test_4_resets_during_tls_handshakes_and_mid_body(self):
        cert, key = self.make_cert()
        config = mirror_config(self.proxy.url, tls={"cert": cert, "key": key})
        with Regmirror(BIN, config) as mirror:
            context = ssl.create_default_context(cafile=cert)

            def tls_get(partial: bool):
                raw = socket.create_connection(("127.0.0.1", mirror.port), timeout=30)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                if partial:
                    sock.sendall(request_bytes(self.blob_path)[:20])
                else:
                    sock.sendall(request_bytes(self.blob_path))
                    read_some(sock, 2 * MIB)
                reset(sock)  # wrap_socket took over raw's descriptor

            # The first full read caches the blob on this mirror (a miss through TLS).
            status = tls_get_whole(mirror.port, context, self.blob_path)
            self.assertEqual(status, (200, self.blob.size, self.blob.digest))

            def handshake_cut(i: int):
                raw = socket.create_connection(("127.0.0.1", mirror.port), timeout=30)
                if i % 2 == 0:
                    reset(raw)  # before the ClientHello
                    return
                # A ClientHello's first bytes, then a reset in the middle of the handshake.
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                hello = outgoing.read()
                raw.sendall(hello[:len(hello) // 2] if i % 4 == 1 else hello)
                if i % 4 == 3:
                    raw.recv(1024)  # the server's first flight, then gone
                reset(raw)

            with ThreadPoolExecutor(max_workers=25) as pool:
                list(pool.map(handshake_cut, range(50)))
                list(pool.map(lambda i: tls_get(i % 3 == 0), range(50)))
            self.assertTrue(mirror.running(), mirror.logs()[-3000:])
            self.assertEqual(tls_get_whole(mirror.port, context, self.blob_path),
                             (200, self.blob.size, self.blob.digest))

    def test_5_one_kept_alive_tls_connection_carries_every_kind_of_answer(self):
        cert, key = self.make_cert()
        config = mirror_config(self.proxy.url, tls={"cert": cert, "key": key})
        with Regmirror(BIN, config) as mirror:
            import http.client
            context = ssl.create_default_context(cafile=cert)
            conn = http.client.HTTPSConnection("127.0.0.1", mirror.port, context=context,
                                               timeout=120)
            accept = "application/vnd.oci.image.manifest.v1+json"

            def ask(method: str, path: str, headers=None):
                conn.request(method, path, headers=headers or {})
                resp = conn.getresponse()
                return resp.status, dict(resp.getheaders()), resp.read()

            try:
                status, headers, body = ask("GET", "/v2/hangup/big/manifests/v1", {"Accept": accept})
                self.assertEqual(status, 200, body)
                self.assertEqual(body, self.big.manifest_bytes)
                self.assertEqual(headers.get("Docker-Content-Digest"), self.big.digest)
                status, headers, body = ask("HEAD", self.blob_path)
                self.assertEqual((status, body), (200, b""))
                self.assertEqual(int(headers["Content-Length"]), self.blob.size)
                status, headers, body = ask("GET", self.blob_path, {"Range": "bytes=1000-1999"})
                self.assertEqual(status, 206, body[:200])
                with open(os.path.join(self.big.dir, "blobs", "sha256",
                                       self.blob.digest.split(":")[1]), "rb") as f:
                    f.seek(1000)
                    self.assertEqual(body, f.read(1000))
                status, _, body = ask("GET", "/v2/hangup/big/manifests/sha256:" + "0" * 64)
                self.assertEqual(status, 404)
                self.assertIn(b"MANIFEST_UNKNOWN", body)
                conn.request("GET", self.blob_path)
                resp = conn.getresponse()
                import hashlib
                h, n = hashlib.sha256(), 0
                while data := resp.read(1 << 20):
                    h.update(data)
                    n += len(data)
                self.assertEqual((resp.status, n, "sha256:" + h.hexdigest()),
                                 (200, self.blob.size, self.blob.digest))
                status, _, body = ask("GET", "/v2/")  # still the same connection
                self.assertEqual(status, 200, body)
            finally:
                conn.close()

    def test_6_a_client_that_stops_reading_is_dropped_after_write_timeout_without_spinning(self):
        cert, key = self.make_cert()
        write_timeout = 3
        limits = {"write_timeout_seconds": write_timeout}
        for tls in (False, True):
            extra = {"tls": {"cert": cert, "key": key}} if tls else {}
            with self.subTest(tls=tls), Regmirror(BIN, mirror_config(self.proxy.url, limits=limits,
                                                                    **extra)) as mirror:
                context = ssl.create_default_context(cafile=cert)
                if tls:
                    self.assertEqual(tls_get_whole(mirror.port, context, self.blob_path)[0], 200)
                else:
                    self.assertTrue(stream_get(mirror.port, self.blob_path, timeout=120).complete)
                raw = socket.create_connection(("127.0.0.1", mirror.port), timeout=30)
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
                try:
                    sock.sendall(request_bytes(self.blob_path))
                    self.assertGreater(read_some(sock, 1 * MIB), 0)
                    # Stop reading: the server's socket fills and its writes must wait.
                    cpu_before, stalled_at = process_cpu_seconds(mirror.pid), time.monotonic()
                    deadline = stalled_at + write_timeout + 30
                    while established_server_side(mirror.port) > 0:
                        self.assertLess(time.monotonic(), deadline,
                                        "a client that reads nothing was never dropped")
                        time.sleep(0.1)
                    stalled_for = time.monotonic() - stalled_at
                    cpu_used = process_cpu_seconds(mirror.pid) - cpu_before
                    self.assertGreaterEqual(stalled_for, write_timeout - 0.5,
                                            "dropped before write_timeout passed")
                    self.assertLess(cpu_used, 0.5 * stalled_for,
                                    f"{cpu_used:.2f} s of CPU in {stalled_for:.1f} s of waiting "
                                    "for a full socket: the write loop spins")
                finally:
                    sock.close()
                self.assertTrue(mirror.running(), mirror.logs()[-3000:])
                if tls:
                    self.assertEqual(tls_get_whole(mirror.port, context, self.blob_path),
                                     (200, self.blob.size, self.blob.digest))
                else:
                    self.assert_alive_and_whole(mirror, self.blob_path, self.blob.digest,
                                                self.blob.size)

    def test_7_a_refused_request_head_over_tls_gets_its_answer(self):
        """The server's own refusals (431 here) are written through the same socket path."""
        cert, key = self.make_cert()
        with Regmirror(BIN, mirror_config(self.proxy.url, tls={"cert": cert, "key": key})) as mirror:
            context = ssl.create_default_context(cafile=cert)
            raw = socket.create_connection(("127.0.0.1", mirror.port), timeout=30)
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                sock.sendall(request_bytes("/v2/", extra="X-Big: " + "a" * 40000 + "\r\n"))
                answer = b""
                while data := sock.recv(65536):
                    answer += data
            self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:200])
            self.assertTrue(answer.endswith(b"request header too large\n"), answer[-200:])
            self.assertEqual(tls_get_whole(mirror.port, context, "/v2/")[0], 200)

    def make_cert(self):
        certs = os.path.join(self.work, "tls")
        cert, key = os.path.join(certs, "tls.crt"), os.path.join(certs, "tls.key")
        if not os.path.exists(cert):
            os.makedirs(certs, exist_ok=True)
            proc.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                      "-keyout", key, "-out", cert])
        return cert, key


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established_server_side(port: int) -> int:
    """Established TCP connections whose local port is `port` (the mirror's side of them)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def tls_get_whole(port: int, context: ssl.SSLContext, path: str):
    """(status, bytes, digest) of a whole GET over TLS, streamed."""
    import hashlib
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=120)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            data = resp.read(1 << 20)
            if not data:
                break
            h.update(data)
            n += len(data)
        return resp.status, n, "sha256:" + h.hexdigest()
    finally:
        conn.close()


if __name__ == "__main__":
    unittest.main()
