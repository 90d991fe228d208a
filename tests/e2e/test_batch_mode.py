"""Live batch mode on the real control plane: the binder places a burst of pods together, and
lands each exactly where ``cloudedge simulate --strategy batch`` puts it for the same YAML in
the same arrival order.

The operator runs with ``--placement batch`` and a window long enough to gather the whole
burst into one batch, so the live solve and the simulation see the same batch on the same
cluster (the cluster's other nodes are cordoned, as in test_operator.py). At these sizes the
solver proves its answer well within its budget, so the time it is given does not change it.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import REPO_ROOT, Cluster, kwok_node, node_ready, wait_until
from kubernetes.utils import parse_quantity
from operator_support import OperatorProcess, pod_requests_by_node

from cloudedge import simulate

SEED = REPO_ROOT / "examples" / "seed"
BATCH_ARGS = ("--placement", "batch", "--batch-window", "8", "--batch-max", "500")
"""A window longer than ``kubectl apply`` takes to create the burst: one batch."""
TIER = "cloudedge.io/tier"
NODES, PODS = 12, 40


@pytest.fixture
def batch_operator(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        kube.kubeconfig, lease_name=f"e2e-{secrets.token_hex(4)}", extra_args=BATCH_ARGS
    )
    proc.start()
    yield proc
    proc.close()


@contextlib.contextmanager
def only_these_nodes(kube: Cluster, operator: OperatorProcess, path: Path) -> Iterator[list[str]]:
    """The nodes of ``path`` applied and seen by the operator, every other node cordoned; all
    undone afterwards."""
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(path.read_text()) if d]
    others = [n.metadata.name for n in kube.core.list_node().items if n.metadata.name not in names]
    for n in others:
        kube.kubectl("cordon", n)
    try:
        kube.kubectl("apply", "-f", str(path))
        wait_until(
            "the test's nodes Ready", lambda: all(node_ready(kube, n) for n in names), timeout=60
        )
        tiers = [(n.metadata.labels or {}).get(TIER) for n in kube.core.list_node().items]
        wait_until(
            "the operator to see every node",
            lambda: all(
                operator.sample("cloudedge_nodes", tier=t) == tiers.count(t)
                for t in ("cloud", "edge")
            ),
            timeout=30,
        )
        yield names
    finally:
        for n in names:
            kube.kubectl("delete", "node", n, "--ignore-not-found", "--wait=false")
        for n in others:
            kube.kubectl("uncordon", n)


def cluster_topology(kube: Cluster, tmp_path: Path) -> list[Path]:
    """The cluster's NetworkTopology objects as a file, so simulate sees what the binder sees."""
    items = json.loads(kube.kubectl("get", "networktopologies.cloudedge.io", "-o", "json").stdout)
    if not items.get("items"):
        return []
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump_all(items["items"]))
    return [path]


def predicted(files: list[Path], strategy: str) -> dict[str, str | None]:
    sim = simulate.build(files)
    report = simulate.report(sim, simulate.run(sim, strategy=strategy))
    return {p["pod"].split("/", 1)[1]: p["node"] for p in report["placements"]}


