"""Issue 6: a data dir on a small tmpfs filled to the brim.

Cached content keeps being served; a new layer that does not fit fails with a clear error
(the client never gets a complete body, the log says why); no partial file remains in tmp/ or
blobs/; once space is back the same pull succeeds. Content: the realistic set's linux/amd64
image of realistic/multi (3 + 12 MiB layers) is cached, then its app image's 30 MiB layer does
not fit in the 64 MiB tmpfs filled to the last MiB.

The ENOSPC line and the removal of the temp file come from the download job after the client's
stream was cut: the test polls for them (it used to read the log at once and failed 1 run in 5).
"""

from __future__ import annotations

import os
import subprocess
import unittest

from harness import image_set
from pullcommon import (ACCEPT, BIN, Registry, Regmirror, need_binary, oci_layout, proc, sha,
                        stream_get, tmpdir)

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
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", self.mount], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mount], check=False)
        images = image_set.realistic()
        self.upstream = Registry(preload=images)
        self.addCleanup(self.upstream.close)
        self.small = images.multi.images["linux/amd64"]
        self.small_repo = "realistic/multi"
        self.big_layer = images.app.layers[1]  # 30 MiB
        self.big_repo = "realistic/app"
        self.data = os.path.join(self.mount, "data")
        self.mirror = Regmirror(BIN, {"listen": "127.0.0.1:0",
                                      "registries": {"docker.io": {"upstreams": [{"url": self.upstream.url}]}}},
                                data_dir=self.data)
        self.addCleanup(self.mirror.close)

    def get(self, path, headers=None):
        return proc.http_get(self.mirror.url + path, headers=headers)

    def test_cached_content_survives_a_full_disk_and_new_content_fails_cleanly(self):
        # Cache the small image completely.
        small = f"/v2/{self.small_repo}"
        status, _, body = self.get(f"{small}/manifests/{self.small.digest}", ACCEPT)
        self.assertEqual(status, 200)
        for digest in self.small.blob_digests:
            r = stream_get(self.mirror.port, f"{small}/blobs/{digest}")
            self.assertEqual((r.status, r.digest), (200, digest))
        layer = self.small.layers[1].digest
        # Fill the tmpfs to the brim (leave ~1 MiB: less than the 6 MiB layer).
        filler = os.path.join(self.mount, "filler")
        free = os.statvfs(self.mount).f_bavail * os.statvfs(self.mount).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - MIB))
        # Cached pulls keep working.
        status, headers, body = self.get(f"{small}/manifests/{self.small.digest}", ACCEPT)
        self.assertEqual(status, 200)
        self.assertEqual(sha(body), self.small.digest)
        r = stream_get(self.mirror.port, f"{small}/blobs/{layer}")
        self.assertEqual((r.status, r.headers.get("x-cache"), r.digest), (200, "HIT", layer))
        # The big layer cannot be cached: the client must not get a complete, valid body.
        big_layer = self.big_layer.digest
        big_path = f"/v2/{self.big_repo}/blobs/{big_layer}"
        r = stream_get(self.mirror.port, big_path)
        self.assertFalse(r.complete and r.digest == big_layer,
                         "a blob that could not be cached was served whole:\n"
                         + self.mirror.logs()[-3000:])
        # The download job logs the failure and removes its temp file after the client's
        # stream was cut: wait for both.
        self.mirror.wait_log("No space left on device", timeout=30)
        proc.wait_until(lambda: os.listdir(os.path.join(self.data, "tmp")) == [], 30,
                        what="the failed download's temp file to be removed")
        self.assertNotIn(big_layer.split(":")[1], " ".join(blob_files(self.data)))
        # Input tried: an admin upload (regmirror import) of the same layer onto the full disk:
        # 507 naming the blob and the reason, nothing left behind.
        images = image_set.realistic()
        cp = proc.run(["curl", "-sS", "-X", "PUT", "-T", images.blob_path(big_layer),
                       "-w", "\n%{http_code}", f"{self.mirror.admin_url}/admin/blobs/{big_layer}"],
                      check=False)
        body, _, code = cp.stdout.rpartition("\n")
        self.assertEqual(code, "507", cp.stdout + cp.stderr)
        self.assertIn(big_layer, body)
        self.assertIn("No space left on device", body)
        self.assertEqual(os.listdir(os.path.join(self.data, "tmp")), [])
        # Every blob on disk is whole and correct.
        for path in blob_files(self.data):
            self.assertEqual(oci_layout.file_digest(path).split(":")[1], os.path.basename(path))
        # The server still serves, and with space back the same pull succeeds.
        os.remove(filler)
        r = stream_get(self.mirror.port, big_path)
        self.assertEqual((r.status, r.digest), (200, big_layer), r)


if __name__ == "__main__":
    unittest.main()
