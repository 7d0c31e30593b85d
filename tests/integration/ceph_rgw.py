"""A throwaway single-node Ceph cluster with RADOS Gateway: a real S3 implementation (strict
SigV4 checking) for tests, without Docker or systemd.

One ceph-mon (cephx, msgr v1, 127.0.0.1), one ceph-osd on memstore (RAM, no disk), no
ceph-mgr (RGW does not need it), radosgw (beast) on 127.0.0.1, one S3 user. Every port is
picked free at start (RGW, mon, and a 100-port window for the OSD messenger), so several
instances can run side by side. Ready in about 2 s once the Debian packages `radosgw ceph-mon
ceph-osd` are installed.

    rgw = CephRgw()            # or: with CephRgw() as rgw:
    rgw.start()                # raises RuntimeError with the log tail on failure
    rgw.endpoint, rgw.access_key, rgw.secret_key, rgw.region
    rgw.create_bucket("b")     # SigV4-signed by curl
    rgw.stop()                 # stops every daemon it started (by pid), removes its dir

CLI (used by the C++ tests): `python3 ceph_rgw.py start DIR` prints KEY=VALUE lines
(S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION) and leaves the daemons running;
`python3 ceph_rgw.py stop DIR` stops them.

Facts worth keeping (Ceph 16.2, Debian 12): with `auth none` the MonClient can send commands
before it has the monmap ("wrong fsid"/EPERM, Ceph bug 56487), cephx orders it correctly; the
OSD's init-time crush/class mon commands hit the same race, so they are disabled and osd.0 is
placed in the crush map from the CLI. RGW 16.2 answers CompleteMultipartUpload with an empty
ETag (HEAD has the right one) and does not check x-amz-checksum-*.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

LOOPBACK = "127.0.0.1"
PACKAGES = ["radosgw", "ceph-mon", "ceph-osd"]
DAEMONS = ["client.rgw.a", "osd.0", "mon.a"]  # stop order: the OSD tells the mon it goes down


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
            return True
        except OSError:
            return False


def _osd_port_window() -> int:
    """First port of a 100-port window that looks free (the OSD binds several in it)."""
    for _ in range(50):
        first = random.randrange(20000, 32000, 100)
        if all(_port_free(p) for p in range(first, first + 100, 7)):
            return first
    raise RuntimeError("no free 100-port window for the Ceph OSD messenger")


def ensure_packages() -> None:
    missing = [p for p in ("radosgw", "ceph-mon", "ceph-osd") if shutil.which(p) is None]
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + PACKAGES
    if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        subprocess.run(["apt-get", "update"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)


class CephRgw:
    def __init__(self, directory: str | None = None, access_key: str = "ci-access-key",
                 secret_key: str = "ci-secret-key-0123456789", timeout: float = 120.0,
                 memstore_bytes: int = 2 << 30):
        self.dir = directory or tempfile.mkdtemp(prefix="regmirror-rgw-")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = "us-east-1"
        self.timeout = timeout
        self.memstore_bytes = memstore_bytes
        self.port = 0
        self.endpoint = ""
        self.started_seconds = 0.0

    # -- helpers --------------------------------------------------------------------------
    def _env(self) -> dict:
        return dict(os.environ, CEPH_CONF=os.path.join(self.dir, "ceph.conf"))

    def _run(self, *args: str, timeout: float = 60.0, check: bool = True) -> str:
        with open(os.path.join(self.dir, "log", "setup.log"), "ab") as log:
            out = subprocess.run(list(args), env=self._env(), stdout=subprocess.PIPE, stderr=log,
                                 timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {out.returncode}")
        return out.stdout.decode()

    def _pid(self, name: str) -> int | None:
        try:
            with open(os.path.join(self.dir, "run", f"{name}.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _wait(self, pred, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not pred():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} within {self.timeout}s")
            time.sleep(0.1)

    def curl(self, method: str, path: str, *extra: str, data: bytes | None = None,
             secret: str | None = None) -> tuple[int, bytes]:
        """One SigV4-signed request with curl (an independent signer) -> (status, body)."""
        cmd = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method,
               "--aws-sigv4", f"aws:amz:{self.region}:s3",
               "--user", f"{self.access_key}:{secret or self.secret_key}",
               "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", *extra, f"{self.endpoint}{path}"]
        if data is not None:
            cmd[1:1] = ["--data-binary", "@-"]
        out = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, timeout=60)
        body, _, code = out.stdout.rpartition(b"\n")
        return int(code or b"0"), body

    def create_bucket(self, name: str) -> None:
        status, body = self.curl("PUT", f"/{name}")
        if status != 200:
            raise RuntimeError(f"create bucket {name}: HTTP {status} {body[:300]!r}")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "CephRgw":
        t0 = time.monotonic()
        ensure_packages()
        try:
            self._start()
        except Exception as e:
            tail = ""
            for name in ("setup.log", "mon.a.log", "osd.0.log", "client.rgw.a.log"):
                path = os.path.join(self.dir, "log", name)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        tail += f"--- {name}\n" + f.read()[-1500:].decode(errors="replace")
            self.stop(keep_dir=True)
            raise RuntimeError(f"Ceph RGW did not start: {e}; logs in {self.dir}/log\n{tail}") from e
        self.started_seconds = time.monotonic() - t0
        return self

    def _start(self) -> None:
        for sub in ("run", "log", "crash", "mon.a", "osd.0", "rgw.a"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.port = _free_port()
        mon_port = _free_port()
        osd_first = _osd_port_window()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        fsid = str(uuid.uuid4())
        d = self.dir
        conf = f"""[global]
