#!/usr/bin/env python3
"""The checks of charts/cstor-csi, run by scripts/check-chart inside its virtualenv.

Helm's own library (helm-python-sdk) lints the chart and renders it the way `helm template`
does, for the default values and for ci/all-options-values.yaml. Every rendered object is
validated against the Kubernetes OpenAPI schemas of each supported version (bundled in
kubernetes-validate; an apiVersion/kind with no schema is an error unless it is a known CRD
kind), yamllint reads the output, and the facts the driver depends on are asserted over the
parsed objects. Values that break values.schema.json or the chart's own consistency rules must
make rendering fail. Prints one line per check and closes with "N passed, N failed".
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import posixpath
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ["KUBECONFIG"] = os.devnull  # never reach a real cluster

import helm_python as helm  # noqa: E402
import importlib_resources  # noqa: E402
import jsonschema  # noqa: E402
import yaml  # noqa: E402
from referencing import Registry, Resource  # noqa: E402
from yamllint import linter  # noqa: E402
from yamllint.config import YamlLintConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cstor-csi"
# The chart's RBAC as rendered with the default values: the test API server authorizes the
# controller's requests against it (Tests/Support/KubeAPI/RBACPolicy.swift).
RBAC_RENDERING = ROOT / "deploy" / "rbac" / "cstor-csi.yaml"
RBAC_KINDS = {"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
HERE = Path(__file__).resolve().parent

DRIVER = "cstor.csi.openebs.io"
RELEASE = "cstor-csi"
KUBE_VERSIONS = ["1.29", "1.34"]
# Kinds that are CRDs (no schema in the Kubernetes OpenAPI); anything else without a schema is
# an unknown or removed API and fails.
CRD_KINDS = {("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass")}
CLUSTER_SCOPED = {"CSIDriver", "ClusterRole", "ClusterRoleBinding", "StorageClass", "VolumeSnapshotClass"}
SIDECAR_FLAGS = {
    "csi-provisioner": ["--worker-threads", "--extra-create-metadata", "--default-fstype=ext4",
                        "--feature-gates=Topology=true"],
    "csi-attacher": ["--worker-threads"],
    "csi-resizer": ["--workers"],
    "csi-snapshotter": ["--worker-threads"],
}
# Which controller timeout each sidecar's --timeout must exceed.
SIDECAR_TIMEOUT_OF = {"csi-provisioner": "--provision-timeout", "csi-resizer": "--expand-timeout",
                      "csi-snapshotter": "--snapshot-timeout"}

# The bundled OpenAPI schemas carry no enums: the values Kubernetes accepts for the fields this
# chart sets, keyed by the end of their path ("*" = any list index).
ENUMS: dict[tuple[str, ...], set[Any]] = {
    ("imagePullPolicy",): {"Always", "IfNotPresent", "Never"},
    ("mountPropagation",): {"None", "HostToContainer", "Bidirectional"},
    ("hostPath", "type"): {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
                           "CharDevice", "BlockDevice"},
    ("ports", "*", "protocol"): {"TCP", "UDP", "SCTP"},
    ("seccompProfile", "type"): {"RuntimeDefault", "Localhost", "Unconfined"},
    ("strategy", "type"): {"RollingUpdate", "Recreate"},
    ("updateStrategy", "type"): {"RollingUpdate", "OnDelete"},
    ("tolerations", "*", "operator"): {"Exists", "Equal"},
    ("tolerations", "*", "effect"): {"", "NoSchedule", "PreferNoSchedule", "NoExecute"},
    ("dnsPolicy",): {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"},
    ("restartPolicy",): {"Always", "OnFailure", "Never"},
    ("spec", "fsGroupPolicy"): {"None", "File", "ReadWriteOnceWithFSType"},
    ("volumeLifecycleModes", "*"): {"Persistent", "Ephemeral"},
    ("reclaimPolicy",): {"Delete", "Retain"},
    ("volumeBindingMode",): {"Immediate", "WaitForFirstConsumer"},
    ("deletionPolicy",): {"Delete", "Retain"},
    ("capabilities", "drop", "*"): {"ALL"},
}


# ---------------------------------------------------------------------------------------------
# Rendering and linting with Helm's library


def chart_values(values: dict) -> dict:
    """The chart's defaults merged with `values`, as the templates see .Values."""
    return helm.Chart.load(CHART).merge_values(values)


def render(values: dict, namespace: str) -> tuple[str, str]:
    """`helm template`: Helm's client-only install. Returns (manifest, NOTES.txt)."""
    release = helm.Config(namespace=namespace).install(
        str(CHART), RELEASE, values, namespace=namespace, dry_run="client")
    return release["manifest"], release.get("notes", "")


def lint_problems(values: dict, kube_version: str, namespace: str) -> list[str]:
    """`helm lint --strict`: every warning or error, as text."""
    report = helm.lint(str(CHART), values, strict=True, namespace=namespace,
                       kube_version=f"v{kube_version}.0")
    problems = [f"{m['path']}: {m['error'].strip()}" for m in report.get("messages", [])
                if m.get("severity", 0) >= 2]
    return problems or [e.strip() for e in report.get("errors", [])]


