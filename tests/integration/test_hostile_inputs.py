"""Hostile request inputs: each named input gets a clean HTTP error (an OCI JSON error body on
API routes, 400/414/431 for protocol errors), is never forwarded upstream, leaves the log one
event per line, and the server serves a normal pull right afterwards.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_hostile_inputs

Upstream: distribution behind a CountingProxy holding library/alpine:3.19 (cached before the
hostile inputs are sent, so the "still serving" check never needs the upstream and any
upstream request during the test is a hostile input that leaked through).  Every input is
written as raw bytes on a fresh socket so nothing normalises it on the way.
"""

import json
import os
import shutil
import socket
import unittest

from pullcommon import (ACCEPT, BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_codes, oci_layout, sha, tmpdir)

HEX = "0123456789abcdef"
PROTOCOL = "protocol"  # marker: a protocol-level error (plain body), not an OCI route answer
ACCEPT_HDR = ("Accept: " + ACCEPT["Accept"] + "\r\n").encode()


def request(target: bytes, headers: bytes = b"", method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"Connection: close\r\n\r\n"


def read_response(port: int, data: bytes, timeout: float = 15.0):
    """Send ``data`` on a fresh connection; read until the server closes (Connection: close).
    -> (status or None, {lowercased header: value}, raw head bytes, body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        buf = b""
        while True:
            try:
                got = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not got:
                break
            buf += got
    if b"\r\n\r\n" not in buf:
        return None, {}, buf, b""
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, head, body


@need_binary
class TestHostileInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-hostile-in-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "3.19", layers=[3000, 50000], seed="hostile-inputs")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "3.19", "library/alpine")
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))
        st, _, body = cls.rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        assert (st, sha(body)) == (200, cls.img.digest), (st, body[:200])
        cls.layer = cls.img.layers[1]
        st, _, body = cls.rm.get(f"/v2/library/alpine/blobs/{cls.layer.digest}")
        assert (st, sha(body)) == (200, cls.layer.digest), st

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        if not self.rm.running():  # an earlier test killed it (and failed); carry on
            self.rm.start()
        self.px.reset()

    # ------------------------------------------------------------------ the inputs
    def cases(self):
        """(name, raw request bytes, allowed statuses, OCI code expected or PROTOCOL)."""
        digest = self.layer.digest
        blob = b"/v2/library/alpine/blobs/"
        man = b"/v2/library/alpine/manifests/"
        hex10k = "".join(HEX[(i * 7) % 16] for i in range(10000)).encode()
        hex63 = digest.split(":")[1][:63].encode()
        return [
            # path traversal in names, raw and percent-encoded
            ("traversal_raw_dotdot_name", request(b"/v2/../../etc/passwd/manifests/x"), {400}, "NAME_INVALID"),
            ("traversal_raw_dotdot_blob", request(b"/v2/../../etc/blobs/" + digest.encode()), {400}, "NAME_INVALID"),
            ("traversal_pct_2e2e_name", request(b"/v2/%2e%2e/%2e%2e/etc/passwd/manifests/x"), {400}, "NAME_INVALID"),
            ("traversal_pct_2E2E_upper", request(b"/v2/library/%2E%2E/%2E%2E/x/manifests/3.19"), {400}, "NAME_INVALID"),
            ("traversal_pct_2F_in_name", request(b"/v2/library%2F..%2F..%2Fetc/manifests/x"), {400}, "NAME_INVALID"),
            ("traversal_in_tag", request(man + b"..%2F..%2F..%2Fetc%2Fpasswd"), {404}, "MANIFEST_UNKNOWN"),
            ("traversal_raw_in_tag", request(man + b"../../../../etc/passwd"), {400, 404}, "MANIFEST_UNKNOWN|NAME_INVALID"),
            ("traversal_in_digest", request(blob + b"sha256:..%2F..%2F..%2Fetc%2Fpasswd"), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("traversal_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=..%2F..%2Fetc"), {400}, "NAME_INVALID"),
            # NUL bytes
            ("nul_raw_in_path", request(b"/v2/lib\x00rary/alpine/manifests/3.19"), {400}, PROTOCOL),
            ("nul_pct_in_name", request(b"/v2/library/alp%00ine/manifests/3.19"), {400}, "NAME_INVALID"),
            ("nul_pct_in_tag", request(man + b"3.19%00"), {404}, "MANIFEST_UNKNOWN"),
            ("nul_pct_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=docker.io%00.evil"), {400}, "NAME_INVALID"),
            ("nul_raw_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=docker.io\x00"), {400}, PROTOCOL),
            ("nul_raw_in_header", request(b"/v2/", b"X-Nul: a\x00b\r\n"), {400}, PROTOCOL),
            # header injection through the echoed ns (OCI-Namespace) and control bytes for the log
            ("crlf_pct_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=docker.io%0D%0AX-Injected:%20yes"),
             {400}, "NAME_INVALID"),
            ("esc_pct_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=%1B%5B2J%1B%5D0;pwned%07"),
             {400}, "NAME_INVALID"),
            ("broken_pct_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=%zz"), {400}, "NAME_INVALID"),
            ("ns_300_chars", request(b"/v2/library/alpine/manifests/3.19?ns=" + b"a" * 300 + b".io"), {400}, "NAME_INVALID"),
            # huge digests and wrong algorithms
            ("digest_10k_hex_blob", request(blob + b"sha256:" + hex10k), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_10k_hex_manifest", request(man + b"sha256:" + hex10k, ACCEPT_HDR), {400, 404}, "MANIFEST_UNKNOWN|DIGEST_INVALID"),
            ("digest_md5_blob", request(blob + b"md5:d41d8cd98f00b204e9800998ecf8427e"), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_md5_manifest", request(man + b"md5:d41d8cd98f00b204e9800998ecf8427e", ACCEPT_HDR), {400, 404}, "MANIFEST_UNKNOWN|DIGEST_INVALID"),
            ("digest_sha256_63_hex", request(blob + b"sha256:" + hex63), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_sha256_65_hex", request(blob + digest.encode() + b"0"), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_uppercase_hex", request(blob + digest.upper().replace("SHA256", "sha256").encode()), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_uppercase_algorithm", request(blob + b"SHA256:" + digest.split(":")[1].encode()), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_sha512_short", request(blob + b"sha512:" + digest.split(":")[1].encode()), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_empty_hex", request(blob + b"sha256:"), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("digest_referrers_md5", request(b"/v2/library/alpine/referrers/md5:00"), {400, 404}, "MANIFEST_UNKNOWN|DIGEST_INVALID|NOT_FOUND"),
            # overlong tags and names
            ("tag_129_chars", request(man + b"t" * 129, ACCEPT_HDR), {404}, "MANIFEST_UNKNOWN"),
            ("tag_1000_chars", request(man + b"t" * 1000, ACCEPT_HDR), {404}, "MANIFEST_UNKNOWN"),
            ("component_300_chars", request(b"/v2/library/" + b"a" * 300 + b"/manifests/3.19"), {400}, "NAME_INVALID"),
            ("name_256_chars_total", request(b"/v2/" + b"/".join([b"abcdefgh"] * 29) + b"/manifests/3.19"),
             {400}, "NAME_INVALID"),
            ("name_1000_components", request(b"/v2/" + b"/".join([b"a"] * 1000) + b"/manifests/3.19"), {400}, "NAME_INVALID"),
            # protocol limits
            ("request_line_over_16k", request(man + b"a" * (17 * 1024)), {400, 414, 431}, PROTOCOL),
            ("request_line_64k", request(b"/v2/" + b"a/" * (32 * 1024) + b"manifests/x"), {400, 414, 431}, PROTOCOL),
            ("header_field_20k", request(b"/v2/", b"X-Big: " + b"a" * (20 * 1024) + b"\r\n"), {431}, PROTOCOL),
            ("header_fields_200", request(b"/v2/", b"".join(b"X-F%d: v\r\n" % i for i in range(200))), {431}, PROTOCOL),
            ("header_fields_2000_tiny", request(b"/v2/", b"".join(b"A%d:\r\n" % i for i in range(2000))), {431}, PROTOCOL),
            # non-UTF-8 bytes
            ("non_utf8_in_name", request(b"/v2/caf\xe9/alpine/manifests/3.19"), {400}, "NAME_INVALID"),
            ("non_utf8_in_tag", request(man + b"\xff\xfe", ACCEPT_HDR), {404}, "MANIFEST_UNKNOWN"),
            ("non_utf8_in_digest", request(blob + b"sha256:\xff" + hex63), {400, 404}, "BLOB_UNKNOWN|DIGEST_INVALID"),
            ("non_utf8_raw_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=\xc3\x28"), {400}, "NAME_INVALID"),
            ("non_utf8_pct_in_ns", request(b"/v2/library/alpine/manifests/3.19?ns=%C3%28%FF"), {400}, "NAME_INVALID"),
            ("non_utf8_header_name", request(b"/v2/", b"X-\xff\xfe: 1\r\n"), {400}, PROTOCOL),
            ("non_utf8_method", request(b"/v2/", method=b"G\xc9T"), {400}, PROTOCOL),
        ]

    def check_case(self, name, data, statuses, code):
        st, hdrs, head, body = read_response(self.rm.port, data)
        self.assertIsNotNone(st, f"{name}: no HTTP response, got {head[:200]!r}{log_tail(self.rm)}")
        self.assertIn(st, statuses, f"{name}: status {st}, body {body[:300]!r}")
        self.assertNotIn(b"x-injected", head.lower(), f"{name}: header injected: {head!r}")
        if code != PROTOCOL:
            self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), (name, hdrs))
            json.loads(body)  # a valid JSON document even when the input was not UTF-8
            codes = oci_codes(body)
            self.assertTrue(set(codes) & set(code.split("|")), f"{name}: codes {codes}, body {body[:300]!r}")
        self.assertNotIn(b"\x00", body, name)

    def assert_still_serving(self, after):
        self.assertTrue(self.rm.running(), f"regmirror died after {after}" + log_tail(self.rm))
        st, _, body = self.rm.get("/v2/library/alpine/manifests/3.19", headers=ACCEPT, timeout=30)
        self.assertEqual((st, sha(body)), (200, self.img.digest), f"after {after}" + log_tail(self.rm))
        st, _, body = self.rm.get(f"/v2/library/alpine/blobs/{self.layer.digest}", timeout=30)
        self.assertEqual((st, sha(body)), (200, self.layer.digest), f"after {after}" + log_tail(self.rm))

    # ------------------------------------------------------------------ tests
    def test_each_hostile_input_gets_a_clean_error_and_server_keeps_serving(self):
        for name, data, statuses, code in self.cases():
            with self.subTest(input=name):
                try:
                    self.check_case(name, data, statuses, code)
                finally:
                    self.assert_still_serving(name)
        # none of them is a request the mirror may forward
        self.assertEqual(self.px.count(), 0, [r.target[:100] for r in self.px.requests()])

    def test_hostile_inputs_on_one_keep_alive_connection(self):
        """The same inputs as HEAD requests; protocol errors end the connection, route errors
        must not: the next request on the same connection is answered."""
        for name, data, statuses, code in self.cases():
            if code == PROTOCOL:
                continue
            with self.subTest(input=name):
                head_req = data.replace(b"GET ", b"HEAD ", 1).replace(b"Connection: close\r\n", b"")
                follow = b"GET /v2/library/alpine/manifests/3.19 HTTP/1.1\r\nHost: x\r\n" + ACCEPT_HDR + \
                         b"Connection: close\r\n\r\n"
                st, hdrs, head, body = read_response(self.rm.port, head_req + follow)
                self.assertIn(st, statuses, f"{name}: {head[:300]!r}")
                # body holds the second response (the HEAD had none)
                self.assertIn(b"HTTP/1.1 200", body, f"{name}: no answer to the request after it: {body[:300]!r}")
                self.assertIn(self.img.digest.encode(), body, name)
        self.assertEqual(self.px.count(), 0, [r.target[:100] for r in self.px.requests()])

    def test_log_stays_one_event_per_line(self):
        """Client bytes (CR/LF, ESC, NUL, non-UTF-8) never split a log event or reach the log raw."""
        for name, data, _, _ in self.cases():
            read_response(self.rm.port, data)
        self.assert_still_serving("all inputs")
        with open(self.rm.log_path, "rb") as f:
            raw = f.read()
        for i, line in enumerate(raw.split(b"\n")):
            if not line or line.startswith(b"---- start"):
                continue
            with self.subTest(line=i):
                self.assertTrue(line.startswith(b"ts="), f"log line not an event: {line[:200]!r}")
                self.assertNotIn(b"\r", line, line[:200])
                self.assertNotIn(b"\x00", line, line[:200])
                self.assertNotIn(b"\x1b", line, f"terminal escape from a client in the log: {line[:200]!r}")
        self.assertIn(b"event=request", raw)

if __name__ == "__main__":
    unittest.main(verbosity=2)
