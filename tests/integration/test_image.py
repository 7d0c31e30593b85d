"""The container image (deploy/Containerfile, built by scripts/image.sh) serves pulls.

Run:  cd tests/integration && REGMIRROR_TEST_IMAGES=../../build/test-images \
        /usr/bin/python3 -m unittest -v test_image

The image's own binary runs, from the image's own root file system: the test makes a buildah
working container of the image, mounts it (``buildah mount``) and starts
``<mount>/usr/local/bin/regmirror`` chrooted into it, as the image's USER, with the image's
PATH and nothing else of the host's environment. A wrapper script does that in a private mount
namespace (``unshare --mount``) with a fresh /proc, a /dev of the usual character devices and
the harness's temp dir bind-mounted at the same path, so the harness's Regmirror (config file,
data dir, listening line) drives it unchanged, and every mount goes away with the process.
Network: the host's (loopback); a docker-registry upstream and skopeo, 127.0.0.1 only.
(``podman run`` cannot start containers in this sandbox: crun fails to set rlimits.)

Also checked: the runtime image has no compiler, its user is 65532 (the StatefulSet's
runAsUser), its entrypoint is regmirror, and ``regmirror --version`` there names the project
VERSION and a commit of this repository.

Image: $REGMIRROR_IMAGE (default localhost/regmirror:test). Needs root and buildah. When the
image (or buildah, or root) is missing the tests skip, unless REGMIRROR_REQUIRE_IMAGE=1
(scripts/test.sh builds the image and sets it), which makes that a failure.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import unittest

from pullcommon import Regmirror, Registry, mirror_config, oci_layout, proc, skopeo, tmpdir
from harness.project import project_version, skip_or_fail  # noqa: E402

IMAGE = os.environ.get("REGMIRROR_IMAGE", "localhost/regmirror:test")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IN_IMAGE_BIN = "/usr/local/bin/regmirror"
VERSION_LINE = re.compile(r"^regmirror (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\)\n$")
# What a compiler in the runtime stage would leave behind.
COMPILERS = ("cc", "c++", "gcc", "g++", "gcc-12", "g++-12", "cpp", "clang", "ld", "as",
             "cmake", "ninja", "make")


def buildah(*args, timeout=120.0, check=True):
    return proc.run(["buildah", *args], timeout=timeout, check=check, env=skopeo.clean_env())


def why_no_image():
    """None if the image can be run here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (buildah mount, chroot)"
    if not shutil.which("buildah"):
        return "buildah not installed (scripts/install-deps.sh all)"
    if buildah("inspect", "--type", "image", IMAGE, check=False).returncode != 0:
        return f"image {IMAGE} not in buildah's storage (build it: scripts/image.sh)"
    return None