def documents(manifest: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(manifest) if d]


# ---------------------------------------------------------------------------------------------
# Validation against the Kubernetes OpenAPI schemas bundled in kubernetes-validate


SCHEMAS = importlib_resources.files("kubernetes_validate") / "kubernetes-json-schema"


@functools.cache
def _definitions(version: str) -> Resource:
    text = (SCHEMAS / f"v{version}.0-local-strict" / "_definitions.json").read_text()
    return Resource.from_contents(json.loads(text))


@functools.cache
def _validator(version: str, filename: str) -> jsonschema.protocols.Validator | None:
    path = SCHEMAS / f"v{version}.0-local-strict" / filename
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    registry = _definitions(version) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_errors(obj: dict, version: str) -> list[str]:
    """Every schema error of `obj` for Kubernetes `version` (strict: unknown fields fail)."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    validator = _validator(version, f"{kind.lower()}-{group_version}.json")
    if validator is None:
        if (api_version, kind) in CRD_KINDS:
            return []
        return [f"{api_version} {kind}: no such API in Kubernetes {version} (unknown or removed)"]
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator.iter_errors(obj)]
    return errors + enum_errors(obj)


def walk(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, path + (index,))


def enum_errors(obj: dict) -> list[str]:
    errors = []
    for path, value in walk(obj):
        if isinstance(value, (dict, list)):
            continue
        generic = tuple("*" if isinstance(p, int) else p for p in path)
        for suffix, allowed in ENUMS.items():
            if generic[-len(suffix):] == suffix and value not in allowed:
                errors.append(f"{'.'.join(map(str, path))}: {value!r} is not one of {sorted(allowed)}")
    return errors


# ---------------------------------------------------------------------------------------------
# Facts about the rendered chart


class Rendered:
    """One rendering: its objects and the values behind them, with lookups the facts share."""

    def __init__(self, name: str, manifest: str, notes: str, values: dict, namespace: str):
        self.name, self.manifest, self.notes, self.values = name, manifest, notes, values
        self.namespace = namespace
        self.objects = documents(manifest)
        self.kubelet_dir = values["kubeletDir"].rstrip("/")

    def all(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def pods(self) -> list[tuple[dict, dict]]:
        return [(o, o["spec"]["template"]["spec"]) for o in self.objects
                if o["kind"] in ("Deployment", "DaemonSet")]

    def containers(self) -> Iterator[tuple[dict, dict, dict]]:
        for workload, pod in self.pods():
            for container in pod["containers"]:
                yield workload, pod, container

    def container(self, kind: str, name: str) -> dict:
        pod = self.one(kind)["spec"]["template"]["spec"]
        matches = [c for c in pod["containers"] if c["name"] == name]
        assert len(matches) == 1, f"{kind} has no single container {name}"
        return matches[0]

    def controller_sa(self) -> str:
        return self.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]


def flags(container: dict) -> dict[str, str | None]:
    """--name=value arguments as {"--name": "value"}, bare flags as {"--name": None}."""
    result: dict[str, str | None] = {}
    for arg in container.get("args", []):
        name, sep, value = arg.partition("=")
        assert name not in result, f"{container['name']}: flag {name} given twice"
        result[name] = value if sep else None
    return result


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"not a duration in seconds: {duration}"
    return int(match.group(1))


def volume(pod: dict, name: str) -> dict:
    matches = [v for v in pod.get("volumes", []) if v["name"] == name]
    assert len(matches) == 1, f"no volume {name}"
    return matches[0]


def fact_csidriver(r: Rendered) -> None:
    driver = r.one("CSIDriver")
    assert driver["metadata"]["name"] == DRIVER
    expected = {"attachRequired": True, "podInfoOnMount": False, "fsGroupPolicy": "File",
                "volumeLifecycleModes": ["Persistent"], "requiresRepublish": False}
    for key, value in expected.items():
        assert driver["spec"].get(key) == value, f"spec.{key} = {driver['spec'].get(key)!r}, want {value!r}"


def fact_registration_paths(r: Rendered) -> None:
    socket = f"{r.kubelet_dir}/plugins/{DRIVER}/csi.sock"
    registrar = flags(r.container("DaemonSet", "node-driver-registrar"))
    assert registrar["--kubelet-registration-path"] == socket, registrar["--kubelet-registration-path"]
    assert registrar["--csi-address"] == "/csi/csi.sock"
    node = flags(r.container("DaemonSet", "cstor-node"))
    assert node["--endpoint"] == f"unix://{socket}", node["--endpoint"]
    assert node["--kubelet-dir"] == r.kubelet_dir, node["--kubelet-dir"]
    assert node["--node-id"] == "$(NODE_ID)"
    pod = r.one("DaemonSet")["spec"]["template"]["spec"]
    assert volume(pod, "plugin-dir")["hostPath"]["path"] == posixpath.dirname(socket)
    assert volume(pod, "registration-dir")["hostPath"] == {
        "path": f"{r.kubelet_dir}/plugins_registry", "type": "Directory"}
    env = {e["name"]: e for e in r.container("DaemonSet", "cstor-node")["env"]}
    assert env["NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"


def fact_kubelet_dir_everywhere(r: Rendered) -> None:
    """Every host path and argument under kubelet's directory uses kubeletDir, normalised."""
    assert "//" not in r.manifest.replace("://", ""), "a path with a double slash"
    default = "/var/lib/kubelet"
    if r.kubelet_dir != default:
        leftovers = [m.start() for m in re.finditer(re.escape(default), r.manifest)
                     if not r.manifest[:m.start() + len(default)].endswith(r.kubelet_dir)]
        assert not leftovers, f"{default} still appears although kubeletDir is {r.kubelet_dir}"


