"""The rendered logrotate policy is accepted and acted on by Debian's logrotate.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_node_logrotate
logrotate refuses config files that are group/world-writable or not owned by root (when run as
root), so the files are written 0644 and the state file is a temp file (-s).
"""

import glob
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.regmirror import find_binary  # noqa: E402

LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"


class TestLogrotate(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(LOGROTATE):
            self.fail("logrotate is not installed (Debian package logrotate)")
        self.bin = find_binary()
        if not self.bin:
            self.fail("regmirror binary not found: build it and set REGMIRROR_BIN")
        self.tmp = tempfile.mkdtemp(prefix="rm-logrotate-")
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state = os.path.join(self.tmp, "state")

    def render(self, *extra):
        out = os.path.join(self.tmp, "out")
        r = subprocess.run([self.bin, "node", "render", "--mirror", "http://127.0.0.1:9", "--out", out,
                            *extra], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = os.path.join(out, "etc/logrotate.d/docker")
        os.chmod(path, 0o644)
        return path

    def logrotate(self, *args):
        return subprocess.run([LOGROTATE, "-s", self.state, *args], capture_output=True, text=True,
                              timeout=60)

    def test_debug_run_accepts_the_default_policy(self):
        conf = self.render()
        r = self.logrotate("-d", conf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        text = r.stdout + r.stderr
        self.assertIn("/var/lib/docker/containers/*/*.log", text)
        self.assertNotIn("error", text.lower())

    def test_debug_run_rejects_a_broken_policy(self):
        """Proves -d is not vacuous: an unknown directive is an error."""
        conf = self.render()
        with open(conf, "a") as f:
            f.write("/tmp/x.log {\n    frobnicate\n}\n")
        r = self.logrotate("-d", conf)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_policy_rotates_with_copytruncate_and_compress(self):
        logs = os.path.join(self.tmp, "containers", "abc")
        os.makedirs(logs)
        log = os.path.join(logs, "abc-json.log")
        with open(log, "w") as f:
            f.write('{"log":"hello\\n","stream":"stdout"}\n' * 2000)
        conf = self.render("--logrotate-path", os.path.join(self.tmp, "containers", "*", "*.log"),
                           "--logrotate-rotate", "2", "--logrotate-maxsize", "1k")
        for d in (os.path.dirname(logs), logs):
            os.chmod(d, 0o755)
        r = self.logrotate("-f", conf)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(os.path.getsize(log), 0, "copytruncate leaves the live file empty")
        rotated = glob.glob(log + "-*.gz")
        self.assertEqual(len(rotated), 1, os.listdir(logs))
        with gzip.open(rotated[0], "rt") as f:
            self.assertIn("hello", f.read())


if __name__ == "__main__":
    unittest.main()
