"""Referrers cached: GET /v2/<name>/referrers/<digest> answered from the mirror's referrers index.

Run:  cd tests/integration && REGMIRROR_TEST_IMAGES=... REGMIRROR_BIN=../../build/regmirror \
      python3 -m unittest -v test_referrers

Upstream: distribution 2.8 behind a CountingProxy.  distribution 2.8 has no referrers API (404
on the route), which is exactly the fallback case: the answer comes from the manifests the
mirror cached.  The test pushes an image, then (with plain HTTP, blobs first) two artifact
manifests whose `subject` is that image's manifest: an SBOM (artifactType set, a small config
blob, annotations) and a cosign-style signature (no artifactType: the config's mediaType is
what gets listed).  They are pulled through the mirror by digest, so the mirror caches and
indexes them.  Then:
  - referrers of the image list both with the spec's descriptor fields (X-Cache: HIT: the
    upstream was asked and has no API);
  - ?artifactType= filters and says so in OCI-Filters-Applied;
  - a digest with no referrers is an empty index (200), never a 404; a malformed digest is 400
    DIGEST_INVALID with an OCI error body and is never forwarded;
  - an upstream that fails (503) or that has the API: cached-only (STALE), or merged by digest;
  - a referrer known only through the referrers tag schema (an index tagged sha256-<hex>) is
    listed too (the spec's "Enabling the Referrers API"), also offline;
  - restarted with offline: true on the same data dir: the same answer, zero upstream requests.

TestSeedFollowsSignatures: `regmirror seed` of an image brings its fallback-tag signature
(sha256-<hex>.sig) and the SBOM the upstream's referrers API lists (faked on the CountingProxy:
distribution 2.8 has none), with their blobs; the pin covers them (cache ls says pinned); the
mirror restarted offline serves all of it with zero upstream requests; --no-signatures skips.
`regmirror export` carries the same attachments; `import` into an empty offline mirror
restores them (tag pinned, SBOM indexed as a referrer) with zero upstream requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import unittest

from closedcommon import cache_ls, refs_by_name, run_cli

from pullcommon import (BIN, CountingProxy, Regmirror, Registry, log_tail, mirror_config,
                        need_binary, oci_codes, oci_layout, proc, tmpdir, wait_upstream_healthy)

REPO = "library/signed"
SBOM_TYPE = "application/vnd.example.sbom"
ATT_TYPE = "application/vnd.example.attestation"
SIG_CONFIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
INDEX_TYPE = oci_layout.MT_INDEX


def canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(reg: Registry, repo: str, data: bytes) -> str:
    """Monolithic upload: POST an upload session, PUT the bytes with ?digest=."""
    digest = digest_of(data)
    st, h, body = proc.http_get(f"{reg.url}/v2/{repo}/blobs/uploads/", method="POST", body=b"")
    if st != 202:
        raise RuntimeError(f"POST upload -> {st} {body[:300]!r}")
    location = h["location"]
    if location.startswith("/"):
        location = reg.url + location
    sep = "&" if "?" in location else "?"
    st, _, body = proc.http_get(f"{location}{sep}digest={digest}", method="PUT", body=data,
                                headers={"Content-Type": "application/octet-stream"})
    if st != 201:
        raise RuntimeError(f"PUT blob {digest} -> {st} {body[:300]!r}")
    return digest


def push_manifest(reg: Registry, repo: str, ref: str, data: bytes, media_type: str) -> None:
    st, _, body = proc.http_get(f"{reg.url}/v2/{repo}/manifests/{ref}", method="PUT", body=data,
                                headers={"Content-Type": media_type})
    if st != 201:
        raise RuntimeError(f"PUT manifest {repo}@{ref} -> {st} {body[:300]!r}")


def artifact(subject: oci_layout.Image, config_type: str, config: bytes, layer: bytes,
             artifact_type=None, annotations=None) -> dict:
    doc = {
        "schemaVersion": 2,
        "mediaType": oci_layout.MT_MANIFEST,
        "config": {"mediaType": config_type, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/octet-stream", "digest": digest_of(layer),
                    "size": len(layer)}],
        "subject": {"mediaType": oci_layout.MT_MANIFEST, "digest": subject.digest,
                    "size": len(subject.manifest_bytes)},
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if annotations:
        doc["annotations"] = annotations
    return doc


@need_binary
class TestReferrersCached(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-referrers-it-")
        lay = cls.tmp + "/layout"
        cls.img = oci_layout.build_image(lay, "1.0", layers=[1000], seed="referrers")
        cls.other = oci_layout.build_image(lay, "2.0", layers=[500], seed="referrers-none")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "1.0", REPO)
        cls.reg.push_layout(lay, "2.0", REPO)
        # The SBOM: artifactType set, the empty config, one small layer, annotations.
        empty = b"{}"
        sbom_layer = b'{"spdxVersion":"SPDX-2.3","name":"signed"}'
        sig_config = b'{"critical":{}}'
        sig_layer = b'{"critical":{"image":{"docker-manifest-digest":"' + cls.img.digest.encode() + b'"}}}'
        for blob in (empty, sbom_layer, sig_config, sig_layer):
            push_blob(cls.reg, REPO, blob)
        cls.sbom = canon(artifact(cls.img, EMPTY_TYPE, empty, sbom_layer, artifact_type=SBOM_TYPE,
                                  annotations={"org.example.kind": "sbom"}))
        # The signature: no artifactType, so the referrers API lists its config's mediaType.
        cls.sig = canon(artifact(cls.img, SIG_CONFIG_TYPE, sig_config, sig_layer))
        cls.sbom_digest, cls.sig_digest = digest_of(cls.sbom), digest_of(cls.sig)
        push_manifest(cls.reg, REPO, cls.sbom_digest, cls.sbom, oci_layout.MT_MANIFEST)
        push_manifest(cls.reg, REPO, cls.sig_digest, cls.sig, oci_layout.MT_MANIFEST)
        # An image whose referrer is known only through the referrers tag schema: an index
        # tagged sha256-<hex> (what OCI 1.1 clients push to registries without the API).
        cls.tagged = oci_layout.build_image(lay, "3.0", layers=[300], seed="referrers-tagged")
        cls.reg.push_layout(lay, "3.0", REPO)
        att_layer = b'{"predicateType":"https://slsa.dev/provenance/v1"}'
        push_blob(cls.reg, REPO, att_layer)
        cls.att = canon(artifact(cls.tagged, EMPTY_TYPE, empty, att_layer, artifact_type=ATT_TYPE))
        cls.att_digest = digest_of(cls.att)
        push_manifest(cls.reg, REPO, cls.att_digest, cls.att, oci_layout.MT_MANIFEST)
        cls.att_descriptor = {"mediaType": oci_layout.MT_MANIFEST, "digest": cls.att_digest,
                              "size": len(cls.att), "artifactType": ATT_TYPE}
        tag_index = canon({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [cls.att_descriptor]})
        push_manifest(cls.reg, REPO, "sha256-" + cls.tagged.digest.split(":", 1)[1], tag_index, INDEX_TYPE)
        cls.px = CountingProxy(cls.reg.url)
        cls.rm = Regmirror(BIN, mirror_config(cls.px.url))

    @classmethod
    def tearDownClass(cls):
        for o in ("rm", "px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.addCleanup(self.px.clear_faults)

    # ------------------------------------------------------------------ helpers
    def warm(self):
        """Pull both artifacts through the mirror by digest (so they are cached and indexed)."""
        for digest, body in ((self.sbom_digest, self.sbom), (self.sig_digest, self.sig)):
            st, h, got = self.rm.get(f"/v2/{REPO}/manifests/{digest}",
                                     headers={"Accept": oci_layout.MT_MANIFEST})
            self.assertEqual((st, got), (200, body), f"pull {digest}: {got[:300]!r}{log_tail(self.rm)}")

    def referrers(self, digest, query="", want_status=200):
        st, h, body = self.rm.get(f"/v2/{REPO}/referrers/{digest}{query}")
        self.assertEqual(st, want_status, f"referrers{query}: {body[:400]!r}{log_tail(self.rm)}")
        if want_status != 200:
            return h, body
        self.assertEqual(h.get("content-type"), INDEX_TYPE)
        doc = json.loads(body)
        self.assertEqual(doc.get("schemaVersion"), 2, doc)
        self.assertEqual(doc.get("mediaType"), INDEX_TYPE, doc)
        self.assertIsInstance(doc.get("manifests"), list, doc)
        return h, doc

    def by_digest(self, doc):
        return {d["digest"]: d for d in doc["manifests"]}

    def assert_both_listed(self, doc):
        got = self.by_digest(doc)
        self.assertEqual(set(got), {self.sbom_digest, self.sig_digest}, doc)
        sbom, sig = got[self.sbom_digest], got[self.sig_digest]
        self.assertEqual(sbom, {"mediaType": oci_layout.MT_MANIFEST, "digest": self.sbom_digest,
                                "size": len(self.sbom), "artifactType": SBOM_TYPE,
                                "annotations": {"org.example.kind": "sbom"}})
        self.assertEqual(sig, {"mediaType": oci_layout.MT_MANIFEST, "digest": self.sig_digest,
                               "size": len(self.sig), "artifactType": SIG_CONFIG_TYPE})

    # ------------------------------------------------------------------ tests
    def test_cached_referrers_are_listed_when_the_upstream_has_no_api(self):
        self.warm()
        self.px.reset()
        h, doc = self.referrers(self.img.digest)
        self.assert_both_listed(doc)
        self.assertEqual(h.get("x-cache"), "HIT")
        self.assertNotIn("oci-filters-applied", h)
        # The upstream was asked, and said 404 (distribution 2.8 has no referrers API).
        asked = self.px.requests("GET", "/referrers/" + self.img.digest)
        self.assertEqual([r.status for r in asked], [404], [(r.target, r.status) for r in asked])

    def test_artifact_type_filter_is_applied_and_announced(self):
        self.warm()
        h, doc = self.referrers(self.img.digest, "?artifactType=application%2Fvnd.example.sbom")
        self.assertEqual(h.get("oci-filters-applied"), "artifactType")
        self.assertEqual([d["digest"] for d in doc["manifests"]], [self.sbom_digest], doc)
        h, doc = self.referrers(self.img.digest, "?artifactType=" + SIG_CONFIG_TYPE.replace("+", "%2B"))
        self.assertEqual([d["digest"] for d in doc["manifests"]], [self.sig_digest], doc)
        h, doc = self.referrers(self.img.digest, "?artifactType=application%2Fvnd.example.none")
        self.assertEqual(h.get("oci-filters-applied"), "artifactType")
        self.assertEqual(doc["manifests"], [])

    def test_a_digest_without_referrers_is_an_empty_index(self):
        self.warm()
        for digest in (self.other.digest, "sha256:" + "0" * 64):
            h, doc = self.referrers(digest)
            self.assertEqual(doc["manifests"], [], digest)
        # HEAD answers the same head, no body.
        st, h, body = self.rm.get(f"/v2/{REPO}/referrers/{self.other.digest}", method="HEAD")
        self.assertEqual((st, body, h.get("content-type")), (200, b"", INDEX_TYPE))

    def test_a_malformed_digest_is_400_with_an_oci_error_and_not_forwarded(self):
        self.px.reset()
        for digest in ("sha256:totallywrong", "md5:00", "sha256:" + "A" * 64):
            h, body = self.referrers(digest, want_status=400)
            self.assertIn("DIGEST_INVALID", oci_codes(body), body[:300])
            self.assertEqual(h.get("content-type"), "application/json")
        self.assertEqual(self.px.count(None, "/referrers/"), 0, [r.target for r in self.px.requests()])

    def test_a_failing_upstream_gets_the_cached_answer(self):
        self.warm()
        self.px.fail_with(503, r"/referrers/")
        try:
            h, doc = self.referrers(self.img.digest)
            self.assert_both_listed(doc)
            self.assertEqual(h.get("x-cache"), "STALE")
            self.px.clear_faults()
            self.px.fail_with(429, r"/referrers/", retry_after=1)
            h, doc = self.referrers(self.img.digest)
            self.assert_both_listed(doc)
        finally:
            self.px.clear_faults()
            wait_upstream_healthy(self.rm, f"/v2/{REPO}/tags/list")
            # The 429 started a back-off during which the mirror sends no manifest GET (the
            # tag schema's tag is one): wait it out, so the tests after this one see the upstream.
            def tag_schema_answered():
                st, _, body = self.rm.get(f"/v2/{REPO}/referrers/{self.tagged.digest}")
                return st == 200 and json.loads(body)["manifests"] == [self.att_descriptor]
            proc.wait_until(tag_schema_answered, 30, interval=0.25, what="the 429 back-off to end")

    def test_an_upstream_with_the_api_is_merged_by_digest(self):
        self.warm()
        remote = {"mediaType": oci_layout.MT_MANIFEST, "digest": "sha256:" + "ab" * 32, "size": 321,
                  "artifactType": "application/vnd.example.attestation"}
        dup = {"mediaType": oci_layout.MT_MANIFEST, "digest": self.sbom_digest,
               "size": len(self.sbom), "artifactType": SBOM_TYPE}
        answer = canon({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [remote, dup]})
        self.px.respond(200, r"/referrers/" + self.img.digest, answer,
                        headers={"Content-Type": INDEX_TYPE})
        h, doc = self.referrers(self.img.digest)
        self.assertEqual(h.get("x-cache"), "MISS")
        digests = [d["digest"] for d in doc["manifests"]]
        self.assertEqual(digests, [remote["digest"], self.sbom_digest, self.sig_digest], doc)
        h, doc = self.referrers(self.img.digest, "?artifactType=application%2Fvnd.example.attestation")
        self.assertEqual([d["digest"] for d in doc["manifests"]], [remote["digest"]])
        self.assertEqual(h.get("oci-filters-applied"), "artifactType")

    def test_the_referrers_tag_schema_index_is_included(self):
        h, doc = self.referrers(self.tagged.digest)
        self.assertEqual(doc["manifests"], [self.att_descriptor])
        h, doc = self.referrers(self.tagged.digest, "?artifactType=application%2Fvnd.example.sbom")
        self.assertEqual(doc["manifests"], [])

    def test_offline_the_same_answer_comes_from_the_cache(self):
        self.warm()
        _, online = self.referrers(self.img.digest)
        _, tagged = self.referrers(self.tagged.digest)  # the tag schema's index, now cached
        self.assertEqual(tagged["manifests"], [self.att_descriptor])
        self.rm.stop()
        self.rm.config["offline"] = True
        try:
            self.rm.start()
            self.px.reset()
            before = self.px.connections
            h, doc = self.referrers(self.img.digest)
            self.assert_both_listed(doc)
            self.assertEqual(sorted(online["manifests"], key=lambda d: d["digest"]),
                             sorted(doc["manifests"], key=lambda d: d["digest"]))
            self.assertEqual(h.get("x-cache"), "STALE")
            h, doc = self.referrers(self.img.digest, "?artifactType=application%2Fvnd.example.sbom")
            self.assertEqual([d["digest"] for d in doc["manifests"]], [self.sbom_digest])
            self.assertEqual(h.get("oci-filters-applied"), "artifactType")
            h, doc = self.referrers(self.other.digest)
            self.assertEqual(doc["manifests"], [])
            h, doc = self.referrers(self.tagged.digest)
            self.assertEqual(doc["manifests"], [self.att_descriptor])
            # The referrers themselves are served from the cache too.
            self.warm()
            self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])
            self.assertEqual(self.px.connections - before, 0, "an offline mirror opened upstream connections")
        finally:
            self.rm.stop()
            self.rm.config["offline"] = False
            self.rm.start()


@need_binary
class TestSeedFollowsSignatures(unittest.TestCase):
    REPO = "library/seeded"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tmpdir("rm-referrers-seed-it-")
        lay = cls.tmp + "/layout"
        cls.img = oci_layout.build_image(lay, "1.0", layers=[800], seed="seeded")
        cls.reg = Registry()
        cls.reg.push_layout(lay, "1.0", cls.REPO)
        cls.sig_layer = b'{"critical":{"image":{"docker-manifest-digest":"' + cls.img.digest.encode() + b'"}}}'
        cls.sbom_layer = b'{"spdxVersion":"SPDX-2.3","name":"seeded"}'
        for blob in (b"{}", b'{"sig":1}', cls.sig_layer, cls.sbom_layer):
            push_blob(cls.reg, cls.REPO, blob)
        # cosign's fallback tag: a manifest without subject, tagged sha256-<hex>.sig.
        sig = artifact(cls.img, SIG_CONFIG_TYPE, b'{"sig":1}', cls.sig_layer)
        del sig["subject"]
        cls.sig = canon(sig)
        cls.sig_tag = "sha256-" + cls.img.digest.split(":", 1)[1] + ".sig"
        push_manifest(cls.reg, cls.REPO, cls.sig_tag, cls.sig, oci_layout.MT_MANIFEST)
        cls.sbom = canon(artifact(cls.img, EMPTY_TYPE, b"{}", cls.sbom_layer, artifact_type=SBOM_TYPE))
        cls.sbom_digest = digest_of(cls.sbom)
        push_manifest(cls.reg, cls.REPO, cls.sbom_digest, cls.sbom, oci_layout.MT_MANIFEST)
        cls.px = CountingProxy(cls.reg.url)
        # An upstream with the referrers API, listing the SBOM.
        listing = canon({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [
            {"mediaType": oci_layout.MT_MANIFEST, "digest": cls.sbom_digest, "size": len(cls.sbom),
             "artifactType": SBOM_TYPE}]})
        cls.px.respond(200, r"/referrers/" + cls.img.digest, listing, headers={"Content-Type": INDEX_TYPE})
        cls.list = os.path.join(cls.tmp, "images.txt")
        with open(cls.list, "w") as f:
            f.write(cls.REPO + ":1.0\n")

    @classmethod
    def tearDownClass(cls):
        for o in ("px", "reg"):
            if hasattr(cls, o):
                getattr(cls, o).close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def mirror(self):
        rm = Regmirror(BIN, mirror_config(self.px.url))
        self.addCleanup(rm.close)
        return rm

    def seed(self, rm, *extra):
        return run_cli("seed", "--images", self.list, "--platform", "linux/amd64",
                       "--server", rm.url, "--admin", rm.admin_url, *extra)

    def go_offline(self, rm):
        rm.stop()
        rm.config["offline"] = True
        rm.start()
        self.px.reset()
        return self.px.connections

    def test_seed_brings_signatures_pins_them_and_they_serve_offline(self):
        rm = self.mirror()
        cp = self.seed(rm)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(rm))
        self.assertIn("2 signatures/attachments", cp.stdout)
        self.assertIn("pinned", cp.stdout)
        listing = refs_by_name(cache_ls(rm))
        sig_ref = f"docker.io/{self.REPO}:{self.sig_tag}"
        self.assertIn(sig_ref, listing, sorted(listing))
        self.assertTrue(listing[sig_ref]["pinned"], listing[sig_ref])
        before = self.go_offline(rm)
        st, h, body = rm.get(f"/v2/{self.REPO}/manifests/{self.sig_tag}",
                             headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual((st, body), (200, self.sig), body[:300])
        for blob in (self.sig_layer, self.sbom_layer, b"{}"):
            st, _, got = rm.get(f"/v2/{self.REPO}/blobs/{digest_of(blob)}")
            self.assertEqual((st, got), (200, blob))
        st, h, body = rm.get(f"/v2/{self.REPO}/referrers/{self.img.digest}")
        self.assertEqual(st, 200, body[:300])
        self.assertEqual([d["digest"] for d in json.loads(body)["manifests"]], [self.sbom_digest])
        st, _, body = rm.get(f"/v2/{self.REPO}/manifests/{self.sbom_digest}",
                             headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual((st, body), (200, self.sbom))
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])
        self.assertEqual(self.px.connections - before, 0)

    def test_export_then_import_into_an_offline_mirror_carries_them(self):
        source = self.mirror()
        bundle = os.path.join(self.tmp, "signed.tar")
        cp = run_cli("export", "--images", self.list, "-o", bundle, "--platform", "linux/amd64",
                     "--server", source.url)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(source))
        self.assertIn(self.sig_tag + " of " + self.img.digest, cp.stdout)
        self.assertIn("referrer of " + self.img.digest + " (" + self.sbom_digest + ")", cp.stdout)
        target = Regmirror(BIN, mirror_config(self.px.url, offline=True))
        self.addCleanup(target.close)
        self.px.reset()
        cp = run_cli("import", bundle, "--admin", target.admin_url)
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(target))
        listing = refs_by_name(cache_ls(target))
        sig_ref = f"docker.io/{self.REPO}:{self.sig_tag}"
        self.assertTrue(listing[sig_ref]["pinned"], listing.get(sig_ref))
        self.assertTrue(listing[f"docker.io/{self.REPO}:1.0"]["pinned"])
        st, _, body = target.get(f"/v2/{self.REPO}/manifests/{self.sig_tag}",
                                 headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual((st, body), (200, self.sig))
        st, _, got = target.get(f"/v2/{self.REPO}/blobs/{digest_of(self.sig_layer)}")
        self.assertEqual((st, got), (200, self.sig_layer))
        st, _, body = target.get(f"/v2/{self.REPO}/referrers/{self.img.digest}")
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(json.loads(body)["manifests"],
                         [{"mediaType": oci_layout.MT_MANIFEST, "digest": self.sbom_digest,
                           "size": len(self.sbom), "artifactType": SBOM_TYPE}])
        st, _, body = target.get(f"/v2/{self.REPO}/manifests/{self.sbom_digest}",
                                 headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual((st, body), (200, self.sbom))
        self.assertEqual(self.px.count(), 0, [(r.method, r.target) for r in self.px.requests()])

    def test_no_signatures_skips_them(self):
        rm = self.mirror()
        cp = self.seed(rm, "--no-signatures")
        self.assertEqual(cp.returncode, 0, cp.stdout + cp.stderr + log_tail(rm))
        self.assertNotIn("signatures/attachments", cp.stdout)
        self.go_offline(rm)
        st, _, _ = rm.get(f"/v2/{self.REPO}/manifests/{self.sig_tag}",
                          headers={"Accept": oci_layout.MT_MANIFEST})
        self.assertEqual(st, 404)
        st, _, body = rm.get(f"/v2/{self.REPO}/referrers/{self.img.digest}")
        self.assertEqual((st, json.loads(body)["manifests"]), (200, []))


if __name__ == "__main__":
    unittest.main(verbosity=2)
