"""Deterministic OCI image layouts on disk, built from a seed.

``build_image(dir, tag, layers=[sizes...], arch="amd64", seed=...)`` writes (or
adds to) an OCI image layout at ``dir``:

  dir/oci-layout                 {"imageLayoutVersion": "1.0.0"}
  dir/index.json                 one entry per tag, annotated with
                                 org.opencontainers.image.ref.name = tag
  dir/blobs/sha256/<hex>         config, layers, manifests, indexes

Each layer is a valid tar holding one regular file ``layer-<i>.bin`` of
``size`` pseudo-random bytes (SHAKE-256 keyed by seed, arch and layer index, so
the same arguments always give the same digests on every machine and Python
version).  Layers up to ``GZIP_MAX`` bytes are tar+gzip
(``application/vnd.oci.image.layer.v1.tar+gzip``); bigger ones are plain tar
(``application/vnd.oci.image.layer.v1.tar``) so a 64 MiB layer takes about a
second.  ``compress=True/False`` forces either form.

``build_multiarch(dir, tag, platforms=["linux/amd64", "linux/arm64"], ...)``
writes one image manifest per platform plus an OCI image index whose entries
carry ``platform``; index.json points at the index.

Both return plain dataclasses with every digest and size, so tests can assert
on exactly what a registry or containerd should end up holding.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import tarfile
from typing import Dict, List, Optional, Sequence

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

GZIP_MAX = 1 << 20          # layers larger than this are stored uncompressed
_CHUNK = 1 << 20            # PRNG / write chunk size


@dataclasses.dataclass
class Blob:
    """One content-addressed blob: ``digest`` ("sha256:<hex>"), ``size``, ``media_type``."""
    digest: str
    size: int
    media_type: str

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclasses.dataclass
class Layer(Blob):
    """A layer blob; ``diff_id`` is the sha256 of the uncompressed tar, ``file_size`` the payload size."""
    diff_id: str = ""
    file_size: int = 0


@dataclasses.dataclass
class Image:
    """A single-platform image written into ``dir``.

    ``digest`` is the manifest digest (what a tag resolves to), ``manifest``
    the manifest Blob, ``config`` the config Blob, ``layers`` the Layer list.
    """
    dir: str
    tag: str
    os: str
    arch: str
    variant: Optional[str]
    manifest: Blob
    config: Blob
    layers: List[Layer]
    manifest_bytes: bytes

    @property
    def digest(self) -> str:
        return self.manifest.digest

    @property
    def platform(self) -> str:
        return f"{self.os}/{self.arch}" + (f"/{self.variant}" if self.variant else "")

    @property
    def layer_digests(self) -> List[str]:
        return [l.digest for l in self.layers]

    @property
    def blob_digests(self) -> List[str]:
        """config + layers (what ``/v2/<name>/blobs/`` serves for this image)."""
        return [self.config.digest] + self.layer_digests

    @property
    def all_digests(self) -> List[str]:
        """manifest + config + layers."""
        return [self.manifest.digest] + self.blob_digests

    @property
    def total_size(self) -> int:
        return self.manifest.size + self.config.size + sum(l.size for l in self.layers)


@dataclasses.dataclass
class MultiArchImage:
    """An OCI image index in ``dir``; ``digest`` is the index digest, ``images`` maps "os/arch" -> Image."""
    dir: str
    tag: str
    index: Blob
    images: Dict[str, Image]
    index_bytes: bytes

    @property
    def digest(self) -> str:
        return self.index.digest

    @property
    def all_digests(self) -> List[str]:
        out = [self.index.digest]
        for img in self.images.values():
            out += img.all_digests
        return out


# --------------------------------------------------------------------------- helpers

def _blob_dir(root: str) -> str:
    d = os.path.join(root, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    return d


def _write_blob_bytes(root: str, data: bytes, media_type: str) -> Blob:
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(_blob_dir(root), hexd)
    if not os.path.exists(path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return Blob("sha256:" + hexd, len(data), media_type)


def _canon(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class _HashingWriter(io.RawIOBase):
    """File-like sink that writes to ``f`` and hashes/counts everything written."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        b = bytes(b)
        self.f.write(b)
        self.h.update(b)
        self.n += len(b)
        return len(b)


def random_chunks(key: bytes, size: int):
    """Yield ``size`` deterministic pseudo-random bytes in chunks of at most 1 MiB."""
    i = 0
    left = size
    while left > 0:
        n = min(_CHUNK, left)
        yield hashlib.shake_256(key + i.to_bytes(8, "big")).digest(n)
        left -= n
        i += 1


def _write_layer(root: str, key: bytes, index: int, size: int, compress: bool) -> Layer:
    """Stream a one-file tar (optionally gzipped) into blobs/, hashing as we go."""
    ti = tarfile.TarInfo(f"layer-{index}.bin")
    ti.size, ti.mode, ti.mtime, ti.uid, ti.gid = size, 0o644, 0, 0, 0
    ti.uname = ti.gname = "root"
    header = ti.tobuf(format=tarfile.PAX_FORMAT)
    pad = (-size) % tarfile.BLOCKSIZE
    trailer = b"\0" * (pad + 2 * tarfile.BLOCKSIZE)

    tmp = os.path.join(_blob_dir(root), f".layer-{os.getpid()}-{index}.tmp")
    diff = hashlib.sha256()
    with open(tmp, "wb") as raw:
        outer = _HashingWriter(raw)
        sink = gzip.GzipFile(fileobj=outer, mode="wb", mtime=0, compresslevel=1, filename="") if compress else outer
        diff.update(header)
        sink.write(header)
        for chunk in random_chunks(key, size):
            diff.update(chunk)
            sink.write(chunk)
        diff.update(trailer)
        sink.write(trailer)
        if compress:
            sink.close()
    hexd = outer.h.hexdigest()
    final = os.path.join(_blob_dir(root), hexd)
    os.replace(tmp, final)
    return Layer("sha256:" + hexd, outer.n, MT_LAYER_GZIP if compress else MT_LAYER_TAR,
                 diff_id="sha256:" + diff.hexdigest(), file_size=size)