def fact_mount_propagation(r: Rendered) -> None:
    pod = r.one("DaemonSet")["spec"]["template"]["spec"]
    node = r.container("DaemonSet", "cstor-node")
    mounts = {m["name"]: m for m in node["volumeMounts"]}
    kubelet = mounts["kubelet-dir"]
    assert kubelet["mountPath"] == r.kubelet_dir and kubelet.get("mountPropagation") == "Bidirectional"
    assert volume(pod, "kubelet-dir")["hostPath"] == {"path": r.kubelet_dir, "type": "Directory"}
    assert mounts["device-dir"]["mountPath"] == "/dev"
    assert volume(pod, "device-dir")["hostPath"]["path"] == "/dev"
    assert mounts["host-root"]["mountPath"] == "/host"
    assert mounts["host-root"].get("mountPropagation") == "HostToContainer"
    assert volume(pod, "host-root")["hostPath"]["path"] == "/"
    bidirectional = [(w["kind"], c["name"], m["name"]) for w, _, c in r.containers()
                     for m in c.get("volumeMounts", []) if m.get("mountPropagation") == "Bidirectional"]
    assert bidirectional == [("DaemonSet", "cstor-node", "kubelet-dir")], bidirectional
    privileged = [(w["kind"], c["name"]) for w, _, c in r.containers()
                  if c.get("securityContext", {}).get("privileged")]
    assert privileged == [("DaemonSet", "cstor-node")], privileged


def fact_iscsiadm_wrapper(r: Rendered) -> None:
    node = r.container("DaemonSet", "cstor-node")
    path = flags(node)["--iscsiadm"]
    mount = next(m for m in node["volumeMounts"] if m["mountPath"] == path)
    pod = r.one("DaemonSet")["spec"]["template"]["spec"]
    config_map_name = volume(pod, mount["name"])["configMap"]["name"]
    config_map = next(o for o in r.all("ConfigMap") if o["metadata"]["name"] == config_map_name)
    script = config_map["data"][mount["subPath"]]
    expected = r.values["node"]["iscsiadmWrapper"] or (CHART / "files" / "iscsiadm").read_text()
    assert script == expected, "the ConfigMap's script differs from the source"
    assert script.startswith("#!"), "the wrapper has no interpreter line"
    assert volume(pod, mount["name"])["configMap"]["defaultMode"] == 0o755


def fact_node_isolation(r: Rendered) -> None:
    pod = r.one("DaemonSet")["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True, "iscsiadm needs the host's network namespace"
    # hostPID only for the read-only monitor, which must see pods' mount namespaces in /proc.
    remount = r.values["node"]["remount"]
    assert bool(pod.get("hostPID")) == remount["enabled"], "hostPID exactly when node.remount.enabled is on"
    node = next(c for c in pod["containers"] if c["name"] == "cstor-node")
    assert flags(node)["--fsck-mode"] == r.values["node"]["fsckMode"]
    assert flags(node)["--remount"] == str(remount["enabled"]).lower()
    assert flags(node)["--restart-pods"] == str(remount["restartPods"]).lower()
    assert not pod.get("hostIPC")
    # The node's API access exists only for node.remount.restartPods: a token, and exactly the
    # rules the pod restart uses (list the node's pods, evict them), cluster-wide.
    restart = remount["restartPods"]
    assert pod["automountServiceAccountToken"] is restart, "a token exactly when node.remount.restartPods is on"
    sa = pod["serviceAccountName"]
    account = next(o for o in r.all("ServiceAccount") if o["metadata"]["name"] == sa)
    assert account.get("automountServiceAccountToken") is False
    bindings = [b for b in r.all("RoleBinding") + r.all("ClusterRoleBinding")
                if any(s["name"] == sa for s in b["subjects"])]
    if not restart:
        assert not bindings, f"{[b['metadata']['name'] for b in bindings]} bind the node"
        return
    assert [b["kind"] for b in bindings] == ["ClusterRoleBinding"], bindings
    assert bindings[0]["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": r.namespace}]
    role = next(o for o in r.all("ClusterRole") if o["metadata"]["name"] == bindings[0]["roleRef"]["name"])
    assert rules_of(role) == {("", "pods"): {"get", "list"}, ("", "pods/eviction"): {"create"}}, rules_of(role)


def fact_rbac_no_wildcards(r: Rendered) -> None:
    for role in r.all("Role") + r.all("ClusterRole"):
        for rule in role["rules"]:
            where = f"{role['kind']} {role['metadata']['name']}"
            for field in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(field, []), f"{where}: wildcard in {field}"
            assert "nonResourceURLs" not in rule, f"{where}: nonResourceURLs"
            assert "secrets" not in rule["resources"], f"{where}: secrets"
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), f"{where}: {rule['verbs']}"


