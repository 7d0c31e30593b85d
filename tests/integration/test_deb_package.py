"""The Debian package: installs with apt, serves a pull, removes and purges cleanly.

What is tried, in order (one package lifecycle; the methods are numbered so they run in order):
  1. `apt-get install ./regmirror_<version>_amd64.deb`: the control data names the version of
     CMakeLists.txt, Depends on the libraries the binary links (dpkg-shlibdeps), marks
     /etc/regmirror/config.json a conffile; the files land where the package says.
  2. The installed binary passes `serve --check-config` on the packaged config as shipped, then
     serves a skopeo pull from a loopback docker-registry with that config's upstreams moved to
     loopback (every other key as packaged); digests match the upstream's.
  3. The packaged unit runs /usr/bin/regmirror as a DynamicUser with its StateDirectory, and
     `systemd-analyze verify` reports nothing about it; the bash completion offers the options
     of the installed binary's --help.
  4. `dpkg -r` removes the binary and unit and keeps the conffile; `dpkg -P` removes the rest.

Needs root and dpkg (CI runs as root). The package comes from REGMIRROR_DEB, or the
regmirror_*.deb beside REGMIRROR_BIN (scripts/package.sh writes build/regmirror_*.deb). Without
one the module skips, unless REGMIRROR_REQUIRE_DEB=1 (scripts/test.sh sets it): then it fails.
It installs the package on this machine and purges it at the end.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_deb_package
"""

import glob
import json
import os
import re
import shutil
import subprocess
import unittest

from pullcommon import BIN, Regmirror, Registry, log_tail, mirror_config, oci_layout, skopeo, tmpdir
from harness.project import project_version, skip_or_fail  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALLED_BIN = "/usr/bin/regmirror"
UNIT = "/lib/systemd/system/regmirror.service"
CONFIG = "/etc/regmirror/config.json"
COMPLETION = "/usr/share/bash-completion/completions/regmirror"
DOCS = "/usr/share/doc/regmirror"


def find_deb():
    if os.environ.get("REGMIRROR_DEB"):
        return os.path.abspath(os.environ["REGMIRROR_DEB"])
    if BIN:
        found = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(BIN)), "regmirror_*.deb")))
        if found:
            return found[-1]
    return None


def run(*argv, timeout=300, check=True):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def package_status():
    r = run("dpkg-query", "-W", "-f=${Status}", "regmirror", check=False)
    status = r.stdout.strip() if r.returncode == 0 else ""
    return "" if status.endswith("not-installed") else status


DEB = find_deb()
REQUIRED = os.environ.get("REGMIRROR_REQUIRE_DEB") == "1"


def skip_reason():
    if os.geteuid() != 0:
        return "installing a package needs root"
    if not shutil.which("dpkg") or not shutil.which("apt-get"):
        return "no dpkg/apt-get"
    if not DEB or not os.path.exists(DEB):
        return "no regmirror_*.deb (run scripts/package.sh or set REGMIRROR_DEB)"
    return None


class TestDebPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_or_fail(skip_reason(), "REGMIRROR_REQUIRE_DEB")
        if package_status():  # a package left by an earlier, interrupted run
            run("dpkg", "-P", "regmirror")
        cls.tmp = tmpdir("rm-deb-it-")

    @classmethod
    def tearDownClass(cls):
        if package_status():
            run("dpkg", "-P", "regmirror", check=False)
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def need_installed(self):
        if not package_status().startswith("install ok installed"):
            self.fail("the package is not installed (test_1 failed)")

    def test_1_installs_with_apt_and_lays_out_its_files(self):
        self.assertEqual(os.path.basename(DEB), f"regmirror_{project_version()}_amd64.deb")
        info = run("dpkg-deb", "--field", DEB, "Package", "Version", "Architecture", "Depends").stdout
        self.assertIn("Package: regmirror", info)
        self.assertIn(f"Version: {project_version()}", info)
        self.assertIn("Architecture: amd64", info)
        # dpkg-shlibdeps names what the binary links, not a hand-kept list (RocksDB is linked
        # statically from librocksdb-dev, so its compression libraries appear instead).
        for lib in ("libcurl4", "libssl3", "libprometheus-cpp-core", "libpugixml", "libzstd1", "libc6"):
            self.assertIn(lib, info, f"Depends lacks {lib}:\n{info}")
        conffiles = run("dpkg-deb", "--info", DEB, "conffiles").stdout.split()
        self.assertEqual(conffiles, [CONFIG])

        run("apt-get", "install", "-y", "-q", "--no-install-recommends", DEB, timeout=600)
        self.assertTrue(package_status().startswith("install ok installed"), package_status())
        listed = set(run("dpkg", "-L", "regmirror").stdout.split())
        for path in (INSTALLED_BIN, UNIT, CONFIG, COMPLETION, f"{DOCS}/README.md",
                     f"{DOCS}/CHANGELOG.md", f"{DOCS}/copyright"):
            self.assertIn(path, listed)
            self.assertTrue(os.path.exists(path), path)
        self.assertTrue(os.access(INSTALLED_BIN, os.X_OK))
        version = run(INSTALLED_BIN, "--version").stdout
        self.assertTrue(version.startswith(f"regmirror {project_version()} (commit "), version)
        with open(CONFIG) as f, open(os.path.join(REPO, "deploy", "examples", "default.json")) as g:
            self.assertEqual(json.load(f), json.load(g), "the packaged config is the documented default")
        # Stripped: no debug sections in what ships.
        sections = run("readelf", "-S", INSTALLED_BIN).stdout
        self.assertNotIn(".debug_info", sections)

    def test_2_installed_binary_serves_a_pull_with_the_packaged_config(self):
        self.need_installed()
        r = run(INSTALLED_BIN, "serve", "--check-config", "--config", CONFIG, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)

        layout = os.path.join(self.tmp, "layout")
        img = oci_layout.build_image(layout, "v1", layers=[2 << 20, 300000], seed="deb-package")
        reg = Registry()
        self.addCleanup(reg.close)
        reg.push_layout(layout, "v1", "library/debtest")
        with open(CONFIG) as f:
            packaged = json.load(f)
        # Every key as packaged; only the registries (public upstreams) move to loopback.
        cfg = mirror_config(reg.url)
        cfg.update({k: v for k, v in packaged.items() if k not in ("registries", "listen", "data_dir")})
        rm = Regmirror(INSTALLED_BIN, cfg)
        self.addCleanup(rm.close)
        dest = os.path.join(self.tmp, "pulled")
        try:
            skopeo.copy_to_oci(f"docker://{rm.host}/library/debtest:v1", dest, tag="t")
        except Exception as e:
            raise AssertionError(f"skopeo pull through the packaged binary failed: {e}{log_tail(rm)}")
        with open(os.path.join(dest, "index.json")) as f:
            self.assertEqual([m["digest"] for m in json.load(f)["manifests"]], [img.digest])
        for d in img.all_digests:
            self.assertEqual(oci_layout.file_digest(oci_layout.blob_path(dest, d)), d)

    def test_3_unit_and_completion(self):
        self.need_installed()
        with open(UNIT) as f:
            unit = f.read()
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/bin/regmirror serve --config /etc/regmirror/config\.json$")
        self.assertRegex(unit, r"(?m)^ExecStartPre=/usr/bin/regmirror serve --check-config ")
        self.assertNotIn("/usr/local/bin", unit)
        for line in ("DynamicUser=yes", "StateDirectory=regmirror", "NoNewPrivileges=yes",
                     "ProtectSystem=strict"):
            self.assertRegex(unit, rf"(?m)^{re.escape(line)}$")
        sa = shutil.which("systemd-analyze")
        if sa:
            r = run(sa, "verify", UNIT, check=False)
            bad = [l for l in r.stderr.splitlines() if "regmirror.service" in l]
            self.assertEqual(bad, [], r.stderr)
        bash_completion = "/usr/share/bash-completion/bash_completion"
        if os.path.exists(bash_completion):
            script = (f"source {bash_completion}; source {COMPLETION}; "
                      "COMP_WORDS=(regmirror serve --c); COMP_CWORD=2; COMP_LINE='regmirror serve --c'; "
                      "COMP_POINT=${#COMP_LINE}; _regmirror; printf '%s\\n' \"${COMPREPLY[@]}\"")
            offered = run("bash", "-c", script).stdout.split()
            self.assertEqual(sorted(offered), ["--check-config", "--config"])
        elif REQUIRED:
            self.fail("bash-completion is not installed (scripts/install-deps.sh installs it)")

    def test_4_remove_keeps_the_conffile_and_purge_removes_everything(self):
        self.need_installed()
        run("dpkg", "-r", "regmirror")
        self.assertTrue(package_status().startswith("deinstall ok config-files"), package_status())
        for path in (INSTALLED_BIN, UNIT, COMPLETION, DOCS):
            self.assertFalse(os.path.exists(path), f"{path} left after dpkg -r")
        self.assertTrue(os.path.exists(CONFIG), "dpkg -r must keep the operator's config")
        run("dpkg", "-P", "regmirror")
        self.assertEqual(package_status(), "")
        self.assertFalse(os.path.exists("/etc/regmirror"), "dpkg -P left /etc/regmirror")
        self.assertFalse(os.path.exists("/var/lib/regmirror"))


if __name__ == "__main__":
    unittest.main()
