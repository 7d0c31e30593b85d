"""Counting, fault-injecting HTTP/1.1 reverse proxy for 127.0.0.1.

``CountingProxy(upstream_url)`` listens on 127.0.0.1:PORT (ThreadingHTTPServer,
HTTP/1.1 keep-alive) and forwards every request to ``upstream_url`` with a new
http.client connection per request.  The client's ``Host`` header is passed
through unchanged (so upstream-built URLs point back at the proxy); hop-by-hop
headers are dropped both ways; repeated request headers (Go clients send one
Accept line per media type) are joined with ", ".  Response bodies are
streamed in 64 KiB chunks (request bodies, i.e. pushes, are read whole).  Every
response carries ``Content-Length`` (an upstream response without one is read
whole, then sent with a length), so libcurl/Go clients can reuse connections.
Upstream unreachable -> 502 with a short text body.

Every request is recorded (method, target incl. query, lowercased request
headers, status, body bytes sent, the fault applied) and can be queried with
``count(method, path_regex)`` / ``requests(...)`` / ``headers_seen(...)``.
Regexes use ``re.search`` on the full request target (path + query).
A record is complete before the client can see what it describes: it is added when the request
arrives, and its status and byte count are written before the bytes they count are sent (and
corrected if the send fails), so a test that reads it right after its response finds it whole.

Faults, switchable at run time (all thread-safe; ``times=N`` applies a rule to
the next N matching requests only, ``None`` = until ``clear_faults()``):

  corrupt_blob(digest)           GET .../blobs/<digest>: same length, bytes XOR 0xFF
  fail_with(status, regex, retry_after=None, ...)   answer status + OCI error body
  respond(status, regex, body, headers, ...)        answer anything (token endpoints...)
  redirect(regex, to_base_url, status=307)          Location: to_base_url + target
  delay(seconds, regex)          sleep before forwarding
  throttle(bytes_per_sec, regex) slow body
  cut_after(nbytes, regex)       send headers + nbytes of body, then drop the connection
  ignore_range(regex)            drop the Range header (the upstream answers 200, whole)
  down(mode="refuse"|"close"|"hang") / up()   refuse = listener closed (ECONNREFUSED);
                                 close = accept then close without answering; hang = a black
                                 hole: accept, read, never answer (until up()).
                                 Either way open keep-alive connections are cut.
  ``connections`` counts the TCP connections accepted (a black hole's included).
"""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import json
import re
import socket
import sys
import threading
import time
from typing import Dict, List, Optional
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}
CHUNK = 64 * 1024
_XOR = bytes(b ^ 0xFF for b in range(256))


