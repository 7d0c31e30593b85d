"""deploy/: manifests parse, every object has what the API server needs, the ConfigMap's config
passes `regmirror serve --check-config`, kustomize renders base and components, and the
dashboard uses only the metric names the server exports.

Run:  cd tests/integration && REGMIRROR_BIN=../../build/regmirror /usr/bin/python3 -m unittest -v test_deploy_manifests
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.regmirror import find_binary  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(REPO, "deploy")

# Host paths the node agent may mount in the base DaemonSet and its components.
AGENT_HOST_PATHS = {"/etc/containerd", "/etc/docker", "/etc/containers/registries.conf.d",
                    "/etc/logrotate.d"}
GRUB_COMPONENT_HOST_PATHS = {"/"}

METRICS = {
    "regmirror_http_requests_total", "regmirror_http_request_duration_seconds",
    "regmirror_cache_requests_total", "regmirror_served_bytes_total",
    "regmirror_upstream_requests_total", "regmirror_upstream_request_duration_seconds",
    "regmirror_inflight_downloads", "regmirror_coalesced_waiters_total",
    "regmirror_cache_size_bytes", "regmirror_cache_blobs",
    "regmirror_upstream_ratelimit_remaining", "regmirror_upstream_ratelimit_limit",
}
NAMESPACED = {"ConfigMap", "Secret", "Service", "StatefulSet", "Deployment", "DaemonSet",
              "PodDisruptionBudget", "PersistentVolumeClaim", "ServiceAccount"}


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def base_manifest_files():
    """The files kustomization.yaml lists as resources."""
    kust = load_docs(os.path.join(DEPLOY, "kustomization.yaml"))[0]
    return [os.path.join(DEPLOY, r) for r in kust["resources"]]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def validate_object(obj, all_objs):
    """Problems with one Kubernetes object, as strings (empty list: fine)."""
    errs = []
    where = f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"
    for key in ("apiVersion", "kind", "metadata"):
        if not obj.get(key):
            errs.append(f"{where}: missing {key}")
    if errs:
        return errs
    if not obj["metadata"].get("name"):
        errs.append(f"{where}: missing metadata.name")
    name_re = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    if not name_re.match(obj["metadata"].get("name", "")):
        errs.append(f"{where}: metadata.name is not a DNS name")
    kind = obj["kind"]
    by_kind = {}
    for o in all_objs:
        by_kind.setdefault(o.get("kind"), {})[o["metadata"]["name"]] = o

    if kind in ("Deployment", "StatefulSet", "DaemonSet"):
        spec = obj.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not sel:
            errs.append(f"{where}: spec.selector.matchLabels missing")
        for k, v in sel.items():
            if labels.get(k) != v:
                errs.append(f"{where}: selector {k}={v} does not match the pod template labels")
        ps = (spec.get("template") or {}).get("spec") or {}
        containers = ps.get("containers") or []
        if not containers:
            errs.append(f"{where}: no containers")
        volumes = {v["name"]: v for v in ps.get("volumes") or []}
        claim_names = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates") or []}
        for c in containers:
            cw = f"{where} container {c.get('name')}"
            if not c.get("name") or not c.get("image"):
                errs.append(f"{cw}: needs name and image")
            res = c.get("resources") or {}
            if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
                errs.append(f"{cw}: needs memory request and limit")
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes and m["name"] not in claim_names:
                    errs.append(f"{cw}: volumeMount {m['name']} has no volume")
                if not str(m.get("mountPath", "")).startswith("/"):
                    errs.append(f"{cw}: mountPath must be absolute")
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False and not sc.get("privileged"):
                errs.append(f"{cw}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []) and not sc.get("privileged"):
                errs.append(f"{cw}: must drop ALL capabilities")
        for v in volumes.values():
            if "configMap" in v and v["configMap"]["name"] not in by_kind.get("ConfigMap", {}):
                errs.append(f"{where}: volume {v['name']} names unknown ConfigMap {v['configMap']['name']}")
            if "secret" in v and v["secret"]["secretName"] not in by_kind.get("Secret", {}) \
                    and not v["secret"].get("optional"):
                errs.append(f"{where}: volume {v['name']} names unknown Secret {v['secret']['secretName']}")
        if kind == "StatefulSet":
            if not spec.get("serviceName"):
                errs.append(f"{where}: StatefulSet needs serviceName")
            elif spec["serviceName"] not in by_kind.get("Service", {}):
                errs.append(f"{where}: serviceName {spec['serviceName']} is not a Service here")
            for t in spec.get("volumeClaimTemplates") or []:
                if not ((t.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage"):
                    errs.append(f"{where}: volumeClaimTemplate {t['metadata']['name']} needs a storage request")
                if not (t.get("spec") or {}).get("accessModes"):
                    errs.append(f"{where}: volumeClaimTemplate needs accessModes")
    if kind == "Service":
        spec = obj.get("spec") or {}
        if not spec.get("ports"):
            errs.append(f"{where}: no ports")
        sel = spec.get("selector") or {}
        targets = [o for o in all_objs if o["kind"] in ("Deployment", "StatefulSet")
                   and all(o["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
        if not sel or not targets:
            errs.append(f"{where}: selector matches no workload")
        for p in spec.get("ports") or []:
            if "nodePort" in p and not 30000 <= p["nodePort"] <= 32767:
                errs.append(f"{where}: nodePort {p['nodePort']} outside 30000-32767")
            tp = p.get("targetPort", p.get("port"))
            for t in targets:
                cports = [cp for c in pod_spec(t)["containers"] for cp in c.get("ports") or []]
                if not any(cp.get("name") == tp or cp.get("containerPort") == tp for cp in cports):
                    errs.append(f"{where}: targetPort {tp} is no container port of {t['metadata']['name']}")
    if kind == "PodDisruptionBudget":
        spec = obj.get("spec") or {}
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            errs.append(f"{where}: exactly one of minAvailable / maxUnavailable")
        if not (spec.get("selector") or {}).get("matchLabels"):
            errs.append(f"{where}: needs selector.matchLabels")
    if kind in ("ConfigMap", "Secret") and not (obj.get("data") or obj.get("stringData")):
        errs.append(f"{where}: no data")
    return errs


class TestValidatorCatchesBrokenManifests(unittest.TestCase):
    """The validator itself must be able to fail."""

    def test_broken_objects_are_reported(self):
        objs = [o for f in base_manifest_files() for o in load_docs(f)]
        sts = next(o for o in objs if o["kind"] == "StatefulSet")
        broken = json.loads(json.dumps(sts))
        del broken["spec"]["template"]["spec"]["containers"][0]["image"]
        broken["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append(
            {"name": "nope", "mountPath": "/x"})
        broken["spec"]["serviceName"] = "missing"
        errs = validate_object(broken, objs)
        self.assertTrue(any("image" in e for e in errs), errs)
        self.assertTrue(any("nope" in e for e in errs), errs)
        self.assertTrue(any("serviceName" in e for e in errs), errs)
        self.assertTrue(validate_object({"kind": "Service", "metadata": {"name": "x"}}, objs))


class TestManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = base_manifest_files()
        cls.objs = [o for f in cls.files for o in load_docs(f)]
        cls.by_kind = {}
        for o in cls.objs:
            cls.by_kind.setdefault(o["kind"], []).append(o)

    def test_every_yaml_file_parses(self):
        files = glob.glob(os.path.join(DEPLOY, "**", "*.yaml"), recursive=True)
        self.assertGreaterEqual(len(files), 8)
        for f in files:
            with self.subTest(file=os.path.relpath(f, REPO)):
                docs = load_docs(f)
                self.assertTrue(docs)
                for d in docs:
                    self.assertIn("apiVersion", d)
                    self.assertIn("kind", d)

    def test_every_object_has_what_the_api_needs(self):
        for o in self.objs:
            with self.subTest(object=f"{o['kind']}/{o['metadata']['name']}"):
                self.assertEqual(validate_object(o, self.objs), [])

    def test_the_expected_objects_exist(self):
        for kind in ("Namespace", "ConfigMap", "Secret", "StatefulSet", "Service",
                     "PodDisruptionBudget", "DaemonSet"):
            self.assertIn(kind, self.by_kind)

    def mirror(self):
        return self.by_kind["StatefulSet"][0]

    def test_mirror_probes_ports_metrics_and_volumes(self):
        sts = self.mirror()
        c = pod_spec(sts)["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports.get("http"), 5000)
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c[probe]["httpGet"]
            self.assertEqual(get["path"], path)
            self.assertEqual(ports.get(get["port"], get["port"]), 5000)
        ann = sts["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(ann["prometheus.io/scrape"], "true")
        self.assertEqual(ann["prometheus.io/port"], "5000")
        self.assertEqual(ann["prometheus.io/path"], "/metrics")
        self.assertEqual(c["args"][0], "serve")
        self.assertIn("--config", c["args"])

    def config(self):
        cm = next(o for o in self.by_kind["ConfigMap"] if o["metadata"]["name"] == "regmirror-config")
        return cm["data"]["config.json"]

    def test_config_paths_are_mounted(self):
        cfg = json.loads(self.config())
        sts = self.mirror()
        c = pod_spec(sts)["containers"][0]
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        vols = {v["name"]: v for v in pod_spec(sts)["volumes"]}
        cfg_arg = c["args"][c["args"].index("--config") + 1]
        cm_mount = mounts.get(os.path.dirname(cfg_arg))
        self.assertIsNotNone(cm_mount, "the --config file's directory is not mounted")
        self.assertEqual(vols[cm_mount]["configMap"]["name"], "regmirror-config")
        self.assertIn(cfg["data_dir"], mounts, "data_dir must be the PVC mount")
        self.assertIn(mounts[cfg["data_dir"]], {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]})
        self.assertEqual(cfg["listen"].rsplit(":", 1)[1], "5000")
        # password_file comes from the Docker Hub Secret.
        files = [u["password_file"] for r in cfg["registries"].values() for u in r["upstreams"]
                 if "password_file" in u]
        self.assertTrue(files)
        for pf in files:
            mount = mounts.get(os.path.dirname(pf))
            self.assertIsNotNone(mount, f"{pf} is not under a mount")
            secret = vols[mount]["secret"]["secretName"]
            sec = next(o for o in self.by_kind["Secret"] if o["metadata"]["name"] == secret)
            self.assertIn(os.path.basename(pf), sec.get("stringData") or sec.get("data"))

    def test_node_agent_least_privilege_and_every_node(self):
        ds = self.by_kind["DaemonSet"][0]
        ps = pod_spec(ds)
        self.assertIn({"operator": "Exists"}, ps["tolerations"])
        self.assertFalse(ps.get("hostNetwork", False))
        self.assertFalse(ps.get("hostPID", False))
        self.assertFalse(ps.get("automountServiceAccountToken", True))
        c = ps["containers"][0]
        sc = c["securityContext"]
        self.assertFalse(sc.get("privileged", False))
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertFalse(sc.get("capabilities", {}).get("add"))
        for v in ps["volumes"]:
            self.assertIn(v["hostPath"]["path"], AGENT_HOST_PATHS)
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        for v in ps["volumes"]:
            self.assertIn("/host" + v["hostPath"]["path"], mounts)
        self.assertEqual(c["args"][:2], ["node", "apply"])
        self.assertIn("--root=/host", c["args"])
        self.assertTrue(any(a.startswith("--every=") for a in c["args"]))
        mirror_arg = next(a for a in c["args"] if a.startswith("--mirror="))
        service = next(s for s in self.by_kind["Service"] if s["spec"].get("type") == "NodePort")
        node_port = service["spec"]["ports"][0]["nodePort"]
        self.assertTrue(mirror_arg.endswith(f":{node_port}"), mirror_arg)
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP")

    def test_namespace_allows_the_agents_host_paths(self):
        ns = self.by_kind["Namespace"][0]
        self.assertEqual(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged")


def binary_or_fail(testcase):
    b = find_binary()
    if not b:
        testcase.fail("regmirror binary not found: build it and set REGMIRROR_BIN")
    return b


class TestConfigsPassCheckConfig(unittest.TestCase):
    def check(self, text, name):
        b = binary_or_fail(self)
        with tempfile.TemporaryDirectory() as d:
            # --check-config reads password_file like start-up does; in the pod the Secret is
            # mounted there (test_config_paths_are_mounted), here a stand-in file is.
            cfg = json.loads(text)
            secret = os.path.join(d, "token")
            with open(secret, "w") as f:
                f.write("not-a-real-token\n")
            for reg in cfg.get("registries", {}).values():
                for up in reg.get("upstreams", []):
                    if "password_file" in up:
                        up["password_file"] = secret
            path = os.path.join(d, name)
            with open(path, "w") as f:
                json.dump(cfg, f)
            r = subprocess.run([b, "serve", "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, f"{name}: {r.stdout}{r.stderr}")
        return r

    def test_configmap_config(self):
        cm = next(o for f in base_manifest_files() for o in load_docs(f)
                  if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "regmirror-config")
        self.check(cm["data"]["config.json"], "config.json")

    def test_examples(self):
        for path in sorted(glob.glob(os.path.join(DEPLOY, "examples", "*.json"))):
            with self.subTest(example=os.path.basename(path)):
                with open(path) as f:
                    self.check(f.read(), os.path.basename(path))

    def test_check_config_rejects_a_broken_config(self):
        """Proves the check is not vacuous: an unknown key fails with exit 2."""
        b = binary_or_fail(self)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.json")
            with open(path, "w") as f:
                json.dump({"listen": "0.0.0.0:5000", "registries": {}, "no_such_key": 1}, f)
            r = subprocess.run([b, "serve", "--check-config", "--config", path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)


class TestExamples(unittest.TestCase):
    def test_closed_network_puts_harbor_first_and_maps_names(self):
        with open(os.path.join(DEPLOY, "examples", "closed-network.json")) as f:
            cfg = json.load(f)
        regs = cfg["registries"]
        for name in ("docker.io", "registry.k8s.io", "gcr.io", "quay.io"):
            first = regs[name]["upstreams"][0]
            self.assertIn("harbor", first["url"], name)
            self.assertEqual(first["path"], "container_service/{basename}", name)
            self.assertGreaterEqual(len(regs[name]["upstreams"]), 2, name)
        self.assertIn("k8s.gcr.io", regs["registry.k8s.io"]["aliases"])
        gh = regs["docker.pkg.github.com"]["upstreams"][0]
        self.assertEqual((gh["url"], gh["path"]), ("https://ghcr.io", "{owner}/{basename}"))

    def test_default_example_has_every_default_registry(self):
        with open(os.path.join(DEPLOY, "examples", "default.json")) as f:
            regs = json.load(f)["registries"]
        self.assertEqual(set(regs), {"docker.io", "registry.k8s.io", "gcr.io", "quay.io",
                                     "ghcr.io", "docker.pkg.github.com"})


class TestKustomize(unittest.TestCase):
    def kubectl(self):
        k = shutil.which("kubectl")
        if not k:
            self.skipTest("kubectl is not installed: `kubectl kustomize deploy/` not checked")
        return k

    def render(self, directory):
        r = subprocess.run([self.kubectl(), "kustomize", directory], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [d for d in yaml.safe_load_all(r.stdout) if d]

    def test_base_renders_with_namespace_on_every_object(self):
        objs = self.render(DEPLOY)
        kinds = sorted(o["kind"] for o in objs)
        self.assertEqual(kinds, sorted(["Namespace", "ConfigMap", "Secret", "StatefulSet", "Service",
                                        "Service", "PodDisruptionBudget", "DaemonSet"]))
        for o in objs:
            if o["kind"] in NAMESPACED:
                self.assertEqual(o["metadata"].get("namespace"), "regmirror", o["metadata"]["name"])
            self.assertEqual(validate_object(o, objs), [])

    def test_images_pinned_by_release_tag_and_digest(self):
        with open(os.path.join(REPO, "CMakeLists.txt")) as f:
            version = re.search(r"^project\(regmirror VERSION (\S+)", f.read(), re.M).group(1)
        objs = self.render(DEPLOY)
        images = {c["image"] for o in objs if o["kind"] in ("StatefulSet", "DaemonSet")
                  for c in pod_spec(o)["containers"] + pod_spec(o).get("initContainers", [])}
        self.assertTrue(images)
        for image in images:
            self.assertRegex(image, rf"^[^:@]+:{re.escape(version)}@sha256:[0-9a-f]{{64}}$")

    def test_components_render(self):
        with tempfile.TemporaryDirectory() as d:
            rel = os.path.relpath(DEPLOY, d)
            cases = {
                "docker-nodes": ({"/etc/docker", "/etc/logrotate.d"}, "--runtime=docker"),
                "crio-nodes": ({"/etc/containers/registries.conf.d"}, "--runtime=crio"),
                "grub-nokmem": (GRUB_COMPONENT_HOST_PATHS, "--grub-nokmem"),
            }
            for comp, (paths, arg) in cases.items():
                with self.subTest(component=comp):
                    with open(os.path.join(d, "kustomization.yaml"), "w") as f:
                        yaml.safe_dump({"resources": [rel], "components": [f"{rel}/components/{comp}"]}, f)
                    objs = self.render(d)
                    ds = next(o for o in objs if o["kind"] == "DaemonSet")
                    ps = pod_spec(ds)
                    self.assertEqual({v["hostPath"]["path"] for v in ps["volumes"]}, paths)
                    self.assertIn(arg, ps["containers"][0]["args"])
                    self.assertEqual(validate_object(ds, objs), [])


class TestDashboardAndUnits(unittest.TestCase):
    def test_dashboard_uses_exactly_the_exported_metrics(self):
        with open(os.path.join(DEPLOY, "grafana", "regmirror-dashboard.json")) as f:
            dash = json.load(f)
        exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
        self.assertTrue(exprs)
        used = set()
        for e in exprs:
            for name in re.findall(r"\bregmirror_[a-z_]+", e):
                base = re.sub(r"_(bucket|sum|count)$", "", name)
                self.assertIn(base, METRICS, f"unknown metric {name} in {e}")
                used.add(base)
        self.assertEqual(used, METRICS, "metrics missing from the dashboard")
        ids = [p["id"] for p in dash["panels"]]
        self.assertEqual(len(ids), len(set(ids)))

    def test_systemd_unit(self):
        with open(os.path.join(DEPLOY, "systemd", "regmirror.service")) as f:
            text = f.read()
        sections = re.findall(r"^\[(\w+)\]$", text, re.M)
        self.assertEqual(sections, ["Unit", "Service", "Install"])
        self.assertRegex(text, r"(?m)^ExecStart=/usr/local/bin/regmirror serve --config \S+$")
        self.assertRegex(text, r"(?m)^User=regmirror$")
        sa = shutil.which("systemd-analyze")
        if sa:
            with tempfile.TemporaryDirectory() as d:
                # verify wants the binary to exist; point it at a stand-in.
                unit = text.replace("/usr/local/bin/regmirror", "/bin/true")
                p = os.path.join(d, "regmirror.service")
                with open(p, "w") as f:
                    f.write(unit)
                r = subprocess.run([sa, "verify", p], capture_output=True, text=True, timeout=60)
                bad = [l for l in r.stderr.splitlines() if "regmirror.service" in l and "Unknown" in l]
                self.assertEqual(bad, [], r.stderr)

    def test_node_script_is_valid_sh(self):
        script = os.path.join(DEPLOY, "node", "regmirror-node-setup.sh")
        self.assertTrue(os.access(script, os.X_OK))
        r = subprocess.run(["sh", "-n", script], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        sc = shutil.which("shellcheck")
        if sc:
            r = subprocess.run([sc, "-s", "sh", script], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout)

    def test_containerfile_builds_from_debian_12(self):
        with open(os.path.join(DEPLOY, "Containerfile")) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^FROM docker\.io/library/debian:12")
        self.assertIn("ninja -C build regmirror", text)


if __name__ == "__main__":
    unittest.main()