def rules_of(role: dict) -> dict[tuple[str, str], set[str]]:
    table: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                table.setdefault((group, resource), set()).update(rule["verbs"])
    return table


def fact_rbac_controller(r: Rendered) -> None:
    """The controller's own rules are exactly what cstor-controller calls."""
    openebs = r.values["openebsNamespace"]
    sa = r.controller_sa()
    want_namespaced = {
        ("cstor.openebs.io", "cstorvolumeconfigs"): {"get", "list", "watch", "create", "update", "delete"},
        ("cstor.openebs.io", "cstorvolumeattachments"): {"get", "list", "create", "update", "delete"},
        ("cstor.openebs.io", "cstorvolumes"): {"get", "list"},
        ("cstor.openebs.io", "cstorvolumereplicas"): {"list"},
        ("cstor.openebs.io", "cstorpoolclusters"): {"get", "list", "watch"},
        ("cstor.openebs.io", "cstorpoolinstances"): {"list", "watch"},
    }
    role = next(o for o in r.all("Role") if o["metadata"]["name"] == sa)
    assert role["metadata"]["namespace"] == openebs, role["metadata"]["namespace"]
    assert rules_of(role) == want_namespaced, rules_of(role)
    cluster_role = next(o for o in r.all("ClusterRole") if o["metadata"]["name"] == sa)
    assert rules_of(cluster_role) == {("", "nodes"): {"get"}, ("", "persistentvolumeclaims"): {"get"}}, rules_of(cluster_role)
    leases = next(o for o in r.all("Role") if o["metadata"]["name"] == f"{sa}-leader-election")
    assert leases["metadata"]["namespace"] == r.namespace
    assert rules_of(leases) == {("coordination.k8s.io", "leases"):
                                {"get", "list", "watch", "create", "update", "delete"}}


def fact_rbac_bindings(r: Rendered) -> None:
    sa = r.controller_sa()
    node_sa = r.one("DaemonSet")["spec"]["template"]["spec"]["serviceAccountName"]
    # The node's role and binding (node.remount.restartPods) are checked by fact_node_isolation.
    roles = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in
             r.all("Role") + r.all("ClusterRole") if o["metadata"]["name"] != node_sa}
    bound = set()
    for binding in r.all("RoleBinding") + r.all("ClusterRoleBinding"):
        if binding["metadata"]["name"] == node_sa:
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        assert (ref["kind"], ref["name"], namespace) in roles, f"{binding['metadata']['name']} binds a missing role"
        bound.add((ref["kind"], ref["name"], namespace))
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": r.namespace}]
    assert bound == roles, f"roles never bound: {roles - bound}"
    sidecar_roles = {n for k, n, _ in roles if k == "ClusterRole"} - {sa, node_sa}
    want = {f"{sa}-provisioner", f"{sa}-attacher", f"{sa}-resizer"}
    if r.values["sidecars"]["snapshotter"]["enabled"]:
        want.add(f"{sa}-snapshotter")
    assert sidecar_roles == want, sidecar_roles
    attacher = rules_of(next(o for o in r.all("ClusterRole") if o["metadata"]["name"] == f"{sa}-attacher"))
    assert attacher[("storage.k8s.io", "volumeattachments/status")] == {"patch"}


def fact_resources_and_probes(r: Rendered) -> None:
    for workload, pod, c in r.containers():
        where = f"{workload['kind']}/{c['name']}"
        resources = c.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where}: requests"
        assert "memory" in resources.get("limits", {}), f"{where}: memory limit"
        assert "livenessProbe" in c, f"{where}: no livenessProbe"
        if c["name"] in ("cstor-controller", "cstor-node"):
            assert "readinessProbe" in c, f"{where}: no readinessProbe"
        declared = {p["containerPort"] for other in pod["containers"] for p in other.get("ports", [])}
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = c.get(kind)
            if probe:
                handler = probe.get("httpGet") or probe.get("tcpSocket")
                assert handler, f"{where}: {kind} is neither httpGet nor tcpSocket"
                assert handler["port"] in declared, f"{where}: {kind} port {handler['port']} not declared"


def fact_ports_unique(r: Rendered) -> None:
    for workload, pod in r.pods():
        ports = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])]
        assert len(ports) == len(set(ports)), f"{workload['kind']}: ports {ports}"
        names = [p["name"] for c in pod["containers"] for p in c.get("ports", [])]
        assert len(names) == len(set(names)), f"{workload['kind']}: port names {names}"


