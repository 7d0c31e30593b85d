"""DockerHubFake: Docker Hub's auth, pull rate limit and blob CDN in front of a real registry.

Python 3 standard library only.  Everything binds 127.0.0.1 on free ports and forwards only to
a loopback ``docker-registry`` (harness ``upstream.Registry``), which holds the real content.

    reg = Registry(); reg.push_layout(...)
    hub = DockerHubFake(reg.url, users={"me": "s3cret"}, anonymous_limit=100,
                        authenticated_limit=200, window_seconds=5, cdn=True)
    ... regmirror config: {"url": hub.url, "username": "me", "password_file": ...}
    hub.manifest_gets["me"], hub.manifest_heads["anonymous"], hub.cdn_auth_headers, ...

What it emulates (the parts of registry-1.docker.io + auth.docker.io + the blob CDN that a
pull-through cache must get right)
  * Bearer token auth.  ``GET /v2/`` and every ``/v2/...`` request without a valid
    ``Authorization: Bearer <token>`` answers 401 with an OCI ``UNAUTHORIZED`` body and
    ``WWW-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="registry.docker.io"``
    plus ``,scope="repository:<repo>:pull"`` on repository routes (and ``,error="invalid_token"``
    for an unknown/expired token, ``,error="insufficient_scope"`` for a token of another scope).
    ``Authorization: Basic`` is not accepted on /v2 (Docker Hub only takes it at the realm).
  * Token endpoint ``GET /token?service=registry.docker.io&scope=repository:<repo>:pull`` (several
    ``scope`` parameters and space-separated scopes allowed).  Without credentials it issues an
    anonymous token; with ``Authorization: Basic`` of a configured user/password an authenticated
    one; a wrong user or password gets 401 ``{"details":"incorrect username or password"}``; a
    wrong ``service`` gets 400.  A token is valid only for the repositories it was issued for
    (pull access is granted for any repository: everything is public here) and for
    ``expires_in`` seconds (``token_expires_in``).  The answer is
    ``{"token", "access_token", "expires_in", "issued_at"}``.  Tokens are opaque random strings.
  * Pull rate limit.  Every response to an authorised manifest request (GET or HEAD, any status,
    429 included) carries ``ratelimit-limit: L;w=21600``, ``ratelimit-remaining: R;w=21600`` and
    ``docker-ratelimit-source: 127.0.0.1``.  L is ``anonymous_limit`` (default 100) for
    anonymous tokens and ``authenticated_limit`` (default 200) for a user's tokens.  Every
    authorised GET of a manifest (by tag or digest, whatever the upstream answers) uses one pull
    of its principal ("anonymous" - all anonymous clients share one quota, as nodes behind one
    NAT IP do - or the user name); HEAD and blob requests are free.  When a principal has used
    ``min(L, limit_after)`` pulls, its next GET manifest answers 429 with ``Retry-After: <s>``
    (unless ``retry_after_header=False``), ``ratelimit-remaining: 0`` and the TOOMANYREQUESTS
    OCI error body; HEAD keeps working (Docker Hub documents HEAD for checking the quota).
  * Blob CDN.  With ``cdn=True`` an authorised ``GET /v2/<repo>/blobs/<digest>`` of an existing
    blob answers ``307 Location: http://127.0.0.1:CDNPORT/cdn/<repo>/blobs/<digest>?sig=..``, a
    second listener that serves the bytes (``Range`` supported).  Like the S3/Cloudflare signed
    URLs behind Docker Hub it authenticates by the URL alone: a request that carries an
    ``Authorization`` header is counted in ``cdn_auth_headers`` and (``cdn_reject_auth=True``)
    answered 400 "Only one auth mechanism allowed".  HEAD of a blob is answered by the registry
    itself (no redirect).

What it does NOT emulate
  * A sliding 6-hour window.  The window here starts at a principal's first 429 and lasts
    ``window_seconds``; then that principal's used count drops to 0.  ``w=21600`` is only a label.
  * Per-IP / per-/64 accounting (one "anonymous" principal), Docker's "two GETs per pull" rule
    for multi-arch images, pulls counted only on 200 (here every authorised GET manifest counts,
    404 included), private repositories, scope denial, push, OAuth2 ``POST /token``, refresh
    tokens, JWT tokens, TLS, IPv6, the ``docker-ratelimit-source`` value of authenticated
    accounts (always 127.0.0.1 here).

Counters (read them as attributes; ``reset_counters()`` zeroes them; guarded by ``lock``)
  manifest_gets / manifest_heads   Counter principal -> authorised GET / HEAD manifest requests
                                   (GETs answered 429 included)
  manifest_429s                    Counter principal -> GET manifests answered 429
  blob_requests                    Counter "GET"/"HEAD" -> authorised blob requests on /v2
  token_requests, token_failures   int; token_requests_by: Counter principal -> tokens issued
  token_scopes                     list of (principal, [scope, ...]) per token issued
  unauthorized                     int: /v2 requests answered 401
  cdn_requests, cdn_auth_headers   int: requests the CDN got / how many carried Authorization
  last_ratelimit                   (limit, remaining) of the last ratelimit headers sent, or None
  requests                         list of Record(time, method, path, principal, kind, status)
Principals are the strings "anonymous" and the user names.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime
import http.client
import http.server
import json
import math
import re
import secrets
import sys
import threading
import time
from typing import Dict, List, Optional, Tuple
from urllib.parse import parse_qs, quote, urlsplit

ANONYMOUS = "anonymous"
CHUNK = 64 * 1024
_REPO_ROUTE = re.compile(r"^/v2/(?P<repo>.+)/(?P<kind>manifests|blobs|tags|referrers)/(?P<ref>[^/]+)$")
_CDN_ROUTE = re.compile(r"^/cdn/(?P<repo>.+)/blobs/(?P<digest>[^/]+)$")
# Response headers copied from the registry (Content-Length is handled separately).
_PASS_HEADERS = ("content-type", "docker-content-digest", "content-range", "accept-ranges", "etag",
                 "docker-distribution-api-version", "link")
TOOMANYREQUESTS_BODY = json.dumps({"errors": [{
    "code": "TOOMANYREQUESTS",
    "message": "You have reached your pull rate limit. You may increase the limit by "
               "authenticating and upgrading: https://www.docker.com/increase-rate-limit"}]}).encode()


def _loopback(url: str) -> str:
    u = urlsplit(url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"DockerHubFake forwards only to http://127.0.0.1, got {url!r}")
    return url.rstrip("/")


def _oci_error(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


@dataclasses.dataclass
class Record:
    """One request the fake (main listener or CDN) answered."""
    time: float          # time.monotonic() when answered
    method: str
    path: str            # without query
    principal: str       # "anonymous", a user name, "" if not authorised, "cdn" on the CDN
    kind: str            # base|manifests|blobs|tags|referrers|token|cdn|other
    status: int


@dataclasses.dataclass
class _Token:
    principal: str
    repos: frozenset     # repositories with pull access
    expires: float       # time.monotonic()


@dataclasses.dataclass
class _Quota:
    used: int = 0
    blocked_until: Optional[float] = None   # monotonic; set by the first 429 of a window


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: "DockerHubFake", handler):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), handler)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return  # a client that hangs up mid-body is normal (ranged/cancelled fetches)
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DockerHubFake/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # records are kept in fake.requests instead
        pass

    @property
    def fake(self) -> "DockerHubFake":
        return self.server.fake

    # A request counts as in flight from its parsed request line until its handler has recorded
    # it; records() waits for none to be, as a response reaches the client before its record.
    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.fake._request_started()
            self._in_flight = True
        return parsed

    def handle_one_request(self) -> None:
        self._in_flight = False
        try:
            super().handle_one_request()
        finally:
            if self._in_flight:
                self.fake._request_finished()

    def _drain_body(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            got = self.rfile.read(min(n, CHUNK))
            if not got:
                break
            n -= len(got)

    def send_whole(self, status: int, body: bytes = b"", headers: Optional[List[Tuple[str, str]]] = None,
                   content_type: Optional[str] = "application/json") -> None:
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        for k, v in headers or []:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def forward(self, path_and_query: str, extra: List[Tuple[str, str]], pass_digest: bool = True) -> int:
        """Send this GET/HEAD to the registry, stream the answer back; returns the status."""
        fake = self.fake
        u = urlsplit(fake.registry_url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            hdrs = {}
            accept = self.headers.get_all("Accept")
            if accept:
                hdrs["Accept"] = ", ".join(accept)
            if self.headers.get("Range"):
                hdrs["Range"] = self.headers["Range"]
            try:
                conn.request(self.command, path_and_query, headers=hdrs)
                resp = conn.getresponse()
            except OSError as e:
                body = f"registry unreachable: {e}".encode()
                self.send_whole(502, body, extra, content_type="text/plain")
                return 502
            length = resp.getheader("Content-Length")
            body = None
            if self.command != "HEAD" and length is None:
                body = resp.read()  # no length: read whole so that the client gets one
                length = str(len(body))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() in _PASS_HEADERS and (pass_digest or k.lower() != "docker-content-digest"):
                    self.send_header(k, v)
            for k, v in extra:
                self.send_header(k, v)
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            if self.command == "HEAD":
                return resp.status
            if body is not None:
                self.wfile.write(body)
                return resp.status
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                self.wfile.write(chunk)
            return resp.status
        finally:
            conn.close()


class _HubHandler(_Handler):
    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _other(self):
        self._drain_body()
        split = urlsplit(self.path)
        self.send_whole(405, _oci_error("UNSUPPORTED", "this fake only serves pulls"))
        self.fake._record(self.command, split.path, "", "other", 405)

    do_POST = do_PUT = do_PATCH = do_DELETE = _other

    def _dispatch(self):
        split = urlsplit(self.path)
        if split.path == "/token":
            return self._token(split)
        if split.path == "/v2" or split.path == "/v2/":
            return self._v2(split, None, "base", "")
        m = _REPO_ROUTE.match(split.path)
        if m:
            return self._v2(split, m.group("repo"), m.group("kind"), m.group("ref"))
        if split.path.startswith("/v2/"):
            return self._v2(split, None, "other", "")
        self.send_whole(404, b"404 page not found\n", content_type="text/plain")
        self.fake._record(self.command, split.path, "", "other", 404)

    # ---------------------------------------------------------------- token endpoint
    def _token(self, split):
        fake = self.fake
        q = parse_qs(split.query)
        service = (q.get("service") or [""])[0]
        scopes = [s for v in q.get("scope", []) for s in v.split(" ") if s]
        principal = ANONYMOUS
        auth = self.headers.get("Authorization", "")
        status = 200
        if service != fake.service:
            status, body = 400, json.dumps({"details": f"invalid service {service!r}"}).encode()
        elif auth:
            user = fake._check_basic(auth)
            if user is None:
                status, body = 401, json.dumps({"details": "incorrect username or password"}).encode()
            else:
                principal = user
        if status != 200:
            with fake.lock:
                fake.token_failures += 1
            self.send_whole(status, body)
            fake._record("GET", split.path, "", "token", status)
            return
        repos = set()
        for s in scopes:
            parts = s.split(":")
            # repository:<name>:<actions>; the name may not contain ":" (no port in Hub names)
            if len(parts) == 3 and parts[0] == "repository" and "pull" in parts[2].split(","):
                repos.add(parts[1])
        token = "dhf_" + secrets.token_urlsafe(24)
        now = time.monotonic()
        with fake.lock:
            expires_in = fake.token_expires_in
            fake._tokens[token] = _Token(principal, frozenset(repos), now + expires_in)
            fake.token_requests += 1
            fake.token_requests_by[principal] += 1
            fake.token_scopes.append((principal, scopes))
        issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = json.dumps({"token": token, "access_token": token, "expires_in": expires_in,
                           "issued_at": issued}).encode()
        self.send_whole(200, body)
        fake._record("GET", split.path, principal, "token", 200)

    # ---------------------------------------------------------------- /v2 routes
    def _challenge(self, repo: Optional[str], error: str = "") -> str:
        fake = self.fake
        v = f'Bearer realm="{fake.realm}",service="{fake.service}"'
        if repo is not None:
            v += f',scope="repository:{repo}:pull"'
        if error:
            v += f',error="{error}"'
        return v

    def _authorise(self, repo: Optional[str]) -> Tuple[Optional[str], str]:
        """-> (principal, "") if the bearer token covers repo, else (None, challenge error)."""
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None, ""
        with self.fake.lock:
            tok = self.fake._tokens.get(auth[7:].strip())
        if tok is None or time.monotonic() >= tok.expires:
            return None, "invalid_token"
        if repo is not None and repo not in tok.repos:
            return None, "insufficient_scope"
        return tok.principal, ""

    def _v2(self, split, repo: Optional[str], kind: str, ref: str):
        fake = self.fake
        principal, err = self._authorise(repo)
        if principal is None:
            with fake.lock:
                fake.unauthorized += 1
            self.send_whole(401, _oci_error("UNAUTHORIZED", "authentication required"),
                            [("WWW-Authenticate", self._challenge(repo, err))])
            fake._record(self.command, split.path, "", kind, 401)
            return
        target = split.path + (f"?{split.query}" if split.query else "")
        if kind == "manifests":
            return self._manifest(split, target, principal)
        if kind == "blobs":
            with fake.lock:
                fake.blob_requests[self.command] += 1
                cdn = fake.cdn and self.command == "GET"
            if cdn:
                return self._redirect_to_cdn(split, repo, ref, principal)
        status = self.forward(target, [])
        fake._record(self.command, split.path, principal, kind, status)

    def _manifest(self, split, target: str, principal: str):
        fake = self.fake
        now = time.monotonic()
        with fake.lock:
            limit = fake._limit_of(principal)
            quota = fake._quotas[principal]
            if quota.blocked_until is not None and now >= quota.blocked_until:
                quota.used, quota.blocked_until = 0, None  # a new window
            if self.command == "GET":
                fake.manifest_gets[principal] += 1
                if quota.used >= fake._allowance_of(principal):
                    if quota.blocked_until is None:
                        quota.blocked_until = now + fake.window_seconds
                    fake.manifest_429s[principal] += 1
                    retry_after = max(1, math.ceil(quota.blocked_until - now))
                    limited = True
                else:
                    quota.used += 1
                    limited = False
            else:
                fake.manifest_heads[principal] += 1
                limited = False
            blocked = quota.blocked_until is not None
            remaining = 0 if (limited or blocked) else max(0, limit - quota.used)
            fake.last_ratelimit = (limit, remaining)
            send_retry_after = fake.retry_after_header
        rl = [("ratelimit-limit", f"{limit};w={fake.window_label}"),
              ("ratelimit-remaining", f"{remaining};w={fake.window_label}"),
              ("docker-ratelimit-source", "127.0.0.1")]
        if limited:
            if send_retry_after:
                rl.append(("Retry-After", str(retry_after)))
            self.send_whole(429, TOOMANYREQUESTS_BODY, rl)
            fake._record(self.command, split.path, principal, "manifests", 429)
            return
        status = self.forward(target, rl)
        fake._record(self.command, split.path, principal, "manifests", status)

    def _redirect_to_cdn(self, split, repo: str, digest: str, principal: str):
        fake = self.fake
        # Only existing blobs are redirected; anything else is the registry's own answer.
        u = urlsplit(fake.registry_url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        try:
            conn.request("HEAD", split.path)
            head = conn.getresponse()
            head.read()
        except OSError as e:
            self.send_whole(502, f"registry unreachable: {e}".encode(), content_type="text/plain")
            fake._record("GET", split.path, principal, "blobs", 502)
            return
        finally:
            conn.close()
        if head.status != 200:
            status = self.forward(split.path, [])
            fake._record("GET", split.path, principal, "blobs", status)
            return
        sig = secrets.token_urlsafe(16)
        with fake.lock:
            fake._cdn_sigs[sig] = time.monotonic() + 600
        location = f"{fake.cdn_url}/cdn/{quote(repo)}/blobs/{digest}?sig={sig}"
        self.send_whole(307, b"", [("Location", location)], content_type=None)
        fake._record("GET", split.path, principal, "blobs", 307)


class _CdnHandler(_Handler):
    server_version = "FakeCDN/1"

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def _serve(self):
        fake = self.fake
        split = urlsplit(self.path)
        has_auth = self.headers.get("Authorization") is not None
        with fake.lock:
            fake.cdn_requests += 1
            if has_auth:
                fake.cdn_auth_headers += 1
            reject = has_auth and fake.cdn_reject_auth
            sig = (parse_qs(split.query).get("sig") or [""])[0]
            sig_ok = fake._cdn_sigs.get(sig, 0) > time.monotonic()
        m = _CDN_ROUTE.match(split.path)
        if reject:
            body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidArgument</Code>"
                    b"<Message>Only one auth mechanism allowed</Message></Error>")
            self.send_whole(400, body, content_type="application/xml")
            status = 400
        elif m is None or not sig_ok:
            self.send_whole(403, b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
            status = 403
        else:
            # A CDN knows nothing of Docker-Content-Digest; clients must verify the bytes themselves.
            status = self.forward(f"/v2/{m.group('repo')}/blobs/{m.group('digest')}", [], pass_digest=False)
        fake._record(self.command, split.path, "cdn", "cdn", status)


class DockerHubFake:
    """See the module docstring.  Context manager; ``close()`` stops both listeners."""

    def __init__(self, registry_url: str, users: Optional[Dict[str, str]] = None,
                 anonymous_limit: int = 100, authenticated_limit: int = 200,
                 limit_after: Optional[int] = None, window_seconds: float = 5.0,
                 token_expires_in: int = 300, cdn: bool = False, cdn_reject_auth: bool = True,
                 retry_after_header: bool = True, service: str = "registry.docker.io",
                 window_label: int = 21600):
        self.registry_url = _loopback(registry_url)
        self.lock = threading.RLock()
        self._settled = threading.Condition(threading.Lock())
        self._in_flight = 0
        self.users = dict(users or {})
        self.anonymous_limit = anonymous_limit
        self.authenticated_limit = authenticated_limit
        self.limit_after = limit_after
        self.window_seconds = window_seconds
        self.token_expires_in = token_expires_in
        self.cdn = cdn
        self.cdn_reject_auth = cdn_reject_auth
        self.retry_after_header = retry_after_header
        self.service = service
        self.window_label = window_label
        self._tokens: Dict[str, _Token] = {}
        self._cdn_sigs: Dict[str, float] = {}
        self._quotas: Dict[str, _Quota] = collections.defaultdict(_Quota)
        self.reset_counters()
        self._hub = _Server(self, _HubHandler)
        self._cdn = _Server(self, _CdnHandler)
        self._threads = []
        for srv, name in ((self._hub, "dockerhub-fake"), (self._cdn, "dockerhub-fake-cdn")):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 name=name, daemon=True)
            t.start()
            self._threads.append(t)

    # ---------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        return self._hub.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL to put in regmirror's upstream config ("http://127.0.0.1:PORT", no slash)."""
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def cdn_port(self) -> int:
        return self._cdn.server_address[1]

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn_port}"

    # ---------------------------------------------------------------- state
    def reset_counters(self) -> None:
        """Zero every counter and the request log (tokens and quotas are kept)."""
        with self.lock:
            self.manifest_gets: collections.Counter = collections.Counter()
            self.manifest_heads: collections.Counter = collections.Counter()
            self.manifest_429s: collections.Counter = collections.Counter()
            self.blob_requests: collections.Counter = collections.Counter()
            self.token_requests = 0
            self.token_failures = 0
            self.token_requests_by: collections.Counter = collections.Counter()
            self.token_scopes: List[Tuple[str, List[str]]] = []
            self.unauthorized = 0
            self.cdn_requests = 0
            self.cdn_auth_headers = 0
            self.last_ratelimit: Optional[Tuple[int, int]] = None
            self.requests: List[Record] = []

    def reset_quotas(self) -> None:
        """Forget every principal's used pulls and 429 window."""
        with self.lock:
            self._quotas.clear()

    def expire_tokens(self) -> None:
        """Make every issued token invalid now (as if expires_in had passed)."""
        with self.lock:
            for t in self._tokens.values():
                t.expires = 0.0

    def remaining(self, principal: str = ANONYMOUS) -> int:
        """What ``ratelimit-remaining`` would say for ``principal`` now."""
        with self.lock:
            q = self._quotas[principal]
            if q.blocked_until is not None:
                return 0 if time.monotonic() < q.blocked_until else self._limit_of(principal)
            return max(0, self._limit_of(principal) - q.used)

    def blocked_until(self, principal: str = ANONYMOUS) -> Optional[float]:
        """time.monotonic() at which the principal's 429 window ends (None if not limited)."""
        with self.lock:
            return self._quotas[principal].blocked_until

    def total_manifest_gets(self) -> int:
        with self.lock:
            return sum(self.manifest_gets.values())

    def total_manifest_heads(self) -> int:
        with self.lock:
            return sum(self.manifest_heads.values())

    def records(self, kind: Optional[str] = None, method: Optional[str] = None,
                path_contains: str = "", settle_seconds: float = 5.0) -> List[Record]:
        """The recorded requests, once every request in flight has been recorded (or after
        ``settle_seconds``, for a client that keeps a transfer open)."""
        deadline = time.monotonic() + settle_seconds
        with self._settled:
            while self._in_flight and time.monotonic() < deadline:
                self._settled.wait(deadline - time.monotonic())
        with self.lock:
            return [r for r in self.requests if (kind is None or r.kind == kind)
                    and (method is None or r.method == method) and path_contains in r.path]

    # ---------------------------------------------------------------- internals (lock held)
    def _limit_of(self, principal: str) -> int:
        return self.anonymous_limit if principal == ANONYMOUS else self.authenticated_limit

    def _allowance_of(self, principal: str) -> int:
        limit = self._limit_of(principal)
        return limit if self.limit_after is None else min(limit, self.limit_after)

    def _check_basic(self, auth: str) -> Optional[str]:
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        with self.lock:
            expected = self.users.get(user)
        if expected is None or not secrets.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    def _request_started(self) -> None:
        with self._settled:
            self._in_flight += 1

    def _request_finished(self) -> None:
        with self._settled:
            self._in_flight -= 1
            self._settled.notify_all()

    def _record(self, method: str, path: str, principal: str, kind: str, status: int) -> None:
        with self.lock:
            self.requests.append(Record(time.monotonic(), method, path, principal, kind, status))

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        for srv in (self._hub, self._cdn):
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "DockerHubFake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
