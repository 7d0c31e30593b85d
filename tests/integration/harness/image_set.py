"""The realistic image set: production-sized images shared by the integration tests.

Toy layers of a few KB prove nothing about buffers, limits or memory, so the tests that move
content (seed, export/import, S3, coalescing, crash, full disk, client hang-ups) use this set:

  realistic/app:v1       one image, layers of 1 MiB (gzip), 30 MiB and 200 MiB (plain tar)
  realistic/multi:v1     an OCI index for linux/amd64 and linux/arm64, layers 3 MiB + 12 MiB each
  realistic/layers20:v1  a 20-layer image, layers of 64 KiB .. ~5 MiB (about 40 MiB in all)

``realistic()`` builds the set once per test run (one OCI layout, deterministic bytes, see
oci_layout) plus a distribution storage tree holding it (pushed once with skopeo), under
``$REGMIRROR_TEST_IMAGES`` (ctest points it into the build tree) or a temp-dir default. An
flock makes concurrent test modules wait for the first one instead of building it twice; a
``complete`` marker, written last, makes a half-built set (a killed run) be rebuilt.

``Registry(preload=realistic())`` starts a registry whose storage is a copy of that tree:
blob ``data`` files are hard links (distribution never rewrites a blob file; a delete unlinks
it), every other file is copied, so a test may delete or re-push tags without touching the
shared set, and a copy costs milliseconds instead of a 300 MB push.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
from typing import Dict, List, Tuple, Union

from . import oci_layout, skopeo

MIB = 1 << 20
VERSION = "1"  # bump when the set's contents change: the cache directory name carries it

# (repository, tag) -> how it is built. Sizes are payload bytes per layer.
APP = ("realistic/app", "v1")
MULTI = ("realistic/multi", "v1")
LAYERS20 = ("realistic/layers20", "v1")
APP_LAYERS = (1 * MIB, 30 * MIB, 200 * MIB)
MULTI_PLATFORMS = ("linux/amd64", "linux/arm64")
MULTI_LAYERS = (3 * MIB, 12 * MIB)
LAYERS20_LAYERS = tuple(64 * 1024 + i * 256 * 1024 + (i % 3) * 37_000 for i in range(20))


@dataclasses.dataclass
class ImageSet:
    """The built set: ``layout`` (an OCI layout dir with one tag per image, tag = "REPO_TAG"
    with '/' as '_'), ``storage`` (a distribution storage root holding every image under its
    repository), and the images by (repository, tag)."""
    root: str
    layout: str
    storage: str
    images: Dict[Tuple[str, str], Union[oci_layout.Image, oci_layout.MultiArchImage]]

    @property
    def app(self) -> oci_layout.Image:
        return self.images[APP]

    @property
    def multi(self) -> oci_layout.MultiArchImage:
        return self.images[MULTI]

    @property
    def layers20(self) -> oci_layout.Image:
        return self.images[LAYERS20]

    def refs(self) -> List[Tuple[str, str]]:
        """Every (repository, tag) of the set."""
        return list(self.images)

    def all_digests(self) -> List[str]:
        out: List[str] = []
        for img in self.images.values():
            out += [d for d in img.all_digests if d not in out]
        return out

    def total_bytes(self) -> int:
        total = 0
        for d in self.all_digests():
            total += os.path.getsize(oci_layout.blob_path(self.layout, d))
        return total

    def blob_path(self, digest: str) -> str:
        return oci_layout.blob_path(self.layout, digest)


def layout_tag(repo: str, tag: str) -> str:
    return f"{repo.replace('/', '_')}_{tag}"


def _default_root() -> str:
    return os.environ.get("REGMIRROR_TEST_IMAGES") or os.path.join(
        tempfile.gettempdir(), "regmirror-test-images")


def _build(root: str) -> None:
    from .upstream import Registry  # late: upstream imports this module for preload
    layout = os.path.join(root, "layout")
    storage = os.path.join(root, "storage")
    for d in (layout, storage):
        shutil.rmtree(d, ignore_errors=True)
    oci_layout.build_image(layout, layout_tag(*APP), layers=APP_LAYERS, seed="realistic-app")
    oci_layout.build_multiarch(layout, layout_tag(*MULTI), platforms=MULTI_PLATFORMS,
                               layers=MULTI_LAYERS, seed="realistic-multi")
    oci_layout.build_image(layout, layout_tag(*LAYERS20), layers=LAYERS20_LAYERS,
                           seed="realistic-layers20")
    work = tempfile.mkdtemp(prefix="rm-imageset-", dir=root)
    try:
        reg = Registry(workdir=work)
        try:
            for repo, tag in (APP, MULTI, LAYERS20):
                reg.push_layout(layout, layout_tag(repo, tag), repo, dest_tag=tag)
        finally:
            reg.stop()
        os.replace(os.path.join(work, "storage"), storage)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(root: str) -> ImageSet:
    """The set as recorded in images.json when it was built."""
    layout = os.path.join(root, "layout")
    with open(os.path.join(root, "images.json")) as f:
        doc = json.load(f)
    images = {}
    for entry in doc["images"]:
        images[(entry["repo"], entry["tag"])] = _image_from_json(layout, entry["image"])
    return ImageSet(root, layout, os.path.join(root, "storage"), images)


def _image_to_json(img) -> dict:
    if isinstance(img, oci_layout.MultiArchImage):
        return {"kind": "index", "tag": img.tag, "index": dataclasses.asdict(img.index),
                "images": {p: _image_to_json(i) for p, i in img.images.items()}}
    return {"kind": "image", "tag": img.tag, "os": img.os, "arch": img.arch,
            "variant": img.variant, "manifest": dataclasses.asdict(img.manifest),
            "config": dataclasses.asdict(img.config),
            "layers": [dataclasses.asdict(layer) for layer in img.layers]}


def _image_from_json(layout: str, doc: dict):
    if doc["kind"] == "index":
        index = oci_layout.Blob(**doc["index"])
        images = {p: _image_from_json(layout, i) for p, i in doc["images"].items()}
        return oci_layout.MultiArchImage(layout, doc["tag"], index, images,
                                         oci_layout.read_blob(layout, index.digest))
    manifest = oci_layout.Blob(**doc["manifest"])
    return oci_layout.Image(layout, doc["tag"], doc["os"], doc["arch"], doc["variant"], manifest,
                            oci_layout.Blob(**doc["config"]),
                            [oci_layout.Layer(**layer) for layer in doc["layers"]],
                            oci_layout.read_blob(layout, manifest.digest))


def realistic(root: str = "") -> ImageSet:
    """The realistic set, built on first use (per ``root``) and shared afterwards."""
    root = os.path.join(root or _default_root(), f"v{VERSION}")
    os.makedirs(root, exist_ok=True)
    marker = os.path.join(root, "complete")
    with open(os.path.join(root, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(marker):
            _build(root)
            # Digests and sizes, read back from the layout, so later runs need not rebuild.
            built = _describe(os.path.join(root, "layout"))
            with open(os.path.join(root, "images.json"), "w") as f:
                json.dump({"images": [{"repo": r, "tag": t, "image": _image_to_json(i)}
                                      for (r, t), i in built.items()]}, f)
            with open(marker, "w") as f:
                f.write("ok\n")
        return _load(root)


def _describe(layout: str):
    """(repo, tag) -> Image/MultiArchImage, read back from the layout's index.json."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    by_tag = {m["annotations"][oci_layout.REF_NAME]: m for m in index["manifests"]}
    out = {}
    for repo, tag in (APP, MULTI, LAYERS20):
        desc = by_tag[layout_tag(repo, tag)]
        out[(repo, tag)] = _read_image(layout, layout_tag(repo, tag), desc)
    return out


