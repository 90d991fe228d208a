"""kube-scheduler with the extender, on the real control plane: placements as simulated,
errors shown to the user, and ``ignorable`` true and false when the extender is down.

Every test gets four fresh kwok nodes (one cloud, three edge) carrying a label and a NoSchedule
taint of their own; its pods select and tolerate exactly those, so nothing else lands there and
``cloudedge simulate`` on the same nodes and pods sees what the extender sees. The pods pick their
kube-scheduler by ``schedulerName``: the cluster's (no extender) or one of two kube-schedulers
started here from manifests/scheduler-config (ignorable and strict), both calling one
``cloudedge run --mode extender``.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import Cluster, WaitTimeoutError, kwok_node, wait_until
from kube_scheduler_support import KubeSchedulerProcess, scheduler_config
from kubernetes.client import ApiException
from operator_support import OperatorProcess, wait_seconds

from cloudedge import simulate

E2E_LABEL = "cloudedge.io/e2e-extender"
BOUND_TIMEOUT_S = 60.0
# kube-scheduler retries a pod that failed on an error after its backoff (at most 10 s by
# default); a minute covers a few rounds on a loaded machine.
RECOVERY_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def extender_proc(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(
        kube.kubeconfig, lease_name=f"e2e-ext-{secrets.token_hex(4)}", mode="extender"
    )
    proc.start()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def schedulers(kube: Cluster, extender_proc: OperatorProcess) -> Iterator[dict[str, str]]:
    """schedulerName of each variant: ``ignorable``, ``strict``, and ``none`` (the cluster's)."""
    token = secrets.token_hex(3)
    names = {"ignorable": f"ext-ignorable-{token}", "strict": f"ext-strict-{token}"}
    procs = []
    try:
        for variant, name in names.items():
            config = scheduler_config(
                variant,
                scheduler_name=name,
                extender_port=extender_proc.extender_port,
                kubeconfig=kube.kubeconfig,
            )
            procs.append(KubeSchedulerProcess(config).start())
        yield {**names, "none": "default-scheduler"}
    finally:
        for proc in procs:
            proc.close()


def ext_node(name: str, *, tier: str, cpu: str, bandwidth: str, site: str, token: str) -> Any:
    labels = {
        "kubernetes.io/hostname": name,
        "topology.kubernetes.io/zone": site,
        "cloudedge.io/tier": tier,
        "cloudedge.io/bandwidth-mbps": bandwidth,
        E2E_LABEL: token,
    }
    allocatable = {"cpu": cpu, "memory": "16Gi", "pods": "110"}
    taints = [{"key": E2E_LABEL, "value": token, "effect": "NoSchedule"}]
    return kwok_node(name, labels=labels, allocatable=allocatable, taints=taints)


class ExtNodes:
    """The nodes of one test and the pod template that keeps to them."""

    def __init__(self, token: str) -> None:
        self.token = token
        prefix = f"ext-{token}"
        self.cloud = f"{prefix}-cloud"
        self.edge = [f"{prefix}-edge-{x}" for x in "abc"]
        self.objects = [
            ext_node(
                self.cloud,
                tier="cloud",
                cpu="8",
                bandwidth="10000",
                site=f"{prefix}-dc",
                token=token,
            )
        ] + [
            ext_node(name, tier="edge", cpu="2", bandwidth="100", site=name, token=token)
            for name in self.edge
        ]

    @property
    def names(self) -> list[str]:
        return [self.cloud, *self.edge]

    def pod(
        self, name: str, *, scheduler: str, cpu: str = "500m", annotations: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "schedulerName": scheduler,
                "nodeSelector": {E2E_LABEL: self.token},
                "tolerations": [
                    {
                        "key": E2E_LABEL,
                        "operator": "Equal",
                        "value": self.token,
                        "effect": "NoSchedule",
                    }
                ],
                "containers": [
                    {"name": "main", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}
                ],
            },
        }


@pytest.fixture
def nodes(kube: Cluster) -> Iterator[ExtNodes]:
    test_nodes = ExtNodes(secrets.token_hex(3))
    for obj in test_nodes.objects:
        kube.core.create_node(obj)
    try:
        wait_until(
            "the test's kwok nodes Ready and without the node controller's taints",
            lambda: all(is_schedulable(kube, n) for n in test_nodes.names),
            timeout=60,
        )
        yield test_nodes
    finally:
        for name in test_nodes.names:
            try:
                kube.core.delete_node(name)
            except ApiException as err:
                if err.status != 404:
                    raise


