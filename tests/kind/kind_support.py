"""Helpers of the kind suite: the cluster of hack/kind/up.sh, the image, the chart installed.

- :func:`kind_cluster_up`: runs hack/kind/up.sh (which reuses a cluster that exists) and returns
  its kubeconfig; a failure names the script's last output.
- :func:`scheduler_image`: ``make image``'s image, loaded into the control-plane node only (the
  scheduler runs there, and each image loaded costs space on every node it is loaded into).
- :class:`Installed`: ``helm install`` of the chart with the scheduler pinned to the control
  plane, so that the workers' allocatable stays whole for the workloads and the placements are
  the ones ``cloudedge simulate`` computes for the workers alone.
- :func:`simulated_placements`: ``cloudedge simulate`` on the live nodes and a workload file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import HACK_DIR, REPO_ROOT, Cluster, wait_until
from deploy_support import CHART, helm
from kubernetes.client import CoordinationV1Api

from cloudedge import simulate

KIND_UP_TIMEOUT_S = 3600.0  # a cold machine builds the node images first (README: CI time)
IMAGE_TIMEOUT_S = 1800.0
KIND_CLUSTER_NAME = os.environ.get("KIND_CLUSTER_NAME", "cloudedge")
CONTROL_PLANE_NODE = f"{KIND_CLUSTER_NAME}-control-plane"
# The node label and taint kubeadm puts on the control plane.
ON_CONTROL_PLANE: dict[str, Any] = {
    "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
    "tolerations": [
        {
            "key": "node-role.kubernetes.io/control-plane",
            "operator": "Exists",
            "effect": "NoSchedule",
        }
    ],
}


def cache_dir() -> Path:
    return Path(os.environ.get("CACHE_DIR") or Path.home() / ".cache" / "cloudedge")


def run_script(args: list[str], *, timeout: float, what: str) -> str:
    """Run one of the hack/ scripts; its stdout, or a test failure with its output's tail."""
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO_ROOT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what}: did not finish in {exc.timeout:.0f}s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{what}: {args[0]} exited {proc.returncode}:\n{proc.stderr[-4000:]}", pytrace=False
        )
    print(proc.stderr[-3000:])  # the progress lines, in the test log (CI shows node names)
    return proc.stdout


def kind_cluster_up() -> Path:
    """The kind cluster's kubeconfig, after hack/kind/up.sh made (or found) it."""
    out = run_script(
        [str(HACK_DIR / "kind" / "up.sh")], timeout=KIND_UP_TIMEOUT_S, what="no kind cluster"
    )
    match = re.search(r"^export KUBECONFIG=(.+)$", out, re.MULTILINE)
    if not match:
        pytest.fail(f"hack/kind/up.sh printed no KUBECONFIG: {out!r}", pytrace=False)
    return Path(match.group(1))


def scheduler_image() -> str:
    """The image of ``make image`` (or ``KIND_E2E_IMAGE``, already built), loaded into the
    control-plane node."""
    image = os.environ.get("KIND_E2E_IMAGE", "")
    if not image:
        python = REPO_ROOT / ".venv" / "bin" / "python"
        if python.exists():
            os.environ["PYTHON"] = str(python)
        image = run_script(
            [str(HACK_DIR / "build-image.sh")], timeout=IMAGE_TIMEOUT_S, what="make image"
        ).strip()
    run_script(
        [str(HACK_DIR / "kind" / "load-image.sh"), image, "--nodes", CONTROL_PLANE_NODE],
        timeout=600,
        what="kind load docker-image",
    )
    return image


def restricted_namespace(kube: Cluster, test_name: str) -> str:
    """A new namespace that enforces the restricted Pod Security Standard."""
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")
    name = f"kind-{slug[:40].rstrip('-')}-{secrets.token_hex(3)}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl(
        "label",
        "namespace",
        name,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
        "cloudedge.io/kind-e2e=true",
    )
    wait_until(
        f"ServiceAccount default in {name}",
        lambda: kube.core.read_namespaced_service_account("default", name),
        timeout=60,
    )
    return name


@dataclass(frozen=True)
class Installed:
    """A release of the chart in a namespace of the kind cluster."""

    name: str
    namespace: str

    @property
    def fullname(self) -> str:
        return f"{self.name}-cloud-edge-scheduler"

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=operator"