def _read_index(root: str) -> dict:
    p = os.path.join(root, "index.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {"schemaVersion": 2, "manifests": []}


def _add_to_index(root: str, desc: dict, tag: str) -> None:
    """Point ``tag`` in index.json at ``desc`` (replacing an older entry with that tag)."""
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    idx = _read_index(root)
    idx["manifests"] = [m for m in idx.get("manifests", [])
                        if m.get("annotations", {}).get(REF_NAME) != tag]
    d = dict(desc)
    d["annotations"] = {REF_NAME: tag}
    idx["manifests"].append(d)
    tmp = os.path.join(root, "index.json.tmp")
    with open(tmp, "w") as f:
        json.dump(idx, f, indent=1)
    os.replace(tmp, os.path.join(root, "index.json"))


def _parse_platform(p: str):
    parts = p.split("/")
    if len(parts) < 2:
        raise ValueError(f"platform must be os/arch[/variant]: {p!r}")
    return parts[0], parts[1], (parts[2] if len(parts) > 2 else None)


def _build_manifest(root: str, tag: str, layers: Sequence[int], os_name: str, arch: str,
                    variant: Optional[str], seed, compress: Optional[bool]) -> Image:
    base = f"{seed}|{os_name}/{arch}/{variant or ''}|{tag}".encode()
    written: List[Layer] = []
    for i, size in enumerate(layers):
        c = compress if compress is not None else size <= GZIP_MAX
        written.append(_write_layer(root, hashlib.sha256(base + b"|layer|%d" % i).digest(), i, int(size), c))
    cfg = {
        "architecture": arch,
        "os": os_name,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Labels": {"regmirror.test.seed": str(seed), "regmirror.test.tag": tag}},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in written]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(written))],
    }
    if variant:
        cfg["variant"] = variant
    config = _write_blob_bytes(root, _canon(cfg), MT_CONFIG)
    man = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config.descriptor(),
        "layers": [l.descriptor() for l in written],
    }
    mbytes = _canon(man)
    manifest = _write_blob_bytes(root, mbytes, MT_MANIFEST)
    return Image(root, tag, os_name, arch, variant, manifest, config, written, mbytes)


# --------------------------------------------------------------------------- public API

def build_image(dir: str, tag: str, layers: Sequence[int] = (1024,), arch: str = "amd64",
                seed="regmirror", os_name: str = "linux", variant: Optional[str] = None,
                compress: Optional[bool] = None) -> Image:
    """Write a single-platform image tagged ``tag`` into the OCI layout at ``dir``.

    ``layers`` lists payload sizes in bytes (one layer each).  Same arguments ->
    same digests.  Returns an :class:`Image`.
    """
    os.makedirs(dir, exist_ok=True)
    img = _build_manifest(dir, tag, layers, os_name, arch, variant, seed, compress)
    _add_to_index(dir, img.manifest.descriptor(), tag)
    return img


def build_multiarch(dir: str, tag: str, platforms: Sequence[str] = ("linux/amd64", "linux/arm64"),
                    layers: Sequence[int] = (1024,), seed="regmirror",
                    compress: Optional[bool] = None) -> MultiArchImage:
    """Write an OCI image index tagged ``tag`` with one manifest per platform ("os/arch[/variant]").

    Every platform gets its own layers (different bytes).  Returns a :class:`MultiArchImage`.
    """
    os.makedirs(dir, exist_ok=True)
    images: Dict[str, Image] = {}
    entries = []
    for p in platforms:
        os_name, arch, variant = _parse_platform(p)
        img = _build_manifest(dir, tag, layers, os_name, arch, variant, seed, compress)
        images[p] = img
        plat = {"architecture": arch, "os": os_name}
        if variant:
            plat["variant"] = variant
        d = img.manifest.descriptor()
        d["platform"] = plat
        entries.append(d)
    ibytes = _canon({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries})
    index = _write_blob_bytes(dir, ibytes, MT_INDEX)
    _add_to_index(dir, index.descriptor(), tag)
    return MultiArchImage(dir, tag, index, images, ibytes)


def read_blob(dir: str, digest: str) -> bytes:
    """Return the bytes of blob ``digest`` from the layout at ``dir`` (small blobs only)."""
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(dir, "blobs", algo, hexd), "rb") as f:
        return f.read()


def blob_path(dir: str, digest: str) -> str:
    """Path of blob ``digest`` inside the layout at ``dir``."""
    algo, hexd = digest.split(":", 1)
    return os.path.join(dir, "blobs", algo, hexd)


def file_digest(path: str) -> str:
    """sha256 digest ("sha256:<hex>") of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
