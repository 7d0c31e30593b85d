"""The Docker Hub fake (tests/fakes/docker_hub.py) behaves as documented, and shared helpers
for the test_dockerhub_*.py files (issue 4).

Run:  cd tests/integration && /usr/bin/python3 -m unittest -v test_dockerhub_fake

The fake's self-tests need only docker-registry and skopeo (no regmirror binary): if the fake
were wrong, every regmirror test built on it would prove nothing.  The strict Prometheus text
parser used by test_dockerhub_metrics is tested here too, on bad input that it must reject.

Helpers imported by the other test_dockerhub_* files (no TestCase is exported from here):
  HubSetup / hub_config / write_secret       fake + registry + images, regmirror config
  Transcript                                 every request/response a test made (secret scan)
  JsonAwareRegmirror                         harness Regmirror that also recognises the JSON
                                             "listening" line (log_format json)
  parse_prometheus_text / metric_value / metric_sum
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sys
import time
import unittest
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/ (fakes)

from fakes.docker_hub import ANONYMOUS, DockerHubFake  # noqa: E402
from harness import oci_layout, proc  # noqa: E402
from harness.regmirror import LISTENING, Regmirror, find_binary  # noqa: E402
from harness.upstream import Registry  # noqa: E402

BIN = find_binary()
ACCEPT = {"Accept": ", ".join([
    oci_layout.MT_MANIFEST, oci_layout.MT_INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json"])}


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def oci_codes(body: bytes) -> List[str]:
    try:
        return [e.get("code") for e in json.loads(body).get("errors", [])]
    except (ValueError, AttributeError, TypeError):
        return []


def tmpdir(prefix: str) -> str:
    import tempfile
    return proc.register_tmp(tempfile.mkdtemp(prefix=prefix))


def random_password() -> str:
    """A distinctive secret: never a substring of anything else a test can see."""
    return "dhpw-" + secrets.token_hex(12) + "-Zq9"


def write_secret(directory: str, value: str, name: str = "dockerhub-token") -> str:
    """A password file as a mounted Kubernetes Secret would be (0600, trailing newline)."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def hub_config(hub_url: str, ttl: int = 300, username: Optional[str] = None,
               password_file: Optional[str] = None, password_env: Optional[str] = None,
               min_remaining: Optional[int] = None, **top) -> dict:
    """regmirror config: docker.io -> the fake (optionally with credentials / min_remaining)."""
    up = {"url": hub_url}
    if username is not None:
        up["username"] = username
    if password_file is not None:
        up["password_file"] = password_file
    if password_env is not None:
        up["password_env"] = password_env
    reg = {"upstreams": [up], "tag_ttl_seconds": ttl}
    if min_remaining is not None:
        reg["min_remaining"] = min_remaining
    cfg = {"default_registry": "docker.io", "offline": False, "registries": {"docker.io": reg}}
    cfg.update(top)
    return cfg


class JsonAwareRegmirror(Regmirror):
    """The harness waits for ``event=listening addr=127.0.0.1:PORT``; with ``log_format: json``
    the same event is ``{"event":"listening","addr":"127.0.0.1:PORT",...}``.  This subclass
    accepts both (it overrides the harness's private reader; see the report for issue 4)."""

    def _read_output(self, pipe) -> None:
        with open(self.log_path, "ab") as log:
            for line in iter(pipe.readline, b""):
                with self._log_lock:
                    log.write(line)
                    log.flush()
                if self._ready.is_set():
                    continue
                text = line.decode("utf-8", "replace")
                port = None
                m = LISTENING.search(text)
                if m:
                    port = int(m.group(2))
                else:
                    try:
                        doc = json.loads(text)
                    except ValueError:
                        doc = None
                    if isinstance(doc, dict) and doc.get("event") == "listening":
                        mm = re.match(r"^127\.0\.0\.1:(\d+)$", str(doc.get("addr", "")))
                        port = int(mm.group(1)) if mm else None
                if port:
                    self._port_seen = port
                    self._ready.set()
        pipe.close()