def chart_values(image: str, **overrides: Any) -> dict[str, Any]:
    repository, _, tag = image.rpartition(":")
    values: dict[str, Any] = {
        # Never pulled: `kind load` put it on the control plane, and nothing can be pulled here.
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        **ON_CONTROL_PLANE,
    }
    values.update(overrides)
    return values


@contextlib.contextmanager
def installed(kube: Cluster, namespace: str, image: str, **overrides: Any) -> Iterator[Installed]:
    """``helm install`` of the chart, waited for; uninstalled (and waited for) afterwards."""
    name = f"ces{secrets.token_hex(3)}"
    values = chart_values(image, **overrides)
    helm(
        kube,
        "install",
        name,
        str(CHART),
        "--namespace",
        namespace,
        "--wait",
        "--timeout",
        "240s",
        values=values,
    )
    try:
        yield Installed(name, namespace)
    finally:
        helm(kube, "uninstall", name, "--namespace", namespace, "--wait", "--timeout", "120s")


def upgrade(kube: Cluster, release: Installed, image: str, **overrides: Any) -> None:
    helm(
        kube,
        "upgrade",
        release.name,
        str(CHART),
        "--namespace",
        release.namespace,
        "--wait",
        "--timeout",
        "240s",
        values=chart_values(image, **overrides),
    )


def worker_nodes_file(kube: Cluster, path: Path) -> Path:
    """The live worker nodes as v1 Node documents, as ``cloudedge simulate`` reads them."""
    nodes = json.loads(kube.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    docs = [
        {"apiVersion": "v1", "kind": "Node", **{k: n[k] for k in ("metadata", "spec", "status")}}
        for n in nodes
        if "cloudedge.io/tier" in n["metadata"].get("labels", {})
    ]
    path.write_text(yaml.safe_dump_all(docs))
    return path


def simulated_placements(nodes: Path, workloads: Path) -> dict[str, str | None]:
    """Pod name -> node that ``cloudedge simulate`` (greedy score, document order) picks."""
    sim = simulate.build([nodes, workloads])
    report = simulate.report(sim, simulate.run(sim, strategy="score"))
    return {p["pod"].split("/", 1)[1]: p["node"] for p in report["placements"]}


def bound_pods(kube: Cluster, namespace: str) -> dict[str, str | None]:
    return {p.metadata.name: p.spec.node_name for p in kube.pods(namespace)}


def running(kube: Cluster, namespace: str, names: set[str]) -> bool:
    phases = {p.metadata.name: p.status.phase for p in kube.pods(namespace)}
    return all(phases.get(n) == "Running" for n in names)


def scheduled_events(kube: Cluster, namespace: str) -> dict[str, int]:
    """Pod name -> number of `Scheduled` events the scheduler wrote for it."""
    counts: dict[str, int] = {}
    for ev in kube.core.list_namespaced_event(namespace).items:
        name = ev.involved_object.name
        if ev.reason == "Scheduled" and ev.involved_object.kind == "Pod" and name:
            counts[name] = counts.get(name, 0) + (ev.count or 1)
    return counts


def lease(kube: Cluster, release: Installed) -> Any | None:
    """The operator's Lease (V1Lease), or None when there is none."""
    api = CoordinationV1Api(kube.api_client)
    for item in api.list_namespaced_lease(release.namespace).items:
        if item.metadata and item.metadata.name == release.fullname:
            return item
    return None


def lease_holder(kube: Cluster, release: Installed) -> str | None:
    """The holder of the operator's Lease; None without a Lease or a holder."""
    item = lease(kube, release)
    if item is None or not item.spec.holder_identity:
        return None
    return str(item.spec.holder_identity)


def pod_manifest(name: str, *, scheduler: str, cpu: str = "100m") -> dict[str, Any]:
    """A pod that passes the restricted Pod Security Standard and runs pause."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "schedulerName": scheduler,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def apply_docs(kube: Cluster, namespace: str, docs: list[Mapping[str, Any]]) -> None:
    kube.apply(yaml.safe_dump_all([dict(d) for d in docs]), namespace=namespace)
