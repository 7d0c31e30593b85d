"""`regmirror node render|apply|check` end to end with the real binary, into temp roots.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_node_apply
No network: the mirror URL is only written into files, never contacted.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.regmirror import find_binary  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(REPO, "tests", "unit", "node", "golden")
SCRIPT = os.path.join(REPO, "deploy", "node", "regmirror-node-setup.sh")
MIRROR = "http://127.0.0.1:30500"
REGISTRIES = ["docker.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io", "quay.io", "ghcr.io",
              "docker.pkg.github.com"]


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


class NodeTestCase(unittest.TestCase):
    def setUp(self):
        self.bin = find_binary()
        if not self.bin:
            self.fail("regmirror binary not found: build it and set REGMIRROR_BIN")
        self.tmp = tempfile.mkdtemp(prefix="rm-node-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.root = os.path.join(self.tmp, "root")
        self.cmdline = os.path.join(self.tmp, "cmdline")
        write(self.cmdline, "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n")
        write(os.path.join(self.root, "etc/containerd/config.toml"),
              read(os.path.join(GOLDEN, "containerd/debian-1.6.in.toml")))
        write(os.path.join(self.root, "etc/docker/daemon.json"),
              read(os.path.join(GOLDEN, "docker/daemon.in.json")))
        write(os.path.join(self.root, "etc/default/grub"), read(os.path.join(GOLDEN, "grub/debian.in")))

    def node(self, *args, timeout=60):
        return subprocess.run([self.bin, "node", *args], capture_output=True, text=True,
                              timeout=timeout)

    def apply_args(self, *extra):
        return ["apply", "--root", self.root, "--mirror", MIRROR, "--logrotate", "--grub-nokmem",
                "--proc-cmdline", self.cmdline, *extra]

    def check_args(self):
        return ["check"] + self.apply_args()[1:]

    def snapshot(self):
        files = {}
        for d, _, names in os.walk(self.root):
            for n in names:
                p = os.path.join(d, n)
                files[os.path.relpath(p, self.root)] = (read(p, "rb"), os.stat(p).st_mtime_ns)
        return files


class TestApply(NodeTestCase):
    def test_apply_twice_second_run_changes_nothing_and_says_so(self):
        first = self.node(*self.apply_args())
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        for reg in REGISTRIES:
            self.assertIn(f"created   /etc/containerd/certs.d/{reg}/hosts.toml", first.stdout)
        self.assertIn("restart needed to load config_path", first.stdout)
        self.assertIn("hosts.toml changed; no restart needed", first.stdout)
        self.assertIn("grub: no grub tool found", first.stdout)
        self.assertIn("grub: reboot needed", first.stdout)
        before = self.snapshot()

        second = self.node(*self.apply_args())
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertRegex(second.stdout, r"node apply: no changes, \d+ files already up to date")
        self.assertNotRegex(second.stdout, r"(?m)^(created|updated)")
        self.assertNotIn("restart needed", second.stdout)
        self.assertEqual(self.snapshot(), before, "the second apply touched files")

        check = self.node(*self.check_args())
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertRegex(check.stdout, r"node check: \d+ files up to date")

    def test_written_files_are_what_the_runtimes_read(self):
        r = self.node(*self.apply_args())
        self.assertEqual(r.returncode, 0, r.stderr)
        hosts = read(os.path.join(self.root, "etc/containerd/certs.d/docker.io/hosts.toml"))
        self.assertIn('server = "https://registry-1.docker.io"', hosts)
        self.assertIn(f'[host."{MIRROR}"]', hosts)
        gh = read(os.path.join(self.root, "etc/containerd/certs.d/docker.pkg.github.com/hosts.toml"))
        self.assertIn('server = "https://ghcr.io"', gh)
        daemon = json.loads(read(os.path.join(self.root, "etc/docker/daemon.json")))
        before = json.loads(read(os.path.join(GOLDEN, "docker/daemon.in.json")))
        self.assertEqual(daemon["registry-mirrors"][0], MIRROR)
        for k, v in before.items():
            if k != "registry-mirrors":
                self.assertEqual(daemon[k], v, k)
        grub = read(os.path.join(self.root, "etc/default/grub"))
        self.assertEqual(grub.count("cgroup.memory=nokmem"), 1)
        # A backup of every replaced file, ignored by logrotate and containerd (ends in ~).
        backups = [n for n in os.listdir(os.path.join(self.root, "etc/docker"))
                   if re.fullmatch(r"daemon\.json\.regmirror-\d{8}T\d{6}Z(\.\d+)?~", n)]
        self.assertEqual(len(backups), 1, os.listdir(os.path.join(self.root, "etc/docker")))
        self.assertEqual(read(os.path.join(self.root, "etc/docker", backups[0])),
                         read(os.path.join(GOLDEN, "docker/daemon.in.json")))

    @unittest.skipUnless(shutil.which("containerd"), "containerd not installed")
    def test_containerd_loads_the_edited_config(self):
        r = self.node(*self.apply_args())
        self.assertEqual(r.returncode, 0, r.stderr)
        dump = subprocess.run(["containerd", "--config",
                               os.path.join(self.root, "etc/containerd/config.toml"), "config", "dump"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        self.assertIn('config_path = "/etc/containerd/certs.d"', dump.stdout)
        self.assertIn('bin_dir = "/usr/lib/cni"', dump.stdout, "existing CRI settings were lost")

    def test_check_detects_drift_and_apply_restores(self):
        self.assertEqual(self.node(*self.apply_args()).returncode, 0)
        hosts = os.path.join(self.root, "etc/containerd/certs.d/quay.io/hosts.toml")
        good = read(hosts)
        write(hosts, 'server = "https://quay.io"\n')
        os.remove(os.path.join(self.root, "etc/logrotate.d/docker"))

        check = self.node(*self.check_args())
        self.assertEqual(check.returncode, 1, check.stdout)
        self.assertIn("differs /etc/containerd/certs.d/quay.io/hosts.toml", check.stdout)
        self.assertIn(f'+[host."{MIRROR}"]', check.stdout)
        self.assertIn("missing /etc/logrotate.d/docker", check.stdout)
        self.assertEqual(read(hosts), 'server = "https://quay.io"\n')

        fix = self.node(*self.apply_args())
        self.assertEqual(fix.returncode, 0, fix.stderr)
        self.assertIn("updated   /etc/containerd/certs.d/quay.io/hosts.toml", fix.stdout)
        self.assertNotIn("restart needed to load config_path", fix.stdout)
        self.assertEqual(read(hosts), good)
        self.assertEqual(self.node(*self.check_args()).returncode, 0)

    def test_dry_run_shows_a_diff_and_writes_nothing(self):
        before = self.snapshot()
        r = self.node(*self.apply_args("--dry-run"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--- a/etc/default/grub", r.stdout)
        self.assertIn('+GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=0 '
                      'cgroup.memory=nokmem"', r.stdout)
        self.assertIn("would create /etc/containerd/certs.d/docker.io/hosts.toml", r.stdout)
        self.assertEqual(self.snapshot(), before)

    def test_invalid_daemon_json_is_refused_and_kept(self):
        broken = '{"log-driver": "json-file",}'
        write(os.path.join(self.root, "etc/docker/daemon.json"), broken)
        r = self.node(*self.apply_args())
        self.assertEqual(r.returncode, 1)
        self.assertIn("daemon.json is not valid JSON", r.stderr)
        self.assertEqual(read(os.path.join(self.root, "etc/docker/daemon.json")), broken)
        self.assertTrue(os.path.exists(os.path.join(self.root, "etc/containerd/certs.d/gcr.io/hosts.toml")))

    def test_every_loop_stops_on_sigterm(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                p = subprocess.Popen([self.bin, "node", *self.apply_args("--every", "1h")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                try:
                    deadline = time.monotonic() + 30
                    path = os.path.join(self.root, "etc/containerd/certs.d/docker.io/hosts.toml")
                    while not os.path.exists(path) and time.monotonic() < deadline:
                        time.sleep(0.05)
                    time.sleep(0.3)
                    start = time.monotonic()
                    p.send_signal(sig)
                    out, err = p.communicate(timeout=10)
                finally:
                    if p.poll() is None:
                        p.kill()
                self.assertEqual(p.returncode, 0, err)
                self.assertLess(time.monotonic() - start, 5)
                self.assertIn("node apply: stopping", out)


class TestCommandLine(NodeTestCase):
    def test_help_for_every_command(self):
        for cmd in ("render", "apply", "check"):
            r = self.node(cmd, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn(f"usage: regmirror node {cmd}", r.stdout)

    def test_bad_input_gives_one_line_and_nonzero_exit(self):
        cases = [
            ["apply"],
            ["apply", "--root", self.root],
            ["apply", "--root", self.root, "--mirror", "10.0.0.1:5000"],
            ["apply", "--root", self.root, "--mirror", MIRROR, "--every", "soon"],
            ["apply", "--root", os.path.join(self.tmp, "nope"), "--logrotate"],
            ["render", "--mirror", MIRROR],
            ["frobnicate"],
        ]
        for args in cases:
            with self.subTest(args=" ".join(args)):
                r = self.node(*args)
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("regmirror node"), r.stderr)


class TestRender(NodeTestCase):
    def test_render_matches_the_unit_test_goldens(self):
        out = os.path.join(self.tmp, "out")
        r = self.node("render", "--mirror", "http://10.0.0.5:30500", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        golden = os.path.join(GOLDEN, "render")
        rendered = sorted(os.path.relpath(os.path.join(d, n), out) for d, _, ns in os.walk(out) for n in ns)
        expected = sorted(os.path.relpath(os.path.join(d, n), golden) for d, _, ns in os.walk(golden) for n in ns)
        self.assertEqual(rendered, expected)
        for rel in rendered:
            self.assertEqual(read(os.path.join(out, rel), "rb"), read(os.path.join(golden, rel), "rb"), rel)


class TestNodeScript(NodeTestCase):
    """deploy/node/regmirror-node-setup.sh writes what `regmirror node apply` writes."""

    def test_script_and_binary_agree_and_script_is_idempotent(self):
        script_root = os.path.join(self.tmp, "script-root")
        shutil.copytree(self.root, script_root)
        r = subprocess.run(["sh", SCRIPT, "--root", script_root, "--mirror", MIRROR, "--logrotate",
                            "--grub-nokmem", "--proc-cmdline", self.cmdline],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("reboot needed", r.stdout)
        b = self.node(*self.apply_args())
        self.assertEqual(b.returncode, 0, b.stderr)
        for rel in ["etc/containerd/config.toml", "etc/default/grub", "etc/logrotate.d/docker"] + \
                [f"etc/containerd/certs.d/{reg}/hosts.toml" for reg in REGISTRIES]:
            self.assertEqual(read(os.path.join(script_root, rel)), read(os.path.join(self.root, rel)), rel)
        again = subprocess.run(["sh", SCRIPT, "--root", script_root, "--mirror", MIRROR, "--logrotate",
                                "--grub-nokmem", "--proc-cmdline", self.cmdline],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertNotRegex(again.stdout, r"(?m)^(created|updated)")
        # The binary's check agrees that the script's node is in sync (daemon.json aside: the
        # script does not manage Docker).
        check = self.node("check", "--root", script_root, "--mirror", MIRROR, "--runtime", "containerd",
                          "--logrotate", "--grub-nokmem", "--proc-cmdline", self.cmdline)
        self.assertEqual(check.returncode, 0, check.stdout)


if __name__ == "__main__":
    unittest.main()