def fact_controller(r: Rendered) -> None:
    deployment = r.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == r.values["controller"]["replicas"]
    controller = flags(r.container("Deployment", "cstor-controller"))
    assert controller["--engine"] == "cstor"
    assert controller["--namespace"] == r.values["openebsNamespace"]
    assert controller["--endpoint"] == "unix:///csi/csi.sock"
    assert volume(pod, "socket-dir") == {"name": "socket-dir", "emptyDir": {}}
    for c in pod["containers"]:
        assert {"name": "socket-dir", "mountPath": "/csi"} in c["volumeMounts"], f"{c['name']}: no /csi"
    sidecars = {c["name"]: flags(c) for c in pod["containers"] if c["name"].startswith("csi-")}
    want = {"csi-provisioner", "csi-attacher", "csi-resizer"}
    if r.values["sidecars"]["snapshotter"]["enabled"]:
        want.add("csi-snapshotter")
    assert set(sidecars) == want, set(sidecars)
    for name, args in sidecars.items():
        for flag in ["--leader-election", "--timeout", "--http-endpoint", "--kube-api-qps",
                     "--kube-api-burst", *SIDECAR_FLAGS[name]]:
            flag_name, _, value = flag.partition("=")
            assert flag_name in args, f"{name}: no {flag_name}"
            assert not value or args[flag_name] == value, f"{name}: {flag_name}={args[flag_name]}"
        assert args["--csi-address"] == "/csi/csi.sock"
        if name in SIDECAR_TIMEOUT_OF:
            own = int(controller[SIDECAR_TIMEOUT_OF[name]])
            assert seconds(args["--timeout"]) > own, f"{name} --timeout {args['--timeout']} <= controller's {own}s"
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    grace = r.values["shutdownGracePeriodSeconds"]
    for _, p in r.pods():
        assert p["terminationGracePeriodSeconds"] == grace + 5
    assert controller["--shutdown-grace-period"] == str(grace)


def fact_images_pinned(r: Rendered) -> None:
    for _, _, c in r.containers():
        image = c["image"]
        if "@sha256:" not in image:   # a digest pins by itself; otherwise a real tag
            tag = image.rpartition(":")[2]
            assert ":" in image and tag != "latest" and "/" not in tag, f"{c['name']}: image {image} is not pinned"
        assert c.get("imagePullPolicy"), f"{c['name']}: no imagePullPolicy"
    if r.name == "default":
        sidecars = r.values["sidecars"]
        for _, _, c in r.containers():
            if c["name"] in ("cstor-controller", "cstor-node"):
                assert c["image"].endswith(":" + helm.Chart.load(CHART).metadata["appVersion"]), c["image"]
            else:
                assert c["image"].startswith("registry.k8s.io/sig-storage/"), c["image"]
        tags = {k: v["image"]["tag"] for k, v in sidecars.items() if isinstance(v, dict) and "image" in v}
        assert all(re.fullmatch(r"v\d+\.\d+\.\d+", t) for t in tags.values()), tags


def fact_labels_and_namespaces(r: Rendered) -> None:
    for o in r.objects:
        labels = o["metadata"].get("labels", {})
        where = f"{o['kind']}/{o['metadata']['name']}"
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            assert key in labels, f"{where}: no label {key}"
        namespace = o["metadata"].get("namespace")
        if o["kind"] in CLUSTER_SCOPED:
            assert namespace is None, f"{where}: cluster-scoped object with a namespace"
        else:
            assert namespace in (r.namespace, r.values["openebsNamespace"]), f"{where}: namespace {namespace}"
    for workload, _ in r.pods():
        selector = workload["spec"]["selector"]["matchLabels"]
        template = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template.items(), f"{workload['kind']}: selector not in template labels"


def fact_optional_classes(r: Rendered) -> None:
    storage_classes, snapshot_classes = r.all("StorageClass"), r.all("VolumeSnapshotClass")
    sc, vsc = r.values["storageClass"], r.values["volumeSnapshotClass"]
    assert len(storage_classes) == int(sc["create"]) and len(snapshot_classes) == int(vsc["create"])
    for o in storage_classes:
        assert o["provisioner"] == DRIVER
        params = o["parameters"]
        assert params["cas-type"] == "cstor" and params["cstorPoolCluster"] == sc["cstorPoolCluster"]
        assert params["replicaCount"] == str(sc["replicaCount"])
        assert params["csi.storage.k8s.io/fstype"] == sc["fsType"]
        assert all(isinstance(v, str) for v in params.values()), "StorageClass parameters must be strings"
    for o in snapshot_classes:
        assert o["driver"] == DRIVER and o["deletionPolicy"] in ("Delete", "Retain")
        assert all(isinstance(v, str) for v in o.get("parameters", {}).values())
    pdbs = r.all("PodDisruptionBudget")
    want_pdb = r.values["controller"]["replicas"] > 1 and r.values["controller"]["podDisruptionBudget"]["enabled"]
    assert len(pdbs) == int(want_pdb), f"{len(pdbs)} PodDisruptionBudgets"


def fact_notes(r: Rendered) -> None:
    for needle in ("rollout status deployment/", "rollout status daemonset/", "get csinodes",
                   "attachRequired", r.values["openebsNamespace"]):
        assert needle in r.notes, f"NOTES.txt does not mention {needle!r}"
    # The test PVC it offers must be a valid object for this StorageClass.
    for text in re.findall(r"echo '(\{.*\})' \| kubectl create -f -", r.notes):
        claim = json.loads(text)
        assert claim["spec"]["storageClassName"] == r.values["storageClass"]["name"]
        assert not schema_errors(claim, KUBE_VERSIONS[0]), schema_errors(claim, KUBE_VERSIONS[0])
    assert ("kubectl create" in r.notes) == r.values["storageClass"]["create"]


