"""Issue 6: a data dir on a small tmpfs filled to the brim.

Cached content keeps being served; a new layer that does not fit fails with a clear error
(the client never gets a complete body, the log says why); no partial file remains in tmp/ or
blobs/; once space is back the same pull succeeds.
"""

from __future__ import annotations

import os
import subprocess
import unittest

from pullcommon import (ACCEPT, BIN, Registry, Regmirror, need_binary, oci_layout, proc, sha,
                        tmpdir)

MIB = 1 << 20


def blob_files(data_dir: str) -> list[str]:
    out = []
    for root, _, files in os.walk(os.path.join(data_dir, "blobs")):
        out.extend(os.path.join(root, f) for f in files)
    return out


@need_binary
class FullDiskTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("this test mounts a tmpfs and needs root")
        self.work = tmpdir("rm-fulldisk-")
        self.mount = os.path.join(self.work, "small")
        os.makedirs(self.mount)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", self.mount], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mount], check=False)
        self.upstream = Registry()
        self.addCleanup(self.upstream.close)
        self.small = oci_layout.build_image(os.path.join(self.work, "a"), "v1", layers=[200_000],
                                            seed="full-a")
        self.big = oci_layout.build_image(os.path.join(self.work, "b"), "v1", layers=[6 * MIB],
                                          seed="full-b")
        self.upstream.push_layout(os.path.join(self.work, "a"), "v1", "library/small")
        self.upstream.push_layout(os.path.join(self.work, "b"), "v1", "library/big")
        self.data = os.path.join(self.mount, "data")
        self.mirror = Regmirror(BIN, {"listen": "127.0.0.1:0",
                                      "registries": {"docker.io": {"upstreams": [{"url": self.upstream.url}]}}},
                                data_dir=self.data)
        self.addCleanup(self.mirror.close)

    def get(self, path, headers=None):
        return proc.http_get(self.mirror.url + path, headers=headers)

    def test_cached_content_survives_a_full_disk_and_new_content_fails_cleanly(self):
        # Cache the small image completely.
        status, _, body = self.get("/v2/library/small/manifests/v1", ACCEPT)
        self.assertEqual(status, 200)
        layer = self.small.layers[0].digest
        self.assertEqual(self.get(f"/v2/library/small/blobs/{layer}")[0], 200)
        # Fill the tmpfs to the brim (leave ~1 MiB: less than the 6 MiB layer).
        filler = os.path.join(self.mount, "filler")
        free = os.statvfs(self.mount).f_bavail * os.statvfs(self.mount).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - MIB))
        # Cached pulls keep working.
        status, headers, body = self.get("/v2/library/small/manifests/v1", ACCEPT)
        self.assertEqual(status, 200)
        self.assertEqual(sha(body), self.small.digest)
        status, headers, body = self.get(f"/v2/library/small/blobs/{layer}")
        self.assertEqual((status, headers.get("x-cache")), (200, "HIT"))
        self.assertEqual(sha(body), layer)
        # The big layer cannot be cached: the client must not get a complete, valid body.
        big_layer = self.big.layers[0].digest
        try:
            status, headers, body = self.get(f"/v2/library/big/blobs/{big_layer}")
            complete = status == 200 and sha(body) == big_layer
        except Exception:  # noqa: BLE001 - a cut connection is a clean failure here
            complete = False
        self.assertFalse(complete, "a blob that could not be cached was served whole:\n"
                         + self.mirror.logs()[-3000:])
        logs = self.mirror.logs()
        self.assertIn("No space left on device", logs)
        self.assertEqual(os.listdir(os.path.join(self.data, "tmp")), [])
        self.assertNotIn(big_layer.split(":")[1], " ".join(blob_files(self.data)))
        # Every blob on disk is whole and correct.
        for path in blob_files(self.data):
            with open(path, "rb") as f:
                self.assertEqual(sha(f.read()).split(":")[1], os.path.basename(path))
        # The server still serves, and with space back the same pull succeeds.
        os.remove(filler)
        status, headers, body = self.get(f"/v2/library/big/blobs/{big_layer}")
        self.assertEqual(status, 200)
        self.assertEqual(sha(body), big_layer)


if __name__ == "__main__":
    unittest.main()