def is_schedulable(kube: Cluster, name: str) -> bool:
    """Ready, and carrying no taint but the test's own.

    A new node is Ready a moment before the node controller lifts its
    ``node.kubernetes.io/not-ready`` taint; a pod created in between fails kube-scheduler's
    own taint filter and never reaches the extender.
    """
    node = kube.core.read_node(name)
    conditions = node.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready and all(t.key == E2E_LABEL for t in node.spec.taints or [])


def extender_knows(proc: OperatorProcess, names: list[str]) -> bool:
    """Whether the extender's node cache has these nodes (an annotated filter call passes)."""
    body = {
        "Pod": {"metadata": {"name": "probe", "annotations": {"cloudedge.io/workload": "batch"}}},
        "NodeNames": names,
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{proc.extender_port}/filter",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as err:
        if err.code == 400:
            return False  # unknown nodes: the watch has not delivered them yet
        raise


def node_of(kube: Cluster, namespace: str, name: str) -> str | None:
    return kube.core.read_namespaced_pod(name, namespace).spec.node_name or None


def bind_in_order(kube: Cluster, namespace: str, pods: list[dict[str, Any]]) -> dict[str, str]:
    """Create the pods one at a time, each once the previous one is bound (simulate's order)."""
    placed: dict[str, str] = {}
    for pod in pods:
        name = pod["metadata"]["name"]
        kube.core.create_namespaced_pod(namespace, pod)
        placed[name] = wait_until(
            f"pod {name} bound", lambda n=name: node_of(kube, namespace, n), timeout=BOUND_TIMEOUT_S
        )
    return placed


def simulated(kube: Cluster, nodes: ExtNodes, pods: list[dict[str, Any]]) -> dict[str, str]:
    """Where ``cloudedge simulate`` puts the pods on the test's nodes (and the live topology)."""
    docs: list[Any] = list(nodes.objects)
    try:
        listed = kube.kubectl("get", "networktopologies.cloudedge.io", "-o", "json", check=False)
        if listed.returncode == 0:
            docs += json.loads(listed.stdout)["items"]
    except (ValueError, KeyError):
        pass
    docs += [{**p, "metadata": {**p["metadata"], "namespace": "sim"}} for p in pods]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        sim = simulate.build([path])
        doc = simulate.report(sim, simulate.run(sim, strategy="score"))
    return {p["pod"].split("/", 1)[1]: p["node"] for p in doc["placements"]}


def workload(nodes: ExtNodes, scheduler: str) -> list[dict[str, Any]]:
    """Three pods with one clearly best node each, and another best for a default scheduler."""
    edge_b, edge_c = nodes.edge[1], nodes.edge[2]
    return [
        # 500 MB already on edge-b: moving it anywhere costs 40 s at 100 Mbit/s.
        nodes.pod(
            "near-data",
            scheduler=scheduler,
            annotations={
                "cloudedge.io/workload": "data-intensive",
                "cloudedge.io/data-source": edge_b,
                "cloudedge.io/data-size-mb": "500",
            },
        ),
        # Edge only, 100 ms deadline, 50 MB on edge-c: only edge-c can make it.
        nodes.pod(
            "deadline",
            scheduler=scheduler,
            annotations={
                "cloudedge.io/workload": "latency-sensitive",
                "cloudedge.io/tier": "edge",
                "cloudedge.io/data-source": edge_c,
                "cloudedge.io/data-size-mb": "50",
                "cloudedge.io/max-latency-ms": "100",
            },
        ),
        # 20,000 work units: 2.5 s on the 8-CPU cloud node, 10 s on an edge node.
        nodes.pod(
            "compute",
            scheduler=scheduler,
            cpu="1",
            annotations={
                "cloudedge.io/workload": "compute-intensive",
                "cloudedge.io/compute-cost": "20000",
            },
        ),
    ]


def test_annotated_pods_land_where_simulate_says_through_kube_scheduler(
    kube: Cluster,
    extender_proc: OperatorProcess,
    schedulers: dict[str, str],
    nodes: ExtNodes,
    namespace: str,
) -> None:
    pods = workload(nodes, schedulers["ignorable"])
    predicted = simulated(kube, nodes, pods)
    assert predicted == {
        "near-data": nodes.edge[1],
        "deadline": nodes.edge[2],
        "compute": nodes.cloud,
    }
    wait_until("the extender to see the nodes", lambda: extender_knows(extender_proc, nodes.names))
    assert bind_in_order(kube, namespace, pods) == predicted
    # The extender made the Bindings, and every call was answered in the protocol.
    assert extender_proc.sample("cloudedge_extender_requests_total", verb="bind", code="200") >= 3
    assert extender_proc.sample("cloudedge_extender_requests_total", verb="filter", code="200") >= 3
    for verb in ("filter", "prioritize", "bind"):
        assert extender_proc.sample("cloudedge_extender_requests_total", verb=verb, code="503") == 0


def test_without_the_extender_the_default_scheduler_places_them_elsewhere(
    kube: Cluster, schedulers: dict[str, str], nodes: ExtNodes, namespace: str
) -> None:
    pods = workload(nodes, schedulers["none"])
    predicted = simulated(kube, nodes, pods)
    placed = bind_in_order(kube, namespace, pods)
    # kube-scheduler alone prefers the emptiest node: the 8-CPU cloud node, for all of them.
    assert placed["near-data"] != predicted["near-data"]
    assert placed["deadline"] != predicted["deadline"]


def failed_scheduling(kube: Cluster, namespace: str, pod: str) -> str | None:
    """The newest FailedScheduling message of the pod, if any."""
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={pod},reason=FailedScheduling"
    ).items
    if not events:
        return None
    newest = max(
        events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp
    )
    return str(newest.message)