FACTS: list[Callable[[Rendered], None]] = [
    fact_csidriver, fact_registration_paths, fact_kubelet_dir_everywhere, fact_mount_propagation,
    fact_iscsiadm_wrapper, fact_node_isolation, fact_rbac_no_wildcards, fact_rbac_controller,
    fact_rbac_bindings, fact_resources_and_probes, fact_ports_unique, fact_controller,
    fact_images_pinned, fact_labels_and_namespaces, fact_optional_classes, fact_notes,
]

# Values that must not render: (name, values, text the error must contain). The first ones break
# values.schema.json, which `helm lint` reports too; the last ones break the chart's consistency
# rules (templates/_helpers.tpl, cstor-csi.validate), which only rendering enforces: Helm's lint
# mode turns `fail` into a log line.
SCHEMA_REJECTED: list[tuple[str, dict, str]] = [
    ("wrong type", {"controller": {"replicas": "two"}}, "/controller/replicas"),
    ("unknown key", {"controler": {"replicas": 2}}, "controler"),
    ("relative kubeletDir", {"kubeletDir": "var/lib/kubelet"}, "/kubeletDir"),
    ("unknown log level", {"logLevel": "verbose"}, "/logLevel"),
    ("bad pull policy", {"node": {"image": {"pullPolicy": "Sometimes"}}}, "/node/image/pullPolicy"),
    ("non-string extra arg", {"sidecars": {"provisioner": {"extraArgs": [42]}}}, "/sidecars/provisioner/extraArgs"),
    ("unpinned sidecar", {"sidecars": {"attacher": {"image": {"tag": ""}}}}, "/sidecars/attacher/image/tag"),
    ("unknown fsType", {"storageClass": {"fsType": "btrfs"}}, "/storageClass/fsType"),
    ("kubeletDir with an empty component", {"kubeletDir": "/var/lib//kubelet"}, "/kubeletDir"),
    ("remount as a boolean", {"node": {"remount": False}}, "/node/remount"),
]
TEMPLATE_REJECTED: list[tuple[str, dict, str]] = [
    ("sidecar timeout below the controller's", {"controller": {"provisionTimeoutSeconds": 150}},
     "must be less than sidecars.provisioner.timeoutSeconds"),
    ("storage class without pool", {"storageClass": {"create": True}}, "storageClass.cstorPoolCluster is required"),
    ("node port clash", {"node": {"registrarHTTPPort": 9830}}, "node pod's ports must differ"),
    ("pod restart without the monitor", {"node": {"remount": {"enabled": False, "restartPods": True}}},
     "node.remount.restartPods needs node.remount.enabled"),
]


# ---------------------------------------------------------------------------------------------


def rbac_rendering(manifest: str) -> str:
    """The RBAC documents of a rendered manifest, verbatim (comments included), under a header."""
    kept = []
    for document in re.split(r"^---\n", manifest, flags=re.MULTILINE):
        parsed = yaml.safe_load(document)
        if parsed and parsed.get("kind") in RBAC_KINDS:
            kept.append(document.rstrip("\n") + "\n")
    header = ("# The RBAC objects of charts/cstor-csi rendered with its default values (release cstor-csi,\n"
              "# namespace openebs). Generated: scripts/check-chart --update-rbac; scripts/check-chart fails\n"
              "# when a fresh render differs. The test API server authorizes requests against these.\n")
    return header + "".join("---\n" + d for d in kept)


# What node.remount.restartPods adds to the RBAC (the node's ClusterRole and its binding), rendered
# like RBAC_RENDERING: the test API server adds it for the node's eviction tests.
RESTART_PODS_RBAC = ROOT / "deploy" / "rbac" / "cstor-csi-restart-pods.yaml"


def check_restart_pods_rbac(default_manifest: str, update: bool) -> None:
    values = {"node": {"remount": {"enabled": True, "restartPods": True}}}
    manifest, _ = render(values, "openebs")
    before = set(re.split(r"^---\n", rbac_rendering(default_manifest), flags=re.MULTILINE))
    added = [d for d in re.split(r"^---\n", rbac_rendering(manifest), flags=re.MULTILINE)[1:] if d not in before]
    assert added, "node.remount.restartPods adds no RBAC"
    header = ("# The RBAC objects that node.remount.restartPods adds to deploy/rbac/cstor-csi.yaml (release\n"
              "# cstor-csi, namespace openebs). Generated: scripts/check-chart --update-rbac; scripts/check-chart\n"
              "# fails when a fresh render differs. The test API server adds them for the pod restart tests.\n")
    fresh = header + "".join("---\n" + d for d in added)
    if update:
        RESTART_PODS_RBAC.write_text(fresh)
    committed = RESTART_PODS_RBAC.read_text() if RESTART_PODS_RBAC.is_file() else ""
    assert committed == fresh, (f"{RESTART_PODS_RBAC.relative_to(ROOT)} differs from a fresh render: run "
                                "scripts/check-chart --update-rbac and commit it")