@dataclasses.dataclass
class Request:
    """One request the proxy received."""
    method: str
    target: str                 # path + "?" + query, as received
    headers: Dict[str, str]     # lowercased names; repeated headers joined with ", "
    status: int = 0             # status sent (0: none, connection dropped before it went out)
    body_bytes: int = 0         # response body bytes sent (a failed write's chunk not counted)
    fault: str = ""             # name of the fault applied, "" if forwarded untouched
    time: float = 0.0           # time.time() when received

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclasses.dataclass
class _Rule:
    kind: str
    regex: "re.Pattern"
    method: Optional[str]
    remaining: Optional[int]
    params: dict


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """Clients hanging up (reset, broken pipe, timeouts) are normal here; report the rest."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class CountingProxy:
    """See module docstring.  Use as a context manager or call ``close()``."""

    def __init__(self, upstream_url: str, port: Optional[int] = None, start: bool = True):
        self.set_upstream(upstream_url)
        self._lock = threading.Lock()
        self._records: List[Request] = []
        self._rules: List[_Rule] = []
        self._conns: "set[socket.socket]" = set()
        self._mode = "up"
        self.connections = 0
        self.connection_times: List[float] = []
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.port = port or 0
        if start:
            self.start()

    # ------------------------------------------------------------------ lifecycle
    def set_upstream(self, upstream_url: str) -> None:
        """Point the proxy at another loopback upstream (takes effect for the next request)."""
        u = urlsplit(upstream_url)
        if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"upstream must be http://127.0.0.1:PORT: {upstream_url}")
        self.upstream_url = upstream_url.rstrip("/")
        self._up_host, self._up_port = u.hostname, u.port or 80
        self._up_prefix = u.path.rstrip("/")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> "CountingProxy":
        """Start listening (on the previous port if there was one)."""
        if self._server is not None:
            return self
        handler = type("Handler", (_Handler,), {"proxy": self})
        last = None
        for _ in range(50):  # the old port may linger briefly after down()
            try:
                self._server = _Server(("127.0.0.1", self.port), handler)
                break
            except OSError as e:
                last = e
                time.sleep(0.1)
        else:
            raise RuntimeError(f"cannot bind 127.0.0.1:{self.port}: {last}")
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"counting-proxy-{self.port}", daemon=True)
        self._thread.start()
        return self

    def _stop_listener(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def _cut_connections(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self, mode: str = "refuse") -> None:
        """Simulate an outage. refuse: close the listener; close: accept and hang up at once;
        hang: accept and never answer (a black hole)."""
        if mode not in ("refuse", "close", "hang"):
            raise ValueError(mode)
        with self._lock:
            self._mode = mode
        if mode == "refuse":
            self._stop_listener()
        else:
            self.start()  # listener needed to accept-and-close
        self._cut_connections()

    def up(self) -> None:
        """End an outage started with ``down()`` (same port)."""
        with self._lock:
            self._mode = "up"
        self.start()

    def close(self) -> None:
        self._stop_listener()
        self._cut_connections()

    def __enter__(self) -> "CountingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ records
    def _match(self, method: Optional[str], path_regex: str):
        rx = re.compile(path_regex)
        with self._lock:
            return [r for r in self._records
                    if (method is None or r.method == method.upper()) and rx.search(r.target)]

    def count(self, method: Optional[str] = None, path_regex: str = "") -> int:
        """Requests received with this method (None: any) whose target matches ``path_regex``."""
        return len(self._match(method, path_regex))

    def requests(self, method: Optional[str] = None, path_regex: str = "") -> List[Request]:
        """Copies of the matching request records, oldest first."""
        return [dataclasses.replace(r) for r in self._match(method, path_regex)]

    def headers_seen(self, path_regex: str = "", method: Optional[str] = None) -> List[Dict[str, str]]:
        """Request headers (lowercased names) of the matching requests."""
        return [dict(r.headers) for r in self._match(method, path_regex)]

    def reset(self) -> None:
        """Forget recorded requests (fault rules stay)."""
        with self._lock:
            self._records.clear()

    # ------------------------------------------------------------------ faults
    def _add(self, kind: str, path_regex: str, method: Optional[str], times: Optional[int], **params) -> None:
        with self._lock:
            self._rules.append(_Rule(kind, re.compile(path_regex), method.upper() if method else None,
                                     times, params))

    def clear_faults(self) -> None:
        """Remove every fault rule and bring the proxy up."""
        with self._lock:
            self._rules.clear()
        if self._mode != "up":
            self.up()

    def corrupt_blob(self, digest: str, times: Optional[int] = None) -> None:
        """Serve GET .../blobs/<digest> with every byte XOR 0xFF (same length and headers)."""
        self._add("corrupt", r"/blobs/" + re.escape(digest) + r"(\?|$)", "GET", times)

    def fail_with(self, status: int, path_regex: str = "", retry_after: Optional[int] = None,
                  method: Optional[str] = None, times: Optional[int] = None,
                  headers: Optional[Dict[str, str]] = None) -> None:
        """Answer matching requests with ``status`` (OCI error JSON body, Retry-After if given)."""
        h = dict(headers or {})
        if retry_after is not None:
            h["Retry-After"] = str(retry_after)
        code = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND", 429: "TOOMANYREQUESTS"}.get(status, "UNKNOWN")
        body = json.dumps({"errors": [{"code": code, "message": f"injected {status}"}]}).encode()
        h.setdefault("Content-Type", "application/json")
        self._add("respond", path_regex, method, times, status=status, body=body, headers=h,
                  unless_auth=None, name=f"fail_{status}")

    def respond(self, status: int, path_regex: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
                method: Optional[str] = None, times: Optional[int] = None,
                unless_auth: Optional[str] = None) -> None:
        """Answer matching requests directly.  With ``unless_auth``, requests whose Authorization
        header equals it are forwarded instead (poor man's token-protected registry)."""
        self._add("respond", path_regex, method, times, status=status, body=body, headers=dict(headers or {}),
                  unless_auth=unless_auth, name=f"respond_{status}")

    def redirect(self, path_regex: str, to_base_url: str, status: int = 307,
                 method: Optional[str] = None, times: Optional[int] = None) -> None:
        """Answer ``status`` with ``Location: to_base_url + target`` (e.g. another proxy)."""
        self._add("redirect", path_regex, method, times, status=status, base=to_base_url.rstrip("/"))

    def delay(self, seconds: float, path_regex: str = "", method: Optional[str] = None,
              times: Optional[int] = None) -> None:
        """Sleep ``seconds`` before forwarding matching requests."""
        self._add("delay", path_regex, method, times, seconds=seconds)

    def throttle(self, bytes_per_sec: int, path_regex: str = "", method: Optional[str] = None,
                 times: Optional[int] = None) -> None:
        """Send matching response bodies at about ``bytes_per_sec``."""
        self._add("throttle", path_regex, method, times, rate=max(1, int(bytes_per_sec)))

    def ignore_range(self, path_regex: str = "", method: Optional[str] = "GET",
                     times: Optional[int] = None) -> None:
        """Forward matching requests without their Range header (a whole 200 comes back)."""
        self._add("ignore_range", path_regex, method, times)

    def cut_after(self, nbytes: int, path_regex: str = "", method: Optional[str] = "GET",
                  times: Optional[int] = None) -> None:
        """Send headers (full Content-Length) and ``nbytes`` of body, then close the connection."""
        self._add("cut", path_regex, method, times, nbytes=int(nbytes))

    def _take_rules(self, method: str, target: str, headers: Dict[str, str]) -> Dict[str, _Rule]:
        """First matching rule of each kind, consuming one use of each rule taken."""
        out: Dict[str, _Rule] = {}
        with self._lock:
            for r in self._rules:
                if r.kind in out or (r.method and r.method != method) or not r.regex.search(target):
                    continue
                if r.kind == "respond" and r.params.get("unless_auth") is not None \
                        and headers.get("authorization") == r.params["unless_auth"]:
                    continue
                out[r.kind] = r
                if r.remaining is not None:
                    r.remaining -= 1
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: CountingProxy = None  # set per server by CountingProxy.start
    timeout = 120                # idle keep-alive connections are closed after this

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        with self.proxy._lock:
            self.proxy._conns.add(self.connection)
            self.proxy.connections += 1
            self.proxy.connection_times.append(time.monotonic())

    def finish(self):
        try:
            super().finish()
        finally:
            with self.proxy._lock:
                self.proxy._conns.discard(self.connection)

    def handle_one_request(self):
        if self.proxy._mode == "hang":
            # A black hole: take the request, never answer, until up() or the client gives up.
            while self.proxy._mode == "hang":
                try:
                    self.connection.settimeout(0.2)
                    if self.connection.recv(65536) == b"":
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            self.close_connection = True
            return
        if self.proxy._mode != "up":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        super().handle_one_request()

    # every method goes through _proxy
    def do_GET(self):
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    # -------------------------------------------------------------- helpers
    def _send_simple(self, rec: Request, status: int, body: bytes, headers: Dict[str, str]) -> None:
        with_body = self.command != "HEAD" and bool(body)
        rec.status, rec.body_bytes = status, len(body) if with_body else 0  # before the client sees it
        try:
            self.send_response_only(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if with_body:
                self.wfile.write(body)
        except OSError:
            rec.status, rec.body_bytes = 0, 0
            raise

    def _read_request_body(self) -> Optional[bytes]:
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def _proxy(self) -> None:
        p = self.proxy
        target = self.path
        if "://" in target:  # absolute-form
            u = urlsplit(target)
            target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        hdrs: Dict[str, str] = {}
        for k, v in self.headers.items():
            k = k.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        rec = Request(self.command, target, hdrs, time=time.time())
        with p._lock:
            p._records.append(rec)
        body = self._read_request_body()
        rules = p._take_rules(self.command, target, hdrs)
        rec.fault = ",".join(r.params.get("name", r.kind) for r in rules.values())

        if "delay" in rules:
            time.sleep(rules["delay"].params["seconds"])
        if "respond" in rules:
            r = rules["respond"].params
            self._send_simple(rec, r["status"], r["body"], r["headers"])
            return
        if "redirect" in rules:
            r = rules["redirect"].params
            self._send_simple(rec, r["status"], b"", {"Location": r["base"] + target})
            return

        # repeated request headers (several Accept lines from Go clients) are joined, not dropped
        out_headers = {k: v for k, v in hdrs.items() if k not in HOP_BY_HOP and k != "content-length"}
        if "ignore_range" in rules:
            out_headers.pop("range", None)
        if body is not None:
            out_headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(p._up_host, p._up_port, timeout=60)
        try:
            try:
                conn.request(self.command, p._up_prefix + target, body=body, headers=out_headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                self._send_simple(rec, 502, f"counting proxy: upstream error: {e}\n".encode(),
                                  {"Content-Type": "text/plain"})
                return
            self._relay(rec, resp, rules)
        finally:
            conn.close()

    def _relay(self, rec: Request, resp: http.client.HTTPResponse, rules: Dict[str, _Rule]) -> None:
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        prebuffered = None
        if length is None:
            if no_body:
                headers.append(("Content-Length", "0"))
            else:  # chunked / close-delimited upstream body: buffer it to send a length
                prebuffered = resp.read()
                headers.append(("Content-Length", str(len(prebuffered))))
        rec.status = resp.status  # before the client sees it
        try:
            self.send_response_only(resp.status)
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
        except OSError:
            rec.status = 0
            raise
        if no_body:
            return
        corrupt = "corrupt" in rules
        rate = rules["throttle"].params["rate"] if "throttle" in rules else None
        cut = rules["cut"].params["nbytes"] if "cut" in rules else None
        sent = 0
        t0 = time.monotonic()
        try:
            while True:
                if prebuffered is not None:
                    chunk, prebuffered = prebuffered, b""
                else:
                    chunk = resp.read(CHUNK if rate is None else min(CHUNK, max(1024, rate // 10)))
                if not chunk:
                    break
                if corrupt:
                    chunk = chunk.translate(_XOR)
                if cut is not None and sent + len(chunk) >= cut:
                    rec.body_bytes = cut  # counted before the client can have it
                    self.wfile.write(chunk[:max(0, cut - sent)])
                    sent = cut
                    self.wfile.flush()
                    self.close_connection = True
                    break
                rec.body_bytes = sent + len(chunk)  # counted before the client can have it
                self.wfile.write(chunk)
                sent += len(chunk)
                if rate is not None:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(min(ahead, 5))
        except http.client.IncompleteRead:
            self.close_connection = True      # upstream died mid-body: client sees a short body
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True      # client went away (e.g. range fetch closed early)
        finally:
            rec.body_bytes = sent  # a chunk whose write failed is taken back
        if length is not None and sent < int(length):
            self.close_connection = True