class Transcript:
    """Every request a test sent to regmirror and everything it got back, for secret scans."""

    def __init__(self):
        self.parts: List[bytes] = []

    def add(self, *chunks) -> None:
        for c in chunks:
            self.parts.append(c if isinstance(c, bytes) else str(c).encode("utf-8", "replace"))

    def request(self, base_url: str, path: str, headers: Optional[Dict[str, str]] = None,
                method: str = "GET") -> Tuple[int, Dict[str, str], bytes]:
        st, hdrs, body = proc.http_get(base_url + path, headers=headers, method=method, timeout=60)
        self.add(f"{method} {path} -> {st}", json.dumps(hdrs), body)
        return st, hdrs, body

    def blob(self) -> bytes:
        return b"\n".join(self.parts)


# --------------------------------------------------------------------------- Prometheus text

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_HELP_RE = re.compile(rf"^# HELP ({_NAME}) (.*)$")
_TYPE_RE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)$")
_SAMPLE_RE = re.compile(rf"^({_NAME})(\{{.*\}})? (\S+)( -?\d+)?$")
_LABEL_PAIR_RE = re.compile(rf'({_LABEL})="((?:[^"\\\n]|\\[\\"n])*)"')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", ""),
             "counter": ("", "_total"), "gauge": ("",), "untyped": ("",)}


def _parse_value(s: str, where: str) -> float:
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", s):
        raise ValueError(f"{where}: bad sample value {s!r}")
    return float(s)


def _parse_labels(s: str, where: str) -> Dict[str, str]:
    inner = s[1:-1]
    labels: Dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        m = _LABEL_PAIR_RE.match(inner, pos)
        if not m:
            raise ValueError(f"{where}: bad label syntax at {inner[pos:]!r}")
        name = m.group(1)
        if name in labels:
            raise ValueError(f"{where}: duplicate label {name!r}")
        labels[name] = m.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = m.end()
        if pos < len(inner):
            if inner[pos] != ",":
                raise ValueError(f"{where}: expected ',' between labels at {inner[pos:]!r}")
            pos += 1
            if pos == len(inner):
                break  # a trailing comma is allowed by the format
    return labels


def parse_prometheus_text(text: str) -> Tuple[Dict[str, dict], List[Tuple[str, Dict[str, str], float]]]:
    """Strict parser of the Prometheus text exposition format (0.0.4).

    Returns (families, samples): families[name] = {"help": str|None, "type": str|None},
    samples = [(sample name, labels, value)].  Raises ValueError (with the line number) on:
    a missing final newline, a blank line, a comment other than HELP/TYPE, a second HELP or
    TYPE for a name, TYPE after the family's samples, a sample whose family has no TYPE,
    a sample name that does not fit its family's type, bad names/labels/values, a repeated
    (name, labels) sample, a histogram without its +Inf bucket or with _count != +Inf bucket."""
    if not text.endswith("\n"):
        raise ValueError("exposition does not end with a newline")
    families: Dict[str, dict] = {}
    samples: List[Tuple[str, Dict[str, str], float]] = []
    seen = set()
    current: Optional[str] = None
    for no, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {no} ({line[:80]!r})"
        if line == "":
            raise ValueError(f"{where}: blank line")
        if line.startswith("#"):
            m = _HELP_RE.match(line)
            if m:
                fam = families.setdefault(m.group(1), {"help": None, "type": None, "samples": 0})
                if fam["help"] is not None:
                    raise ValueError(f"{where}: second HELP for {m.group(1)}")
                fam["help"] = m.group(2)
                continue
            m = _TYPE_RE.match(line)
            if m:
                fam = families.setdefault(m.group(1), {"help": None, "type": None, "samples": 0})
                if fam["type"] is not None:
                    raise ValueError(f"{where}: second TYPE for {m.group(1)}")
                if fam["samples"]:
                    raise ValueError(f"{where}: TYPE after samples of {m.group(1)}")
                fam["type"] = m.group(2)
                current = m.group(1)
                continue
            raise ValueError(f"{where}: comment that is neither HELP nor TYPE")
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ValueError(f"{where}: not a sample line 'name{{labels}} value'")
        name, label_text, value_text = m.group(1), m.group(2), m.group(3)
        labels = _parse_labels(label_text, where) if label_text else {}
        value = _parse_value(value_text, where)
        fam_name = None
        if current is not None:
            ftype = families[current]["type"]
            for suf in _SUFFIXES[ftype]:
                if name == current + suf:
                    fam_name = current
        if fam_name is None:
            raise ValueError(f"{where}: sample {name} outside a TYPE'd family "
                             f"(current family {current!r})")
        ftype = families[fam_name]["type"]
        if ftype == "histogram" and name.endswith("_bucket") and "le" not in labels:
            raise ValueError(f"{where}: histogram bucket without le")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError(f"{where}: repeated sample {name}{labels}")
        seen.add(key)
        families[fam_name]["samples"] += 1
        samples.append((name, labels, value))
    for fname, fam in families.items():
        if fam["type"] == "histogram":
            groups: Dict[tuple, dict] = {}
            for n, lab, v in samples:
                if n.startswith(fname + "_"):
                    base = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
                    g = groups.setdefault(base, {})
                    if n == fname + "_bucket" and lab.get("le") == "+Inf":
                        g["inf"] = v
                    elif n == fname + "_count":
                        g["count"] = v
            for base, g in groups.items():
                if "inf" not in g or g.get("count") != g["inf"]:
                    raise ValueError(f"histogram {fname}{dict(base)}: +Inf bucket {g.get('inf')} "
                                     f"!= _count {g.get('count')}")
    return families, samples