fsid = {fsid}
mon_host = v1:{LOOPBACK}:{mon_port}
mon_initial_members = a
public_addr = {LOOPBACK}
ms_bind_msgr2 = false
ms_bind_port_min = {osd_first}
ms_bind_port_max = {osd_first + 99}
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_warn_on_insecure_global_id_reclaim_allowed = false
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
run_dir = {d}/run
pid_file = {d}/run/$name.pid
admin_socket = {d}/run/$name.asok
log_file = {d}/log/$name.log
crash_dir = {d}/crash
keyring = {d}/keyring
mon_data = {d}/$name
osd_data = {d}/$name
osd_crush_update_on_start = false
osd_class_update_on_start = false
osd_objectstore = memstore
memstore_device_bytes = {self.memstore_bytes}
[client.rgw.a]
rgw_frontends = beast endpoint={LOOPBACK}:{self.port}
rgw_data = {d}/rgw.a
rgw_dns_name = localhost
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
"""
        with open(os.path.join(d, "ceph.conf"), "w") as f:
            f.write(conf)
        k = os.path.join(d, "keyring")
        self._run("ceph-authtool", "--create-keyring", k, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *")
        self._run("ceph-authtool", k, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *",
                  "--cap", "osd", "allow *", "--cap", "mgr", "allow *")
        self._run("ceph-authtool", k, "--gen-key", "-n", "osd.0", "--cap", "mon", "allow profile osd",
                  "--cap", "osd", "allow *", "--cap", "mgr", "allow profile osd")
        self._run("ceph-authtool", k, "--gen-key", "-n", "client.rgw.a", "--cap", "mon", "allow rw",
                  "--cap", "osd", "allow rwx", "--cap", "mgr", "allow rw")
        self._run("monmaptool", "--create", "--fsid", fsid, "--addv", "a",
                  f"v1:{LOOPBACK}:{mon_port}", os.path.join(d, "monmap"))
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", os.path.join(d, "monmap"), "--keyring", k)
        self._run("ceph-mon", "-i", "a")  # daemonizes, writes run/mon.a.pid
        self._run("ceph", "-s", timeout=30)
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("ceph", "osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise RuntimeError(f"unexpected osd id {osd_id!r}")
        self._run("ceph", "osd", "crush", "add", "osd.0", "1.0", "host=localhost", "root=default")
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid)
        for attempt in range(3):  # retry a start that dies during init
            if self._run("ceph-osd", "-i", "0", check=False) == "" and self._pid("osd.0"):
                break
            time.sleep(0.5)
        self._wait(lambda: "osd.0 up" in self._run("ceph", "osd", "dump", check=False),
                   "osd.0 did not come up")
        self._run("radosgw", "-n", "client.rgw.a")

        def rgw_answers() -> bool:
            out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                  f"{self.endpoint}/"], stdout=subprocess.PIPE)
            return out.stdout == b"200"
        self._wait(rgw_answers, f"radosgw did not answer on {self.port}")
        self._run("radosgw-admin", "user", "create", "--uid=ci", "--display-name=ci",
                  f"--access-key={self.access_key}", f"--secret-key={self.secret_key}")
        self._wait(lambda: self.curl("GET", "/")[0] == 200, "a signed ListBuckets did not succeed")

    def stop(self, keep_dir: bool = False) -> None:
        for name in DAEMONS:
            pid = self._pid(name)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not keep_dir and not os.environ.get("REGMIRROR_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "CephRgw":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: ceph_rgw.py start|stop DIR", file=sys.stderr)
        return 2
    rgw = CephRgw(argv[2])
    if argv[1] == "stop":
        rgw.stop()
        return 0
    os.makedirs(argv[2], exist_ok=True)
    rgw.start()
    print(f"S3_ENDPOINT={rgw.endpoint}\nS3_ACCESS_KEY={rgw.access_key}\n"
          f"S3_SECRET_KEY={rgw.secret_key}\nS3_REGION={rgw.region}\n"
          f"S3_START_SECONDS={rgw.started_seconds:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