def test_an_invalid_annotation_fails_the_pod_with_the_extenders_message(
    kube: Cluster,
    extender_proc: OperatorProcess,
    schedulers: dict[str, str],
    nodes: ExtNodes,
    namespace: str,
) -> None:
    wait_until("the extender to see the nodes", lambda: extender_knows(extender_proc, nodes.names))
    bad = nodes.pod(
        "bad", scheduler=schedulers["strict"], annotations={"cloudedge.io/max-latency-ms": "soon"}
    )
    kube.core.create_namespaced_pod(namespace, bad)
    seen: list[str | None] = [None]

    def names_the_key() -> str | None:
        # kube-scheduler's informer may still hold a node's not-ready taint for a moment; the
        # retry after that taint goes reaches the extender and writes a newer event.
        seen[0] = failed_scheduling(kube, namespace, "bad")
        return seen[0] if seen[0] and "cloudedge.io/max-latency-ms" in seen[0] else None

    try:
        message = wait_until("a FailedScheduling event from the extender", names_the_key)
    except WaitTimeoutError:
        pytest.fail(f"the newest FailedScheduling never named the annotation: {seen[0]!r}")
    assert "soon" in message
    assert node_of(kube, namespace, "bad") is None


def test_with_ignorable_true_pods_still_schedule_while_the_extender_is_down(
    kube: Cluster,
    extender_proc: OperatorProcess,
    schedulers: dict[str, str],
    nodes: ExtNodes,
    namespace: str,
) -> None:
    extender_proc.stop()
    try:
        pod = nodes.pod(
            "carry-on", scheduler=schedulers["ignorable"], annotations={"cloudedge.io/tier": "edge"}
        )
        kube.core.create_namespaced_pod(namespace, pod)
        node = wait_until(
            "the pod bound without the extender",
            lambda: node_of(kube, namespace, "carry-on"),
            timeout=BOUND_TIMEOUT_S,
        )
        assert node in nodes.names  # bound by kube-scheduler's own binder, tier unchecked
    finally:
        extender_proc.start()


def test_with_ignorable_false_pods_wait_for_the_extender_and_then_schedule(
    kube: Cluster,
    extender_proc: OperatorProcess,
    schedulers: dict[str, str],
    nodes: ExtNodes,
    namespace: str,
) -> None:
    extender_proc.stop()
    try:
        pod = nodes.pod(
            "waits", scheduler=schedulers["strict"], annotations={"cloudedge.io/tier": "edge"}
        )
        kube.core.create_namespaced_pod(namespace, pod)
        message = wait_until(
            "a FailedScheduling event naming the extender",
            lambda: failed_scheduling(kube, namespace, "waits"),
            timeout=60,
        )
        assert "extender" in message or "127.0.0.1" in message, message
        wait_seconds(3)  # a few more scheduling attempts: still nothing without the extender
        assert node_of(kube, namespace, "waits") is None
    finally:
        extender_proc.start()
    wait_until("the extender to see the nodes", lambda: extender_knows(extender_proc, nodes.names))
    node = wait_until(
        "the pod bound once the extender is back",
        lambda: node_of(kube, namespace, "waits"),
        timeout=RECOVERY_TIMEOUT_S,
    )
    assert node in nodes.edge