class ImageTestCase(unittest.TestCase):
    """A working container of IMAGE, mounted; run() starts commands in it (see module doc)."""

    @classmethod
    def setUpClass(cls):
        skip_or_fail(why_no_image(), "REGMIRROR_REQUIRE_IMAGE")
        cls.inspect = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)
        cls.config = cls.inspect["OCIv1"]["config"]

    def setUp(self):
        self.tmp = tmpdir("rm-image-")
        self.ctr = buildah("from", "--pull=never", IMAGE).stdout.strip()
        self.addCleanup(self._remove_container)
        self.root = buildah("mount", self.ctr).stdout.strip()
        self.assertTrue(os.path.isfile(os.path.join(self.root, IN_IMAGE_BIN.lstrip("/"))),
                        f"{IMAGE} has no {IN_IMAGE_BIN}")

    def _remove_container(self):
        # Mounts made by the wrapper live in its own namespace; only buildah's overlay is left.
        buildah("umount", self.ctr, check=False)
        buildah("rm", self.ctr, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def image_path(self):
        for kv in self.config.get("Env") or []:
            if kv.startswith("PATH="):
                return kv[len("PATH="):]
        return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def wrapper(self, share_dir):
        """A script that runs the image's regmirror with ARGS as the image's user; ``share_dir``
        (a host directory) appears at the same path inside."""
        user = self.config.get("User") or "0:0"
        if ":" not in user:
            user += f":{user}"
        script = os.path.join(self.tmp, "regmirror-in-image")
        q = shlex.quote
        inner = "\n".join([
            "set -e",
            'root=$1; share=$2; shift 2',
            'mount -t proc proc "$root/proc"',
            'mount -t tmpfs -o mode=755,nosuid tmpfs "$root/dev"',
            'for d in null:3 zero:5 full:7 random:8 urandom:9; do',
            '  mknod -m 666 "$root/dev/${d%:*}" c 1 "${d#*:}"',
            'done',
            'mkdir -p "$root$share"',
            'mount --bind "$share" "$root$share"',
            f'exec env -i PATH={q(self.image_path())} '
            f'chroot --userspec={q(user)} --groups={q(user.split(":")[1])} "$root" '
            f'{IN_IMAGE_BIN} "$@"',
        ])
        with open(script, "w") as f:
            f.write("#!/bin/sh\n"
                    "# regmirror from the image's root file system (test_image.py); the mounts\n"
                    "# are private to this process and go away with it.\n"
                    f"exec unshare --mount --propagation private -- sh -c {q(inner)} sh "
                    f"{q(self.root)} {q(share_dir)} \"$@\"\n")
        os.chmod(script, 0o755)
        return script


class TestImageContents(ImageTestCase):
    def test_runs_as_65532_with_regmirror_as_entrypoint(self):
        self.assertEqual(self.config.get("User"), "65532:65532")
        self.assertEqual(self.config.get("Entrypoint"), [IN_IMAGE_BIN])
        self.assertEqual(self.config.get("Cmd"), ["serve", "--config", "/etc/regmirror/config.json"])
        st = os.stat(os.path.join(self.root, "var/lib/regmirror"))
        self.assertEqual((st.st_uid, st.st_gid), (65532, 65532), "data dir not owned by 65532")
        with open(os.path.join(self.root, "etc/passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^regmirror:x:65532:65532:")

    def test_runtime_stage_has_no_compiler(self):
        found = [f"{d}/{name}" for d in ("usr/bin", "usr/local/bin", "bin")
                 for name in COMPILERS if os.path.lexists(os.path.join(self.root, d, name))]
        self.assertEqual(found, [], "build tools in the runtime image")
        with open(os.path.join(self.root, "var/lib/dpkg/status")) as f:
            installed = re.findall(r"(?m)^Package: (\S+)\nStatus: install ok installed", f.read())
        tools = re.compile(r"^((g\+\+|gcc|cpp|clang)(-\d+)?|binutils|cmake|ninja-build|make|.*-dev)$")
        self.assertEqual([p for p in installed if tools.match(p)], [], "build packages installed")

    def test_every_library_of_the_binary_resolves_in_the_image(self):
        ld = os.path.join(self.root, "lib64/ld-linux-x86-64.so.2")
        if not os.path.exists(ld):
            self.skipTest("not an x86-64 image")
        r = proc.run(["chroot", self.root, "/lib64/ld-linux-x86-64.so.2", "--list", IN_IMAGE_BIN],
                     check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("not found", r.stdout)

    def test_version_names_project_version_and_a_commit_of_this_repository(self):
        r = proc.run([self.wrapper(self.tmp), "--version"], check=False, env=skopeo.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        m = VERSION_LINE.match(r.stdout)
        self.assertIsNotNone(m, f"unexpected --version output: {r.stdout!r}")
        self.assertEqual(m.group(1), project_version())
        git = shutil.which("git")
        if git and proc.run([git, "-C", REPO, "rev-parse"], check=False).returncode == 0:
            # scripts/image.sh passes the checkout's commit in; "unknown" means it was lost.
            commit = m.group(2).removesuffix("-dirty")
            self.assertNotEqual(commit, "unknown", "image built without REGMIRROR_GIT_COMMIT")
            r = proc.run([git, "-C", REPO, "cat-file", "-e", f"{commit}^{{commit}}"], check=False)
            self.assertEqual(r.returncode, 0, f"--version names {commit}, not a commit here")


class TestImageServesPulls(ImageTestCase):
    def setUp(self):
        super().setUp()
        lay = os.path.join(self.tmp, "layout")
        self.img = oci_layout.build_image(lay, "3.19", layers=[3000, 200000], seed="image-alpine")
        self.reg = Registry()
        self.addCleanup(self.reg.close)
        self.reg.push_layout(lay, "3.19", "library/alpine")

    def test_skopeo_pulls_through_the_images_binary(self):
        # The wrapper needs the harness's temp dir, which exists once Regmirror is made.
        rm = Regmirror("regmirror-in-image", mirror_config(self.reg.url), start=False)
        self.addCleanup(rm.close)
        # The image's user must be able to read its config and write its data dir.
        for dirpath, _, files in os.walk(rm.dir):
            for p in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
                os.chown(p, 65532, 65532)
        rm.bin = self.wrapper(rm.dir)
        rm.start()

        dest = os.path.join(self.tmp, "pulled")
        ref = f"docker://{rm.host}/library/alpine:3.19"
        try:
            skopeo.copy_to_oci(ref, dest, tag="t")
        except Exception as e:
            raise AssertionError(f"skopeo copy {ref} failed: {e}\n{rm.logs()[-3000:]}")
        with open(os.path.join(dest, "index.json")) as f:
            self.assertEqual([m["digest"] for m in json.load(f)["manifests"]], [self.img.digest])
        for d in self.img.all_digests:
            p = oci_layout.blob_path(dest, d)
            self.assertEqual(oci_layout.file_digest(p), d)

        # Served from the cache the image's user wrote: a second look is a HIT.
        st, h, _ = rm.get(f"/v2/library/alpine/blobs/{self.img.layer_digests[-1]}")
        self.assertEqual((st, h.get("x-cache")), (200, "HIT"))
        owners = {os.stat(os.path.join(d, f)).st_uid
                  for d, _, files in os.walk(rm.data_dir) for f in files}
        self.assertEqual(owners, {65532}, "cache files not written by the image's user")
        st, _, _ = rm.get("/readyz")
        self.assertEqual(st, 200)
        self.assertEqual(rm.stop(), 0, rm.logs()[-3000:])


if __name__ == "__main__":
    unittest.main()
