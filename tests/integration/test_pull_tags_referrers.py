"""tags/list (n, last, Link) through the mirror and from cache during an outage; referrers.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_pull_tags_referrers

Upstream: distribution 2.8 behind a CountingProxy.  library/many has one image under 9 tags
(the extra tags are PUTs of the same manifest).  distribution 2.8 has no referrers API, so
/v2/<name>/referrers/<digest> 404s upstream; the mirror answers from its referrers index (an
empty image index here, never a 404: see test_referrers).  Clients of old registries use the
fallback tag sha256-<hex>, which is an ordinary tag.
"""

import json
import os
import re
import shutil
import time
import unittest
from urllib.parse import parse_qs, urlsplit

from pullcommon import (ACCEPT, BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_codes, oci_layout, push_tag, sha, tmpdir, wait_upstream_healthy)

TAGS = ["1.0", "1.1", "2.0", "alpha", "beta", "latest", "v1", "v2", "zeta"]
LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@need_binary
class TestTagsAndReferrers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-tags-it-")
        lay = os.path.join(cls.tmp, "layout")
        cls.img = oci_layout.build_image(lay, "1.0", layers=[1000], seed="tags")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "1.0", "library/many")
        for t in TAGS[1:]:
            push_tag(cls.reg, "library/many", t, cls.img.manifest_bytes, oci_layout.MT_MANIFEST)
        # fallback referrers tag for the image (what an OCI 1.1 client pushes to old registries)
        cls.fallback_tag = "sha256-" + cls.img.digest.split(":", 1)[1]
        cls.reg.push_layout(lay, "1.0", "library/fallback", dest_tag=cls.fallback_tag)
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url, ttl=1))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.px.clear_faults)

    def upstream_tags(self, query=""):
        st, h, body = self.reg.get("/v2/library/many/tags/list" + query)
        assert st == 200, (st, body)
        return json.loads(body)["tags"], h

    def mirror_tags(self, query="", repo="library/many"):
        st, h, body = self.rm.get(f"/v2/{repo}/tags/list" + query)
        self.assertEqual(st, 200, f"tags/list{query}: {body[:300]!r}{log_tail(self.rm)}")
        doc = json.loads(body)
        self.assertIn(doc.get("name"), (repo, "library/" + repo))  # short Docker Hub names may be expanded
        return doc["tags"], h

    # ------------------------------------------------------------------ tags/list
    def test_full_list_matches_upstream(self):
        # distribution 2.8 lists tags in storage order; the mirror answers in lexical order
        up, _ = self.upstream_tags()
        self.assertEqual(sorted(up), sorted(TAGS))
        up = sorted(up)
        got, h = self.mirror_tags()
        self.assertEqual(got, up)
        self.assertNotIn("link", h)
        self.assertTrue(h.get("content-type", "").startswith("application/json"))
        # Docker Hub short name routes to library/ as well
        got2, _ = self.mirror_tags(repo="many")
        self.assertEqual(got2, up)
        self.assertGreaterEqual(self.px.count("GET", r"^/v2/library/many/tags/list"), 1)
        self.assertEqual(self.px.count(None, r"^/v2/many/"), 0)

    def test_pagination_n_last_and_link(self):
        up = sorted(self.upstream_tags()[0])
        got, h = self.mirror_tags("?n=3")
        self.assertEqual(got, up[:3])
        self.assertIn("link", h, h)
        # follow Link headers to the end; each page is what upstream says after `last`
        pages, seen = [got], list(got)
        for _ in range(10):
            m = LINK.search(h.get("link", ""))
            if not m:
                break
            u = urlsplit(m.group(1))
            self.assertTrue(u.path.endswith("/tags/list"), m.group(1))
            q = parse_qs(u.query)
            self.assertEqual(q.get("n"), ["3"])
            self.assertEqual(q.get("last"), [seen[-1]])
            got, h = self.mirror_tags("?" + u.query)
            pages.append(got)
            seen += got
        self.assertEqual(seen, up)
        self.assertEqual([len(p) for p in pages], [3, 3, 3])
        self.assertNotIn("link", h, "last page still has a Link header")
        # last= in the middle
        got, _ = self.mirror_tags("?n=2&last=alpha")
        self.assertEqual(got, [t for t in up if t > "alpha"][:2])
        got, _ = self.mirror_tags("?n=2&last=b")  # last need not be an existing tag
        self.assertEqual(got, [t for t in up if t > "b"][:2])
        got, _ = self.mirror_tags("?last=v1")
        self.assertEqual(got, [t for t in up if t > "v1"])

    def test_tags_from_cache_when_upstream_down(self):
        pulled = ["1.1", "beta", "v2"]
        for t in pulled:  # the mirror learns tags by resolving them
            st, h, body = self.rm.get(f"/v2/library/many/manifests/{t}", headers=ACCEPT)
            self.assertEqual((st, sha(body)), (200, self.img.digest))
        full, _ = self.mirror_tags()
        self.px.down()
        time.sleep(2.1)
        st, h, body = self.rm.get("/v2/library/many/tags/list", timeout=30)
        self.assertEqual(st, 200, f"{body[:300]!r}{log_tail(self.rm)}")
        self.assertEqual(h.get("x-cache"), "STALE")
        tags = json.loads(body)["tags"]
        self.assertEqual(tags, sorted(tags))
        self.assertTrue(set(pulled) <= set(tags), tags)
        self.assertTrue(set(tags) <= set(full), tags)
        # pagination still applies to the cached list
        st, h, body = self.rm.get("/v2/library/many/tags/list?n=1", timeout=30)
        self.assertEqual((st, h.get("x-cache")), (200, "STALE"))
        self.assertEqual(json.loads(body)["tags"], tags[:1])
        # a repository the mirror knows nothing about: clean 503, not a hang
        t0 = time.monotonic()
        st, h, body = self.rm.get("/v2/library/unknownrepo/tags/list", timeout=30)
        self.assertEqual(st, 503, body[:300])
        self.assertIn("UNAVAILABLE", oci_codes(body))
        self.assertLess(time.monotonic() - t0, 15)
        self.px.up()
        wait_upstream_healthy(self.rm, "/v2/library/many/tags/list")

    def test_tags_of_missing_repo_404(self):
        st, h, body = self.rm.get("/v2/library/nosuchrepo/tags/list")
        self.assertEqual(st, 404, body[:300])
        self.assertTrue(oci_codes(body), body[:300])

    # ------------------------------------------------------------------ referrers
    def test_referrers_without_upstream_api_are_an_empty_index(self):
        path = f"/v2/library/many/referrers/{self.img.digest}"
        self.px.reset()
        for q in ("", "?artifactType=application%2Fvnd.example.sig"):
            st, h, body = self.rm.get(path + q)
            self.assertEqual(st, 200, f"{q}: {body[:300]!r}")
            self.assertEqual(h.get("content-type"), "application/vnd.oci.image.index.v1+json")
            self.assertEqual(json.loads(body)["manifests"], [], body[:300])
        # it was asked upstream (not answered locally only)
        self.assertEqual(self.px.count("GET", "^/v2/library/many/referrers/" + self.img.digest), 2,
                         [r.target for r in self.px.requests()])
        # an invalid digest is answered locally
        st, _, body = self.rm.get("/v2/library/many/referrers/sha256:totallywrong")
        self.assertEqual(st, 400)
        self.assertIn("DIGEST_INVALID", oci_codes(body))
        self.assertEqual(self.px.count(None, "totallywrong"), 0)

    def test_referrers_fallback_tag_is_a_tag(self):
        # the fallback tag exists upstream -> served like any tag
        st, h, body = self.rm.get(f"/v2/library/fallback/manifests/{self.fallback_tag}", headers=ACCEPT)
        self.assertEqual((st, sha(body), h.get("docker-content-digest")), (200, self.img.digest, self.img.digest),
                         log_tail(self.rm))
        # it does not exist for library/many -> upstream 404 stays a 404
        st, h, body = self.rm.get(f"/v2/library/many/manifests/{self.fallback_tag}", headers=ACCEPT)
        self.assertEqual(st, 404, body[:300])
        self.assertIn("MANIFEST_UNKNOWN", oci_codes(body))


if __name__ == "__main__":
    unittest.main(verbosity=2)