def _read_image(layout: str, tag: str, desc: dict, platform: dict = None):
    body = oci_layout.read_blob(layout, desc["digest"])
    doc = json.loads(body)
    blob = oci_layout.Blob(desc["digest"], desc["size"], desc["mediaType"])
    if desc["mediaType"] == oci_layout.MT_INDEX:
        images = {}
        for m in doc["manifests"]:
            p = m["platform"]
            name = f"{p['os']}/{p['architecture']}" + (f"/{p['variant']}" if p.get("variant") else "")
            images[name] = _read_image(layout, tag, m, p)
        return oci_layout.MultiArchImage(layout, tag, blob, images, body)
    cfg_desc = doc["config"]
    cfg = json.loads(oci_layout.read_blob(layout, cfg_desc["digest"]))
    layers = []
    for i, ld in enumerate(doc["layers"]):
        layers.append(oci_layout.Layer(ld["digest"], ld["size"], ld["mediaType"],
                                       diff_id=cfg["rootfs"]["diff_ids"][i], file_size=0))
    return oci_layout.Image(layout, tag, cfg["os"], cfg["architecture"], cfg.get("variant"), blob,
                            oci_layout.Blob(cfg_desc["digest"], cfg_desc["size"],
                                            cfg_desc["mediaType"]), layers, body)


def copy_storage(src: str, dst: str) -> None:
    """Copies a distribution storage tree: blob data files hard-linked, the rest copied."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = os.path.join(dst, rel) if rel != "." else dst
        os.makedirs(target_dir, exist_ok=True)
        in_blobs = f"{os.sep}blobs{os.sep}" in f"{os.sep}{rel}{os.sep}"
        for name in filenames:
            s = os.path.join(dirpath, name)
            d = os.path.join(target_dir, name)
            if in_blobs and name == "data":
                os.link(s, d)
            else:
                shutil.copy2(s, d)
