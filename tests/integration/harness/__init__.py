"""Integration-test harness for regmirror: real parts on 127.0.0.1 only (stdlib Python).

Modules
  oci_layout      deterministic OCI layouts: build_image, build_multiarch
  image_set       the realistic image set (1/30/200 MiB layers, multi-arch, 20 layers), built once
  upstream        Registry: distribution 2.8 (``docker-registry``), also proxy mode
  counting_proxy  CountingProxy: counting, fault-injecting HTTP/1.1 reverse proxy
  containerd      Containerd: private daemon + ctr pulls through hosts.toml
  regmirror       Regmirror: the binary under test
  skopeo          loopback-only skopeo wrapper
  proc            process groups, free ports, http_get, wait_until

Rules the harness enforces: every server binds 127.0.0.1 on a free port;
skopeo, the regmirror config and the proxy refuse non-loopback targets;
hosts.toml ``server`` is a dead port; every child runs in its own process
group and is killed at teardown or interpreter exit (SIGTERM included).
"""

from .proc import free_port, http_get, wait_until, CommandError  # noqa: F401
from .oci_layout import build_image, build_multiarch, Image, MultiArchImage  # noqa: F401
from .upstream import Registry  # noqa: F401
from . import image_set  # noqa: F401
from .counting_proxy import CountingProxy  # noqa: F401
from .containerd import Containerd, write_hosts_toml  # noqa: F401
from .regmirror import Regmirror, find_binary  # noqa: F401
from . import skopeo  # noqa: F401
