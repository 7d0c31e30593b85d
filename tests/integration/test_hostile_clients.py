"""Slow and greedy clients: 500 slowloris connections (one header byte per second) do not stop
a normal 3 MiB pull from finishing promptly and are closed by the header timeout; oversize
request heads get 431 (delivered, not lost to a reset); bad Range headers get 416.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_hostile_clients

Upstream: distribution behind a CountingProxy holding library/slow:v1 (a 3 MiB plain layer and
a 70 KiB one).  regmirror runs with limits.header_timeout_seconds = 12 so the test can watch
the slow connections being closed within its own bounded run time (about 25 s).
"""

import os
import resource
import select
import shutil
import socket
import time
import unittest

from pullcommon import (ACCEPT, BIN, MIB, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_layout, sha, stream_get, tmpdir)

SLOW_CONNECTIONS = 500
HEADER_TIMEOUT = 12          # limits.header_timeout_seconds given to regmirror
SLOW_HEAD = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200


def raise_fd_limit(want: int) -> None:
    """500 client sockets here and 500 accepted ones in regmirror (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def exchange(port: int, data: bytes, timeout: float = 15.0):
    """Send ``data``, then read until the server closes -> (status or None, head, body, reset)."""
    buf, reset = b"", False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            reset = True
        while True:
            try:
                got = s.recv(65536)
            except ConnectionResetError:
                reset = True
                break
            except socket.timeout:
                break
            if not got:
                break
            buf += got
    if b"\r\n\r\n" not in buf:
        return None, buf, b"", reset
    head, body = buf.split(b"\r\n\r\n", 1)
    return int(head.split(b" ", 2)[1]), head, body, reset


@need_binary
class TestHostileClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise_fd_limit(4096)
        cls.tmp = tmpdir("rm-hostile-cl-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "v1", layers=[3 * MIB, 70000], seed="hostile-clients")
        cls.big, cls.small = cls.img.layers
        cls.reg = Registry()
        cls.reg.push_layout(lay, "v1", "library/slow")
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url, limits={"header_timeout_seconds": HEADER_TIMEOUT}))
        st, _, body = cls.rm.get(f"/v2/library/slow/blobs/{cls.small.digest}")
        assert (st, sha(body)) == (200, cls.small.digest), st

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not self.rm.running():
            self.rm.start()
        self.addCleanup(lambda: self.assertTrue(self.rm.running(), "regmirror died" + log_tail(self.rm)))

    # ------------------------------------------------------------------ slowloris
    def test_500_slowloris_connections_do_not_stop_a_pull(self):
        socks, opened_at = [], []
        self.addCleanup(lambda: [s.close() for s in socks])
        for i in range(SLOW_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", self.rm.port), timeout=10)
            s.setblocking(False)
            s.send(SLOW_HEAD[:1])
            socks.append(s)
            opened_at.append(time.monotonic())
        sent = 1
        closed = {}  # index -> seconds after its connect at which the server ended it

        def trickle_and_reap():
            """One more header byte on every live slow connection; note the ones the server ended."""
            nonlocal sent
            now = time.monotonic()
            poller = select.poll()  # select() cannot watch descriptors above 1023
            by_fd = {}
            for i, s in enumerate(socks):
                if i not in closed:
                    poller.register(s, select.POLLIN)
                    by_fd[s.fileno()] = i
            for fd, _ in poller.poll(0):
                i = by_fd.pop(fd)  # readable: EOF, reset, or an error answer such as 408
                closed[i] = now - opened_at[i]
            for i in by_fd.values():
                try:
                    socks[i].send(SLOW_HEAD[sent:sent + 1])
                except (ConnectionResetError, BrokenPipeError):
                    closed[i] = now - opened_at[i]
            sent += 1

        time.sleep(1)
        trickle_and_reap()
        time.sleep(1)
        trickle_and_reap()
        live_at_pull = SLOW_CONNECTIONS - len(closed)

        # a normal pull: manifest, then the 3 MiB layer (a MISS streamed from upstream), then a HIT
        t0 = time.monotonic()
        st, _, body = self.rm.get("/v2/library/slow/manifests/v1", headers=ACCEPT, timeout=10)
        self.assertEqual((st, sha(body)), (200, self.img.digest), log_tail(self.rm))
        r = stream_get(self.rm.port, f"/v2/library/slow/blobs/{self.big.digest}", timeout=10)
        miss_elapsed = time.monotonic() - t0
        self.assertTrue(r.complete and r.digest == self.big.digest, f"{r}{log_tail(self.rm)}")
        self.assertEqual(r.headers.get("x-cache"), "MISS")
        self.assertLess(miss_elapsed, 5.0, f"pull took {miss_elapsed:.2f}s with {live_at_pull} slow connections")
        t1 = time.monotonic()
        r = stream_get(self.rm.port, f"/v2/library/slow/blobs/{self.big.digest}", timeout=10)
        hit_elapsed = time.monotonic() - t1
        self.assertTrue(r.complete and r.digest == self.big.digest, f"{r}")
        self.assertLess(hit_elapsed, 5.0)
        # the load was real: the slow connections were still open while we pulled
        self.assertGreaterEqual(live_at_pull, SLOW_CONNECTIONS - 10,
                                f"only {live_at_pull} slow connections were open during the pull")

        # keep trickling (one byte per second) until the header timeout has ended every one
        deadline = time.monotonic() + HEADER_TIMEOUT + 8
        while len(closed) < SLOW_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(1)
            trickle_and_reap()
        self.assertEqual(len(closed), SLOW_CONNECTIONS,
                         f"{SLOW_CONNECTIONS - len(closed)} slow connections still open "
                         f"{HEADER_TIMEOUT + 8}s after connecting (bytes sent each: {sent})")
        earliest = min(closed.values())
        self.assertGreater(earliest, HEADER_TIMEOUT - 2,
                           f"a slow connection was closed after {earliest:.1f}s, before the header timeout")
        print(f"\nslowloris: {live_at_pull} slow connections open during the pull; 3 MiB MISS pull "
              f"{miss_elapsed:.2f}s, HIT {hit_elapsed:.2f}s; all closed after "
              f"{min(closed.values()):.1f}-{max(closed.values()):.1f}s")
        st, _, _ = self.rm.get("/v2/", timeout=10)
        self.assertEqual(st, 200)

    # ------------------------------------------------------------------ oversize heads
    def test_oversize_request_heads_get_431(self):
        def req(target=b"/v2/", headers=b""):
            return b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"Connection: close\r\n\r\n"
        cases = [
            ("one_header_20KiB", req(headers=b"X-Big: " + b"a" * (20 * 1024) + b"\r\n"), {431}),
            ("one_header_1MiB", req(headers=b"X-Big: " + b"a" * MIB + b"\r\n"), {431}),
            ("100_headers_of_200_bytes", req(headers=b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 200) for i in range(100))), {431}),
            ("cookie_20KiB", req(headers=b"Cookie: " + b"c=" + b"d" * (20 * 1024) + b"\r\n"), {431}),
            ("request_line_17KiB", req(target=b"/v2/library/slow/manifests/" + b"t" * (17 * 1024)), {414, 431}),
        ]
        for name, data, statuses in cases:
            with self.subTest(input=name):
                st, head, body, reset = exchange(self.rm.port, data)
                # the answer must reach the client even though it sent more than the server read
                self.assertIn(st, statuses, f"{name}: got {head[:200]!r} (connection reset: {reset})"
                                            + log_tail(self.rm, 1500))
                st, _, _ = self.rm.get("/v2/", timeout=10)
                self.assertEqual(st, 200, f"after {name}")
        # just under the limit is served (the limit is about size, not a blanket refusal)
        st, head, body, _ = exchange(self.rm.port, req(headers=b"X-Big: " + b"a" * (12 * 1024) + b"\r\n"))
        self.assertEqual(st, 200, head[:200])

    # ------------------------------------------------------------------ Range
    def test_bad_ranges_get_416(self):
        layer = self.small  # cached in setUpClass
        size = layer.size
        path = f"/v2/library/slow/blobs/{layer.digest}"
        bad = [("not_a_number", "bytes=abc"), ("reversed", "bytes=5-1"), ("start_at_size", f"bytes={size}-"),
               ("past_the_end", f"bytes={size + 10}-{size + 20}"), ("empty_spec", "bytes=-"),
               ("wrong_unit", "items=0-10"), ("double_dash", "bytes=--5"), ("suffix_zero", "bytes=-0"),
               ("overflow_20_digits", "bytes=99999999999999999999-"),
               ("overflow_u64_max", "bytes=18446744073709551615-"), ("negative_start", "bytes=-5-10"),
               ("three_parts", "bytes=0-1-2"), ("hex_numbers", "bytes=0x10-0x20"),
               ("non_utf8", "bytes=\udcff-"), ("huge_length_4KiB", "bytes=" + "9" * 4096 + "-")]
        for name, value in bad:
            with self.subTest(range=name):
                hdr = ("Range: " + value + "\r\n").encode("utf-8", "surrogateescape")
                data = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").encode() + hdr + b"Connection: close\r\n\r\n"
                st, head, body, _ = exchange(self.rm.port, data)
                self.assertEqual(st, 416, f"Range {name}: {head[:300]!r}")
                self.assertIn(f"content-range: bytes */{size}".encode(), head.lower(), name)
        # an uncached blob: the size comes from the upstream, the answer is still a 416
        cfg = self.img.config
        data = (f"GET /v2/library/slow/blobs/{cfg.digest} HTTP/1.1\r\nHost: x\r\nRange: bytes={cfg.size}-\r\n"
                "Connection: close\r\n\r\n").encode()
        st, head, body, _ = exchange(self.rm.port, data)
        self.assertEqual(st, 416, head[:300])
        self.assertIn(f"content-range: bytes */{cfg.size}".encode(), head.lower())
        # and a good range right after all that still gets exactly its bytes
        r = stream_get(self.rm.port, path, headers={"Range": "bytes=100-199"})
        self.assertEqual((r.status, r.nbytes, r.headers.get("content-range")), (206, 100, f"bytes 100-199/{size}"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
