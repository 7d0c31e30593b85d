"""Release hygiene.

`regmirror --version`: one line "regmirror <VERSION> (commit <hash>[-dirty]|unknown)", where
VERSION is the top-level CMakeLists.txt's project VERSION and the commit is one this repository
has; cmake/build_info.cmake says "unknown" outside git and marks local changes "-dirty".

scripts/run.sh installs only the packages building and running need (scripts/install-deps.sh
run) and configures without tests; CI's path (.ci/run, scripts/test.sh) installs everything.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_release
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.project import project_version  # noqa: E402
from harness.regmirror import find_binary  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VERSION_LINE = re.compile(r"^regmirror (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(?:-dirty)?|unknown)\)\n$")


def run_build_info_script(src, out):
    """cmake/build_info.cmake in script mode on a copy of the two files it needs in `src`;
    returns the commit string it wrote into the generated header."""
    r = subprocess.run(["cmake", f"-DPROJECT_SOURCE_DIR={src}", f"-DPROJECT_BINARY_DIR={out}",
                        "-DPROJECT_VERSION=9.8.7", "-P", os.path.join(src, "cmake", "build_info.cmake")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(out, "generated", "proxy", "app", "build_info.hpp")) as f:
        header = f.read()
    assert 'kVersion = "9.8.7"' in header, header
    return re.search(r'kGitCommit = "([^"]*)"', header).group(1)


class TestVersion(unittest.TestCase):
    def test_version_line_names_project_version_and_a_commit_of_this_repository(self):
        binary = find_binary()
        if not binary:
            self.skipTest("no regmirror binary (set REGMIRROR_BIN)")
        r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = VERSION_LINE.match(r.stdout)
        self.assertIsNotNone(m, f"unexpected --version output: {r.stdout!r}")
        self.assertEqual(m.group(1), project_version())
        commit = m.group(2).removesuffix("-dirty")
        git = shutil.which("git")
        if commit != "unknown" and git and os.path.exists(os.path.join(REPO, ".git")):
            r = subprocess.run([git, "-C", REPO, "cat-file", "-e", f"{commit}^{{commit}}"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"--version names {commit}, not a commit here")

    def test_build_info_says_unknown_outside_git_and_dirty_on_local_changes(self):
        if not shutil.which("cmake") or not shutil.which("git"):
            self.skipTest("needs cmake and git")
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "src"), os.path.join(d, "out")
            os.makedirs(os.path.join(src, "cmake"))
            os.makedirs(os.path.join(src, "proxy", "app"))
            shutil.copy(os.path.join(REPO, "cmake", "build_info.cmake"), os.path.join(src, "cmake"))
            template = os.path.join(src, "proxy", "app", "build_info.hpp.in")
            shutil.copy(os.path.join(REPO, "proxy", "app", "build_info.hpp.in"), template)
            env_git = ["git", "-C", src, "-c", "user.email=t@127.0.0.1", "-c", "user.name=t"]
            # Outside any checkout (tempfile's directory must not be inside one itself).
            inside = subprocess.run(["git", "-C", src, "rev-parse"], capture_output=True)
            if inside.returncode == 0:
                self.skipTest(f"{d} is inside a git checkout")
            self.assertEqual(run_build_info_script(src, out), "unknown")
            subprocess.run(env_git + ["init", "-q"], check=True)
            subprocess.run(env_git + ["add", "-A"], check=True)
            subprocess.run(env_git + ["commit", "-qm", "x"], check=True)
            head = subprocess.run(["git", "-C", src, "rev-parse", "--short=12", "HEAD"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(run_build_info_script(src, out), head)
            with open(template, "a") as f:
                f.write("// local change\n")
            self.assertEqual(run_build_info_script(src, out), head + "-dirty")


def deps(package_set):
    r = subprocess.run([os.path.join(REPO, "scripts", "install-deps.sh"), "--list", package_set],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


class TestDependencySets(unittest.TestCase):
    TEST_ONLY = {"radosgw", "ceph-mon", "ceph-osd", "clang-14", "containerd", "skopeo",
                 "nginx-light", "wrk", "docker-registry", "libgtest-dev", "libbenchmark-dev"}

    def test_run_set_has_the_build_and_none_of_the_test_tools(self):
        run = deps("run")
        self.assertTrue({"cmake", "ninja-build", "g++", "librocksdb-dev", "libcurl4-openssl-dev",
                         "prometheus-cpp-dev", "libboost1.81-dev", "libcrypt-dev"} <= run, run)
        self.assertEqual(run & self.TEST_ONLY, set())

    def test_all_set_is_run_plus_the_test_tools(self):
        self.assertTrue(deps("run") | self.TEST_ONLY <= deps("all"))
        r = subprocess.run([os.path.join(REPO, "scripts", "install-deps.sh"), "--list", "nope"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)

    def test_run_script_uses_the_run_set_and_ci_the_full_set(self):
        def script(*parts):
            with open(os.path.join(REPO, *parts)) as f:
                return f.read()
        self.assertRegex(script("scripts", "run.sh"), r"(?m)^\./scripts/install-deps\.sh run$")
        self.assertIn("-DREGMIRROR_TESTS=OFF", script("scripts", "run.sh"))
        self.assertNotIn("build.sh", script("scripts", "run.sh"))
        self.assertRegex(script("scripts", "build.sh"), r"(?m)^\./scripts/install-deps\.sh all$")
        self.assertRegex(script("scripts", "test.sh"), r"(?m)^\./scripts/install-deps\.sh( all)?$")
        self.assertRegex(script(".ci", "run"), r"(?m)^\./scripts/install-deps\.sh( all)?$")

    def test_configure_without_tests_needs_no_test_package(self):
        if not shutil.which("cmake") or not shutil.which("ninja"):
            self.skipTest("needs cmake and ninja")
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run(["cmake", "-S", REPO, "-B", d, "-G", "Ninja",
                                "-DCMAKE_BUILD_TYPE=Release", "-DREGMIRROR_TESTS=OFF"],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(d, "CMakeCache.txt")) as f:
                cache = f.read()
            self.assertNotIn("GTest_DIR", cache)
            self.assertNotIn("PYTHON3:", cache)


if __name__ == "__main__":
    unittest.main()