def metric_value(samples, name: str, **labels) -> Optional[float]:
    """The value of the one sample ``name`` whose labels include ``labels`` (None if absent;
    AssertionError if several match)."""
    hits = [v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())]
    if len(hits) > 1:
        raise AssertionError(f"{len(hits)} samples of {name} match {labels}")
    return hits[0] if hits else None


def metric_sum(samples, name: str, **labels) -> float:
    """Sum over every sample ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def scrape(rm) -> Tuple[str, Dict[str, dict], list]:
    st, hdrs, body = proc.http_get(rm.url + "/metrics", timeout=30)
    if st != 200:
        raise AssertionError(f"/metrics -> {st}: {body[:300]!r}")
    text = body.decode("utf-8")
    fams, samples = parse_prometheus_text(text)
    return text, fams, samples


# --------------------------------------------------------------------------- common setup

class HubSetup:
    """A registry with images pushed, the fake in front of it.  ``images[(repo, tag)]`` -> Image."""

    def __init__(self, specs, **fake_kwargs):
        """specs: [(repo, tag, seed, layer sizes)]"""
        self.tmp = tmpdir("rm-dockerhub-")
        self.layout = os.path.join(self.tmp, "layout")
        self.reg = Registry()
        self.images: Dict[Tuple[str, str], oci_layout.Image] = {}
        try:
            for repo, tag, seed, layers in specs:
                self.push(repo, tag, seed, layers)
            self.hub = DockerHubFake(self.reg.url, **fake_kwargs)
        except BaseException:
            self.reg.close()
            raise

    def push(self, repo: str, tag: str, seed: str, layers=(1500,)) -> oci_layout.Image:
        """Build an image from ``seed`` and push it as repo:tag into the real registry
        (replacing what the tag pointed at)."""
        ltag = f"{repo.replace('/', '_')}-{tag}-{seed}"
        img = oci_layout.build_image(self.layout, ltag, layers=list(layers), seed=seed)
        self.reg.push_layout(self.layout, ltag, repo, dest_tag=tag)
        self.images[(repo, tag)] = img
        return img

    def close(self) -> None:
        for o in ("hub", "reg"):
            if hasattr(self, o):
                getattr(self, o).close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- the fake itself

def _req(url: str, method: str = "GET", headers=None):
    return proc.http_get(url, headers=headers, method=method, timeout=30)


class TestDockerHubFake(unittest.TestCase):
    """Self-tests of tests/fakes/docker_hub.py against a real docker-registry."""

    @classmethod
    def setUpClass(cls):
        cls.pw = random_password()
        cls.setup = HubSetup([("library/alpine", "3.19", "fake-a", (2000, 70000)),
                              ("library/busybox", "1.36", "fake-b", (900,))],
                             users={"me": cls.pw}, anonymous_limit=4, authenticated_limit=6,
                             window_seconds=2.0, cdn=True, token_expires_in=300)
        cls.hub = cls.setup.hub
        cls.img = cls.setup.images[("library/alpine", "3.19")]

    @classmethod
    def tearDownClass(cls):
        cls.setup.close()

    def setUp(self):
        self.hub.reset_counters()
        self.hub.reset_quotas()

    def token(self, repo: str, user: Optional[str] = None, password: Optional[str] = None,
              service: str = "registry.docker.io") -> Tuple[int, dict]:
        h = {}
        if user is not None:
            h["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        st, _, body = _req(f"{self.hub.realm}?service={service}&scope=repository:{repo}:pull", headers=h)
        return st, (json.loads(body) if body else {})

    def bearer(self, repo: str, **kw) -> Dict[str, str]:
        st, doc = self.token(repo, **kw)
        self.assertEqual(st, 200, doc)
        return {"Authorization": "Bearer " + doc["token"], **ACCEPT}

    def test_challenge_on_base_and_repo_routes(self):
        st, h, body = _req(self.hub.url + "/v2/")
        self.assertEqual(st, 401)
        self.assertEqual(h["www-authenticate"],
                         f'Bearer realm="{self.hub.realm}",service="registry.docker.io"')
        self.assertEqual(oci_codes(body), ["UNAUTHORIZED"])
        st, h, _ = _req(self.hub.url + "/v2/library/alpine/manifests/3.19", headers=ACCEPT)
        self.assertEqual(st, 401)
        self.assertEqual(h["www-authenticate"],
                         f'Bearer realm="{self.hub.realm}",service="registry.docker.io",'
                         f'scope="repository:library/alpine:pull"')
        self.assertNotIn("ratelimit-remaining", h)
        self.assertEqual(self.hub.unauthorized, 2)
        self.assertEqual(self.hub.total_manifest_gets(), 0, "a 401 must not use quota")
        st, _, _ = _req(self.hub.url + "/v2/", headers=self.bearer("library/alpine"))
        self.assertEqual(st, 200)
        # Basic on a registry route is not accepted (only at the realm)
        basic = {"Authorization": "Basic " + base64.b64encode(f"me:{self.pw}".encode()).decode()}
        self.assertEqual(_req(self.hub.url + "/v2/", headers=basic)[0], 401)

    def test_token_scope_is_honoured(self):
        h = self.bearer("library/busybox")
        st, hdrs, _ = _req(self.hub.url + "/v2/library/alpine/manifests/3.19", headers=h)
        self.assertEqual(st, 401, "a busybox token must not open alpine")
        self.assertIn('error="insufficient_scope"', hdrs["www-authenticate"])
        st, hdrs, body = _req(self.hub.url + "/v2/library/busybox/manifests/1.36", headers=h)
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["docker-content-digest"], self.setup.images[("library/busybox", "1.36")].digest)
        self.assertEqual(sha(body), hdrs["docker-content-digest"])
        self.assertEqual(self.hub.token_scopes, [(ANONYMOUS, ["repository:library/busybox:pull"])])

    def test_basic_credentials_wrong_password_and_wrong_service(self):
        st, doc = self.token("library/alpine", user="me", password=self.pw + "x")
        self.assertEqual((st, doc), (401, {"details": "incorrect username or password"}))
        st, doc = self.token("library/alpine", user="nobody", password=self.pw)
        self.assertEqual(st, 401)
        st, _ = self.token("library/alpine", service="other.example")
        self.assertEqual(st, 400)
        self.assertEqual(self.hub.token_failures, 3)
        st, doc = self.token("library/alpine", user="me", password=self.pw)
        self.assertEqual(st, 200)
        self.assertEqual(doc["expires_in"], 300)
        self.assertEqual(doc["token"], doc["access_token"])
        self.assertEqual(self.hub.token_requests_by, {"me": 1})

    def test_tokens_expire(self):
        h = self.bearer("library/alpine")
        self.assertEqual(_req(self.hub.url + "/v2/library/alpine/manifests/3.19", "HEAD", h)[0], 200)
        self.hub.expire_tokens()
        st, hdrs, _ = _req(self.hub.url + "/v2/library/alpine/manifests/3.19", "HEAD", h)
        self.assertEqual(st, 401)
        self.assertIn('error="invalid_token"', hdrs["www-authenticate"])
        old = self.hub.token_expires_in
        self.hub.token_expires_in = 1
        try:
            h = self.bearer("library/alpine")
            self.assertEqual(_req(self.hub.url + "/v2/library/alpine/manifests/3.19", "HEAD", h)[0], 200)
            time.sleep(1.1)
            self.assertEqual(_req(self.hub.url + "/v2/library/alpine/manifests/3.19", "HEAD", h)[0], 401)
        finally:
            self.hub.token_expires_in = old

    def test_ratelimit_headers_get_counts_head_and_blobs_do_not(self):
        anon = self.bearer("library/alpine")
        mine = self.bearer("library/alpine", user="me", password=self.pw)
        url = self.hub.url + "/v2/library/alpine/manifests/3.19"
        seen = []
        for method, h in (("HEAD", anon), ("GET", anon), ("HEAD", anon), ("GET", anon), ("GET", mine)):
            st, hdrs, _ = _req(url, method, h)
            self.assertEqual(st, 200)
            self.assertEqual(hdrs["docker-ratelimit-source"], "127.0.0.1")
            self.assertEqual(hdrs["docker-content-digest"], self.img.digest)
            self.assertEqual(int(hdrs["content-length"]), self.img.manifest.size)
            seen.append((hdrs["ratelimit-limit"], hdrs["ratelimit-remaining"]))
        self.assertEqual(seen, [("4;w=21600", "4;w=21600"), ("4;w=21600", "3;w=21600"),
                                ("4;w=21600", "3;w=21600"), ("4;w=21600", "2;w=21600"),
                                ("6;w=21600", "5;w=21600")])
        st, _, _ = _req(self.hub.url + f"/v2/library/alpine/blobs/{self.img.config.digest}", "HEAD", anon)
        self.assertEqual(st, 200)
        self.assertEqual(self.hub.remaining(ANONYMOUS), 2, "blob requests must not use quota")
        self.assertEqual(self.hub.manifest_gets, {ANONYMOUS: 2, "me": 1})
        self.assertEqual(self.hub.manifest_heads, {ANONYMOUS: 2})
        self.assertEqual(self.hub.last_ratelimit, (6, 5))

    def test_429_after_limit_with_retry_after_then_window_resets(self):
        h = self.bearer("library/alpine")
        url = self.hub.url + "/v2/library/alpine/manifests/3.19"
        for i in range(4):
            self.assertEqual(_req(url, "GET", h)[0], 200, f"GET #{i + 1} of 4 allowed")
        st, hdrs, body = _req(url, "GET", h)
        self.assertEqual(st, 429)
        self.assertEqual(oci_codes(body), ["TOOMANYREQUESTS"])
        self.assertEqual(hdrs["retry-after"], "2")
        self.assertEqual(hdrs["ratelimit-remaining"], "0;w=21600")
        st, hdrs, _ = _req(url, "HEAD", h)
        self.assertEqual(st, 200, "HEAD keeps working while limited")
        self.assertEqual(hdrs["ratelimit-remaining"], "0;w=21600")
        self.assertEqual(self.hub.manifest_429s, {ANONYMOUS: 1})
        # the account has its own quota
        mine = self.bearer("library/alpine", user="me", password=self.pw)
        self.assertEqual(_req(url, "GET", mine)[0], 200)
        time.sleep(self.hub.blocked_until(ANONYMOUS) - time.monotonic() + 0.05)
        st, hdrs, _ = _req(url, "GET", h)
        self.assertEqual(st, 200, "a new window starts after window_seconds")
        self.assertEqual(hdrs["ratelimit-remaining"], "3;w=21600")

    def test_limit_after_answers_429_before_remaining_reaches_zero(self):
        self.hub.limit_after = 1
        try:
            h = self.bearer("library/alpine")
            url = self.hub.url + "/v2/library/alpine/manifests/3.19"
            self.assertEqual(_req(url, "GET", h)[0], 200)
            self.assertEqual(_req(url, "GET", h)[0], 429)
        finally:
            self.hub.limit_after = None

    def test_blob_get_redirects_to_cdn_that_refuses_authorization(self):
        h = self.bearer("library/alpine")
        layer = self.img.layers[1]
        st, hdrs, body = _req(self.hub.url + f"/v2/library/alpine/blobs/{layer.digest}", "GET", h)
        self.assertEqual(st, 307)
        loc = hdrs["location"]
        self.assertTrue(loc.startswith(self.hub.cdn_url + "/cdn/library"), loc)
        st, hdrs, body = _req(loc)
        self.assertEqual(st, 200)
        self.assertEqual(sha(body), layer.digest)
        self.assertEqual(int(hdrs["content-length"]), layer.size)
        st, hdrs, body = _req(loc, headers={"Range": "bytes=10-"})
        self.assertEqual(st, 206)
        self.assertEqual(body, oci_layout.read_blob(self.img.dir, layer.digest)[10:])
        self.assertEqual(self.hub.cdn_auth_headers, 0)
        st, _, body = _req(loc, headers=h)
        self.assertEqual(st, 400)
        self.assertIn(b"Only one auth mechanism allowed", body)
        self.assertEqual(self.hub.cdn_auth_headers, 1)
        self.assertEqual(_req(self.hub.cdn_url + f"/cdn/library/alpine/blobs/{layer.digest}?sig=forged")[0], 403)
        # unknown blobs are not redirected
        st, _, body = _req(self.hub.url + "/v2/library/alpine/blobs/sha256:" + "0" * 64, "GET", h)
        self.assertEqual(st, 404)
        self.assertEqual(self.hub.remaining(ANONYMOUS), 4)

    def test_skopeo_pulls_directly_from_the_fake(self):
        """A real Go client (containers/image) completes the token dance and the CDN redirect."""
        from harness import skopeo
        dest = os.path.join(self.setup.tmp, "direct")
        shutil.rmtree(dest, ignore_errors=True)
        skopeo.copy_to_oci(f"docker://{self.hub.host}/library/alpine:3.19", dest)
        for d in self.img.all_digests:
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)
        self.assertEqual(self.hub.manifest_gets, {ANONYMOUS: 1})
        self.assertEqual(self.hub.cdn_requests, len(self.img.blob_digests))
        self.assertEqual(self.hub.cdn_auth_headers, 0)


class TestPrometheusParser(unittest.TestCase):
    GOOD = ('# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1",y="q\\"uo\\\\te"} 3\n'
            '# HELP g A gauge\n# TYPE g gauge\ng 1.5e3\n'
            '# HELP h Latency\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 0.3\nh_count 2\n')

    def test_good_text_parses(self):
        fams, samples = parse_prometheus_text(self.GOOD)
        self.assertEqual(fams["a_total"]["type"], "counter")
        self.assertEqual(metric_value(samples, "a_total", x="1"), 3)
        self.assertEqual(metric_value(samples, "a_total", y='q"uo\\te'), 3)
        self.assertEqual(metric_value(samples, "g"), 1500)
        self.assertEqual(metric_sum(samples, "h_bucket"), 3)

    def test_bad_text_is_rejected(self):
        bad = {
            "no final newline": self.GOOD[:-1],
            "unterminated label value": self.GOOD.replace('x="1"', 'x="1'),
            "value not a number": self.GOOD.replace("g 1.5e3", "g 1.5x"),
            "sample before TYPE": "g 1\n# HELP g x\n# TYPE g gauge\n",
            "second TYPE": self.GOOD + "# TYPE g gauge\n",
            "repeated sample": self.GOOD + "h_count 2\n",
            "blank line": self.GOOD + "\n",
            "stray comment": self.GOOD + "# hello\n",
            "label without quotes": self.GOOD.replace('x="1"', "x=1"),
            "missing space before value": self.GOOD.replace("g 1.5e3", "g1.5e3"),
            "count != +Inf bucket": self.GOOD.replace("h_count 2", "h_count 3"),
            "sample of another family": self.GOOD + "zzz 1\n",
        }
        for what, text in bad.items():
            with self.subTest(input=what):
                with self.assertRaises(ValueError, msg=f"accepted bad input: {what}"):
                    parse_prometheus_text(text)


if __name__ == "__main__":
    unittest.main()