def check_rbac_rendering(manifest: str, update: bool) -> None:
    fresh = rbac_rendering(manifest)
    if update:
        RBAC_RENDERING.parent.mkdir(parents=True, exist_ok=True)
        RBAC_RENDERING.write_text(fresh)
    committed = RBAC_RENDERING.read_text() if RBAC_RENDERING.is_file() else ""
    assert committed == fresh, (f"{RBAC_RENDERING.relative_to(ROOT)} differs from a fresh render of the "
                                "chart's RBAC: run scripts/check-chart --update-rbac and commit it")


# The cstor-operators 3.6 chart as an operator has it installed (release cstor, namespace openebs),
# and the post-renderer that takes its CSI driver out of it (docs/install.md, "Switching").
UPSTREAM_RENDERED = ROOT / "Tests" / "KubernetesTests" / "Fixtures" / "upstream-3.6" / "cstor-operators-chart-rendered.yaml"
POST_RENDERER = ROOT / "scripts" / "drop-upstream-csi"
# What the chart keeps once its CSI driver is out: the operators, the admission server, their RBAC.
UPSTREAM_KEPT = {
    ("ServiceAccount", "openebs-cstor-operator"), ("ClusterRole", "openebs-cstor-operator"),
    ("ClusterRole", "openebs-cstor-migration"), ("ClusterRoleBinding", "openebs-cstor-operator"),
    ("ClusterRoleBinding", "openebs-cstor-migration"), ("Service", "cstor-cvc-operator-svc"),
    ("Deployment", "cstor-admission-server"), ("Deployment", "cstor-cspc-operator"), ("Deployment", "cstor-cvc-operator"),
}


def post_render(text: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(POST_RENDERER)], input=text, capture_output=True, text=True, timeout=30)


def documents_of(stream: str) -> list[str]:
    """The documents of a helm manifest stream, each with its `---` line and `# Source:` header."""
    return ["---" + part for part in re.split(r"(?m)^---", stream) if part.strip()]


def check_post_renderer(text: str) -> None:
    """The post-renderer keeps exactly the operators, byte for byte, and drops every CSI object."""
    result = post_render(text)
    assert result.returncode == 0, result.stderr
    kept = documents_of(result.stdout)
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == UPSTREAM_KEPT, objects
    assert set(kept) <= set(documents_of(text)), "a kept document was changed"
    for o in objects:
        labels = o["metadata"].get("labels") or {}
        assert "csi" not in labels.get("openebs.io/component-name", ""), o["metadata"]["name"]
        assert o["kind"] not in {"CSIDriver", "StatefulSet", "DaemonSet", "PriorityClass"}, o["kind"]
    dropped = [line for line in result.stderr.splitlines() if line.startswith("drop-upstream-csi: dropped ")]
    assert len(dropped) == len(documents_of(text)) - len(kept) == 18, result.stderr
    for name in ["StatefulSet cstor-csi-controller", "DaemonSet cstor-csi-node", "CSIDriver cstor.csi.openebs.io"]:
        assert any(name in line for line in dropped), f"{name} was not dropped"


def check_post_renderer_refusals(text: str) -> None:
    """Input that is not the cstor chart, or where an old CSI object would slip through, is refused."""
    kept = post_render(text).stdout
    refused = post_render(kept)
    assert refused.returncode != 0 and refused.stdout == "", "output without CSI templates was passed on"
    assert "no document of the cstor chart's CSI templates" in refused.stderr, refused.stderr
    # The CSIDriver moved to a template of another name: it must not pass.
    renamed = text.replace("# Source: cstor/templates/csi-driver.yaml", "# Source: cstor/templates/driver.yaml")
    slipped = post_render(renamed)
    assert slipped.returncode != 0 and slipped.stdout == "", "a CSIDriver of the old driver survived"
    assert "CSIDriver cstor.csi.openebs.io" in slipped.stderr, slipped.stderr


def check_no_clash_with_ours(theirs: str, ours: list[dict]) -> None:
    """What the cstor chart keeps and what our chart installs never name the same object."""
    kept = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(post_render(theirs).stdout) if o}
    mine = {(o["kind"], o["metadata"]["name"]) for o in ours}
    assert not kept & mine, kept & mine


class Report:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, name: str, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except AssertionError as error:
            # A bare assert has no message: show its source line.
            self.fail(name, str(error) or traceback.extract_tb(error.__traceback__)[-1].line)
            return None
        except Exception as error:  # a crash is a failure of that check, not of the run
            self.fail(name, f"{type(error).__name__}: {error}")
            return None
        self.passed += 1
        print(f"ok    {name}")
        return result

    def fail(self, name: str, message: str) -> None:
        self.failed += 1
        print(f"FAIL  {name}: {message}")