def generated_burst(tmp_path: Path, *, nodes: int, pods: int, seed: int) -> tuple[Path, Path]:
    """A cloud/edge cluster and a burst of mixed pods that overfills its edge: cameras bound
    to their data's edge node by a deadline, analytics with data at the edge and no deadline,
    and cloud-friendly batch work. Deterministic in ``seed``."""
    rng = random.Random(seed)
    node_docs: list[dict[str, Any]] = []
    for k in range(nodes):
        cloud = k < max(nodes // 4, 1)
        name = f"b{'c' if cloud else 'e'}-{k:02d}"
        cpu = rng.choice(["4", "8"]) if cloud else rng.choice(["1", "2"])
        labels = {
            "cloudedge.io/tier": "cloud" if cloud else "edge",
            "cloudedge.io/bandwidth-mbps": "1000" if cloud else "100",
        }
        allocatable = {"cpu": cpu, "memory": "16Gi", "pods": "110"}
        taints = [{"key": "kwok.x-k8s.io/node", "effect": "NoSchedule"}]
        node_docs.append(kwok_node(name, labels=labels, allocatable=allocatable, taints=taints))
    node_docs.sort(key=lambda d: d["metadata"]["name"])  # the view's order, by name
    edges = [d["metadata"]["name"] for d in node_docs if d["metadata"]["name"].startswith("be")]
    pod_docs: list[dict[str, Any]] = []
    for k in range(pods):
        kind = rng.choice(["camera", "analytics", "batch"])
        source = rng.choice(edges)
        annotations = {
            "camera": {
                "cloudedge.io/workload": "latency-sensitive",
                "cloudedge.io/data-source": source,
                "cloudedge.io/data-size-mb": "20",
                "cloudedge.io/compute-cost": "50",
                "cloudedge.io/max-latency-ms": "400",
            },
            "analytics": {
                "cloudedge.io/workload": "data-intensive",
                "cloudedge.io/data-source": source,
                "cloudedge.io/data-size-mb": "50",
                "cloudedge.io/compute-cost": "200",
            },
            "batch": {
                "cloudedge.io/workload": "compute-intensive",
                "cloudedge.io/compute-cost": "2000",
            },
        }[kind]
        cpu = {"camera": "500m", "analytics": "500m", "batch": rng.choice(["1", "2"])}[kind]
        pod_docs.append(kwok_pod(f"{kind}-{k:03d}", cpu, annotations))
    nodes_path, pods_path = tmp_path / "nodes.yaml", tmp_path / "pods.yaml"
    nodes_path.write_text(yaml.safe_dump_all(node_docs))
    pods_path.write_text(yaml.safe_dump_all(pod_docs))
    return nodes_path, pods_path


def bind_burst(kube: Cluster, namespace: str, pods: Path, count: int) -> dict[str, str | None]:
    """Create the burst in document order and wait until each of its ``count`` pods is bound
    or marked unschedulable; return where each is."""
    kube.kubectl("apply", "-n", namespace, "-f", str(pods))

    def decided() -> dict[str, str | None] | None:
        now: dict[str, str | None] = {}
        for pod in kube.pods(namespace):
            refused = any(
                c.type == "PodScheduled" and c.status == "False"
                for c in (pod.status.conditions or [])
            )
            if not pod.spec.node_name and not refused:
                return None
            now[pod.metadata.name] = pod.spec.node_name
        return now if len(now) == count else None

    return wait_until("every pod of the burst bound or refused", decided, timeout=90)


def assert_no_overcommit(kube: Cluster) -> None:
    used = pod_requests_by_node(kube.core.list_pod_for_all_namespaces().items)
    cap = {
        n.metadata.name: float(parse_quantity(n.status.allocatable["cpu"])) * 1000
        for n in kube.core.list_node().items
    }
    over = {n: (u, cap.get(n)) for n, u in used.items() if n in cap and u > cap[n] + 1e-6}
    assert not over, f"nodes over allocatable cpu (used, allocatable): {over}"


def test_the_seed_burst_binds_as_simulate_strategy_batch_predicts(
    kube: Cluster, batch_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes = SEED / "nodes.yaml"
    with only_these_nodes(kube, batch_operator, nodes):
        files = [nodes, SEED / "workloads.yaml", *cluster_topology(kube, tmp_path)]
        batch = predicted(files, "batch")
        # Greedy strands a pod here that the joint placement fits: were the binder placing
        # greedily, this test would see it.
        assert count(batch) > count(predicted(files, "score"))
        actual = bind_burst(kube, namespace, SEED / "workloads.yaml", len(batch))
        assert actual == batch
        assert_no_overcommit(kube)
    assert batches_larger_than(batch_operator, 5) == 1  # the whole burst in one batch


def test_a_generated_burst_binds_as_simulate_strategy_batch_predicts(
    kube: Cluster, batch_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    nodes, pods = generated_burst(tmp_path, nodes=NODES, pods=PODS, seed=7)
    with only_these_nodes(kube, batch_operator, nodes):
        batch = predicted([nodes, pods, *cluster_topology(kube, tmp_path)], "batch")
        assert 0 < count(batch) < len(batch), "the burst must overfill the cluster"
        actual = bind_burst(kube, namespace, pods, len(batch))
        assert actual == batch
        assert_no_overcommit(kube)
    assert batches_larger_than(batch_operator, 20) == 1  # the whole burst in one batch


def batches_larger_than(operator: OperatorProcess, size: int) -> float:
    """How many batches had more than ``size`` pods (the pods left out are retried later, in
    batches of their own)."""
    total = operator.sample("cloudedge_batch_size_pods_count")
    return total - operator.sample("cloudedge_batch_size_pods_bucket", le=f"{float(size)}")


def count(placements: dict[str, str | None]) -> int:
    return sum(1 for node in placements.values() if node)


@pytest.fixture
def urgent_class(kube: Cluster) -> Iterator[str]:
    """A PriorityClass of value 1000 for the test's pods, deleted afterwards."""
    name = f"e2e-urgent-{secrets.token_hex(3)}"
    kube.apply(
        yaml.safe_dump(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": URGENT,
                "description": "e2e: a pod the batch must not leave pending",
            }
        )
    )
    yield name
    kube.kubectl("delete", "priorityclass", name, "--ignore-not-found", "--wait=false")


URGENT = 1000


def test_the_batch_places_a_higher_priority_pod_it_would_otherwise_leave_pending(
    kube: Cluster,
    batch_operator: OperatorProcess,
    namespace: str,
    urgent_class: str,
    tmp_path: Path,
) -> None:
    """The seed's batch places 9 of its 10 pods; the one it leaves pending, given a higher
    priority (through a PriorityClass, as users do), runs, and the live binder lands every
    pod where ``simulate --strategy batch`` puts the same YAML."""
    nodes = SEED / "nodes.yaml"
    with only_these_nodes(kube, batch_operator, nodes):
        topology = cluster_topology(kube, tmp_path)
        plain = predicted([nodes, SEED / "workloads.yaml", *topology], "batch")
        waiting = [name for name, node in plain.items() if node is None]
        assert len(waiting) == 1
        docs = [d for d in yaml.safe_load_all((SEED / "workloads.yaml").read_text()) if d]
        for doc in docs:
            if doc["metadata"]["name"] == waiting[0]:
                # The API server sets spec.priority from the class; simulate reads the spec.
                doc["spec"]["priorityClassName"] = urgent_class
                doc["spec"]["priority"] = URGENT
        pods = tmp_path / "workloads.yaml"
        pods.write_text(yaml.safe_dump_all(docs))
        batch = predicted([nodes, pods, *topology], "batch")
        assert batch[waiting[0]] is not None
        assert count(batch) == count(plain)
        actual = bind_burst(kube, namespace, pods, len(batch))
        assert actual == batch
        bound = kube.core.read_namespaced_pod(waiting[0], namespace)
        assert bound.spec.priority == URGENT
        assert_no_overcommit(kube)
    assert batches_larger_than(batch_operator, 5) == 1


def kwok_pod(name: str, cpu: str, annotations: dict[str, str]) -> dict[str, Any]:
    """A pod of ours requesting ``cpu`` (and 64Mi), kwok's taint tolerated."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "schedulerName": "cloud-edge-scheduler",
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                }
            ],
        },
    }


def lone_pod(name: str, cpu: str, compute_cost: str) -> dict[str, Any]:
    """A pod of the one-node contest below."""
    return kwok_pod(name, cpu, {"cloudedge.io/compute-cost": compute_cost})


def refused(kube: Cluster, namespace: str, name: str) -> bool:
    pod = kube.core.read_namespaced_pod(name, namespace)
    return any(
        c.type == "PodScheduled" and c.status == "False" for c in (pod.status.conditions or [])
    )


def node_of(kube: Cluster, namespace: str, name: str) -> str | None:
    node: str | None = kube.core.read_namespaced_pod(name, namespace).spec.node_name
    return node


def test_a_pod_a_batch_left_pending_is_not_left_pending_again_for_newer_pods(
    kube: Cluster, batch_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """One 1-CPU node. A whole-node pod waits while another holds the node; when that one
    goes, two new half-node pods arrive in the same batch. Counting first would run the two
    new pods and leave the old one pending again (and again, under a steady stream of small
    pods); the binder runs the one that waited, as kube-scheduler's queue would."""
    taint = {"key": "kwok.x-k8s.io/node", "effect": "NoSchedule"}
    labels = {"cloudedge.io/tier": "edge", "cloudedge.io/bandwidth-mbps": "100"}
    allocatable = {"cpu": "1", "memory": "4Gi", "pods": "110"}
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        yaml.safe_dump(kwok_node("aged-1", labels=labels, allocatable=allocatable, taints=[taint]))
    )
    with only_these_nodes(kube, batch_operator, nodes):
        kube.apply(yaml.safe_dump(lone_pod("holder", "1", "10")), namespace)
        wait_until("holder bound", lambda: node_of(kube, namespace, "holder"), timeout=30)
        kube.apply(yaml.safe_dump(lone_pod("old", "1", "5000")), namespace)
        wait_until("old refused", lambda: refused(kube, namespace, "old"), timeout=30)
        kube.kubectl("delete", "pod", "holder", "-n", namespace, "--grace-period=0", "--force")
        new = [lone_pod(f"new-{k}", "500m", "10") for k in range(2)]
        kube.apply(yaml.safe_dump_all(new), namespace)
        wait_until("old bound", lambda: node_of(kube, namespace, "old"), timeout=60)
        assert node_of(kube, namespace, "old") == "aged-1"
        assert [node_of(kube, namespace, f"new-{k}") for k in range(2)] == [None, None]
        assert_no_overcommit(kube)