def expect_rejected(values: dict, needle: str, namespace: str, by_lint: bool) -> None:
    try:
        render(values, namespace)
    except helm.HelmError as error:
        assert needle in str(error), f"rendering failed, but not for this reason: {error}"
    else:
        raise AssertionError("rendered although the values are invalid")
    if by_lint:
        problems = lint_problems(values, KUBE_VERSIONS[-1], namespace)
        assert any(needle in p for p in problems), f"helm lint --strict did not report it: {problems}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the rendered manifests")
    parser.add_argument("--update-rbac", action="store_true",
                        help=f"write {RBAC_RENDERING.relative_to(ROOT)} from a fresh render first")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    helm.disable_logging()
    report = Report()
    lint_config = YamlLintConfig(file=str(HERE / "yamllint.yaml"))

    cases = [("default", {}, "openebs"),
             ("all-options", yaml.safe_load((CHART / "ci" / "all-options-values.yaml").read_text()), "storage"),
             ("remount off", {"node": {"remount": {"enabled": False}}}, "openebs")]
    for case, values, namespace in cases:
        for version in KUBE_VERSIONS:
            report.check(f"{case}: helm lint --strict (Kubernetes {version})",
                         lambda: _assert_empty(lint_problems(values, version, namespace)))
        rendered = report.check(f"{case}: helm template", lambda: Rendered(
            case, *render(values, namespace), chart_values(values), namespace))
        if rendered is None:
            continue
        path = args.out / f"{case}.yaml"
        path.write_text(rendered.manifest)
        print(f"      {len(rendered.objects)} objects -> {path}")
        for version in KUBE_VERSIONS:
            report.check(f"{case}: Kubernetes {version} schemas", lambda: _assert_empty(
                [f"{o['kind']}/{o['metadata']['name']}: {e}" for o in rendered.objects
                 for e in schema_errors(o, version)]))
        # Helm closes its manifest with an empty line of its own; the templates' output is linted.
        report.check(f"{case}: yamllint", lambda: _assert_empty(
            [f"{path.name}:{p.line}:{p.column}: {p.desc}" for p in
             linter.run(rendered.manifest.rstrip("\n") + "\n", lint_config)]))
        for fact in FACTS:
            report.check(f"{case}: {fact.__name__.removeprefix('fact_').replace('_', ' ')}",
                         functools.partial(fact, rendered))
        if case == "default":
            report.check(f"default: {RBAC_RENDERING.relative_to(ROOT)} is the chart's RBAC as rendered",
                         lambda: check_rbac_rendering(rendered.manifest, args.update_rbac))
            report.check(f"restartPods: {RESTART_PODS_RBAC.relative_to(ROOT)} is what the option adds to the RBAC",
                         lambda: check_restart_pods_rbac(rendered.manifest, args.update_rbac))
            upstream = UPSTREAM_RENDERED.read_text()
            report.check("cstor-operators 3.6 chart: scripts/drop-upstream-csi keeps the operators, drops its CSI driver",
                         lambda: check_post_renderer(upstream))
            # The same chart as a subchart of the openebs chart (release openebs): other paths.
            umbrella = upstream.replace("# Source: cstor/", "# Source: openebs/charts/cstor/")
            report.check("openebs chart's cstor subchart: scripts/drop-upstream-csi does the same",
                         lambda: check_post_renderer(umbrella))
            report.check("scripts/drop-upstream-csi refuses what is not the cstor chart, and lets no CSIDriver through",
                         lambda: check_post_renderer_refusals(upstream))
            report.check("cstor-operators 3.6 chart without its CSI driver and this chart name no object twice",
                         lambda: check_no_clash_with_ours(upstream, rendered.objects))

    for name, values, needle in SCHEMA_REJECTED:
        report.check(f"rejected by the values schema: {name}",
                     functools.partial(expect_rejected, values, needle, "openebs", True))
    for name, values, needle in TEMPLATE_REJECTED:
        report.check(f"rejected by the chart: {name}",
                     functools.partial(expect_rejected, values, needle, "openebs", False))

    report.check("chart appVersion is the binaries' version (Sources/CStorCore/BuildInfo.swift)",
                 check_app_version)

    # The validator itself must catch what it claims to: a removed API and a misspelt field.
    removed = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}}
    misspelt = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": "x"},
                "spec": {"attachRequired": True, "fsGroupPolicy": "Sometimes", "podInfoOnMnt": False}}
    report.check("validator: rejects a removed API", lambda: _assert_nonempty(schema_errors(removed, "1.29")))
    report.check("validator: rejects unknown fields and enum values", lambda: _assert_count(
        schema_errors(misspelt, "1.34"), 2))

    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


def check_app_version() -> None:
    source = (ROOT / "Sources" / "CStorCore" / "BuildInfo.swift").read_text()
    version = re.search(r'static let version = "([^"]+)"', source).group(1)
    app_version = helm.Chart.load(CHART).metadata["appVersion"]
    assert app_version == version, f"Chart.yaml appVersion {app_version}, BuildInfo.version {version}"


def _assert_empty(problems: list[str]) -> None:
    assert not problems, "\n      ".join([""] + problems)


def _assert_nonempty(problems: list[str]) -> None:
    assert problems, "no error reported"


def _assert_count(problems: list[str], count: int) -> None:
    assert len(problems) == count, f"{len(problems)} errors, want {count}: {problems}"


if __name__ == "__main__":
    sys.exit(main())
