"""The operator on the real control plane: binds as simulated, never overcommits, explains.

Every test starts its own ``cloudedge run`` (own ports, own Lease) and works in its own
namespace. Tests that need exact placements cordon the cluster's other nodes for their
duration, so the live scheduler sees the same candidates as ``cloudedge simulate``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cluster_support import REPO_ROOT, Cluster, wait_until
from kubernetes import client as k8s_client
from kubernetes.utils import parse_quantity
from operator_support import OperatorProcess, pod_requests_by_node, two_replicas

from cloudedge import simulate

SEED = REPO_ROOT / "examples" / "seed"


@pytest.fixture
def operator(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"e2e-{secrets.token_hex(4)}")
    proc.start()
    yield proc
    proc.close()


def node_names(kube: Cluster) -> list[str]:
    return [n.metadata.name for n in kube.core.list_node().items]


@pytest.fixture
def seed_nodes(kube: Cluster) -> Iterator[list[str]]:
    """The seed's 8 nodes created, every other node cordoned; all undone afterwards."""
    docs = list(yaml.safe_load_all((SEED / "nodes.yaml").read_text()))
    names = [d["metadata"]["name"] for d in docs]
    others = [n for n in node_names(kube) if n not in names]
    for n in others:
        kube.kubectl("cordon", n)
    kube.kubectl("apply", "-f", str(SEED / "nodes.yaml"))
    # Ready, and without the node controller's not-ready taint, which outlives the condition
    # by a moment: a scheduler that sees the taint filters the node out.
    wait_until(
        "seed nodes Ready and untainted",
        lambda: all(_ready_untainted(kube.core.read_node(n)) for n in names),
        timeout=60,
    )
    yield names
    for n in names:
        kube.kubectl("delete", "node", n, "--ignore-not-found", "--wait=false")
    for n in others:
        kube.kubectl("uncordon", n)


def _ready_untainted(node: k8s_client.V1Node) -> bool:
    ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
    return ready and not node.spec.taints


def allocatable_cpu(kube: Cluster) -> dict[str, float]:
    return {
        n.metadata.name: float(parse_quantity(n.status.allocatable["cpu"])) * 1000
        for n in kube.core.list_node().items
    }


def assert_no_overcommit(kube: Cluster) -> None:
    used = pod_requests_by_node(kube.core.list_pod_for_all_namespaces().items)
    cap = allocatable_cpu(kube)
    over = {n: (u, cap.get(n)) for n, u in used.items() if n in cap and u > cap[n] + 1e-6}
    assert not over, f"nodes over allocatable cpu (used, allocatable): {over}"


def cluster_topology_file(kube: Cluster, tmp_path: Path) -> list[Path]:
    """The cluster's NetworkTopology objects as a YAML file, so simulate sees what it sees."""
    out = kube.kubectl("get", "networktopologies.cloudedge.io", "-o", "json").stdout
    items = json.loads(out).get("items") or []
    if not items:
        return []
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump_all(items))
    return [path]


def test_the_seed_scenario_binds_exactly_as_simulate_predicts(
    kube: Cluster,
    seed_nodes: list[str],
    operator: OperatorProcess,
    namespace: str,
    tmp_path: Path,
) -> None:
    # seed_nodes before operator: the scheduler starts on a cluster whose seed nodes are Ready
    # and untainted and whose other nodes are cordoned, so its first list is the cluster
    # simulate reads. Started first, it learned the seed nodes from its watch while the pods
    # arrived; under load two edge nodes still carried the not-ready taint when the pods came,
    # and their pods went to the cloud nodes.
    topology = cluster_topology_file(kube, tmp_path)
    sim = simulate.build([SEED / "nodes.yaml", SEED / "workloads.yaml", *topology])
    predicted = {
        p["pod"].split("/", 1)[1]: p["node"]
        for p in simulate.report(sim, simulate.run(sim, strategy="score"))["placements"]
    }
    wait_until(
        "the operator to see the seed nodes",
        lambda: (
            operator.sample("cloudedge_nodes", tier="edge") >= 5
            and operator.sample("cloudedge_nodes", tier="cloud") >= 3
        ),
        timeout=30,
    )
    kube.kubectl("apply", "-n", namespace, "-f", str(SEED / "workloads.yaml"))
    expected_bound = {name for name, node in predicted.items() if node is not None}

    def settled() -> dict[str, str | None] | None:
        pods = {p.metadata.name: p.spec.node_name for p in kube.pods(namespace)}
        bound = {n for n, node in pods.items() if node}
        return pods if bound == expected_bound else None

    actual = wait_until("the seed pods to be bound", settled, timeout=60)
    assert actual == predicted
    assert_no_overcommit(kube)


def deployment(name: str, replicas: int, cpu: str, annotations: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": annotations},
                    "spec": {
                        "schedulerName": "cloud-edge-scheduler",
                        "containers": [
                            {
                                "name": "main",
                                "image": "registry.k8s.io/pause:3.10",
                                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}},
                            }
                        ],
                    },
                },
            },
        }
    )


def tiers(kube: Cluster) -> dict[str, str]:
    return {
        n.metadata.name: (n.metadata.labels or {}).get("cloudedge.io/tier", "")
        for n in kube.core.list_node().items
    }


def test_a_deployment_lands_by_workload_latency_at_the_edge_and_compute_in_the_cloud(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    infer = deployment(
        "camera-infer",
        50,
        "100m",
        {
            "cloudedge.io/workload": "latency-sensitive",
            "cloudedge.io/data-source": "edge-site-1",
            "cloudedge.io/data-size-mb": "0.1",
            "cloudedge.io/compute-cost": "20",
            "cloudedge.io/max-latency-ms": "50",
        },
    )
    train = deployment(
        "trainer",
        6,
        "2",
        {"cloudedge.io/workload": "compute-intensive", "cloudedge.io/compute-cost": "60000"},
    )
    kube.apply(infer + "---\n" + train, namespace)

    def all_bound() -> list[object] | None:
        pods = kube.pods(namespace)
        return pods if len(pods) == 56 and all(p.spec.node_name for p in pods) else None

    pods = wait_until("56 replicas bound", all_bound, timeout=120)
    tier = tiers(kube)
    placed = {(p.metadata.labels["app"], tier[p.spec.node_name]) for p in pods}
    assert placed == {("camera-infer", "edge"), ("trainer", "cloud")}
    assert_no_overcommit(kube)


def make_pod(name: str, cpu: str, annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "schedulerName": "cloud-edge-scheduler",
            "containers": [
                {
                    "name": "main",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu, "memory": "16Mi"}},
                }
            ],
        },
    }


def create_pods(kube: Cluster, namespace: str, pods: list[dict[str, object]]) -> None:
    """Create many pods quickly, in order of the list, from a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda body: kube.core.create_namespaced_pod(namespace, body), pods))


def events_for(kube: Cluster, namespace: str, reason: str) -> dict[str, list[str]]:
    """Messages of our scheduler's events with ``reason``, by pod name."""
    out: dict[str, list[str]] = {}
    for e in kube.core.list_namespaced_event(namespace).items:
        if e.reason == reason and (e.source and e.source.component) == "cloud-edge-scheduler":
            out.setdefault(e.involved_object.name, []).append(e.message or "")
    return out


def free_cpu_of_candidates(kube: Cluster) -> float:
    cap = allocatable_cpu(kube)
    used = pod_requests_by_node(kube.core.list_pod_for_all_namespaces().items)
    return sum(
        cap[n] - used.get(n, 0.0)
        for n, t in tiers(kube).items()
        if t and not kube.core.read_node(n).spec.unschedulable
    )


def test_a_burst_bigger_than_the_cluster_fills_it_to_capacity_and_no_further(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    # At least 500 pods, and always 150 more than the free room of the cluster under test.
    total = max(500, int(free_cpu_of_candidates(kube) // 100) + 150)
    create_pods(kube, namespace, [make_pod(f"burst-{k:04d}", "100m") for k in range(total)])

    def settled() -> tuple[set[str], set[str]] | None:
        pods = kube.pods(namespace)
        if len(pods) != total or operator.sample("cloudedge_pending_pods") != sum(
            1 for p in pods if not p.spec.node_name
        ):
            return None
        bound = {p.metadata.name for p in pods if p.spec.node_name}
        pending = {p.metadata.name for p in pods if not p.spec.node_name}
        unschedulable = operator.sample("cloudedge_schedule_attempts_total", result="unschedulable")
        return (bound, pending) if pending and unschedulable >= len(pending) else None

    bound, pending = wait_until("the burst to settle", settled, timeout=180, interval=2)
    assert_no_overcommit(kube)
    cap = allocatable_cpu(kube)
    used = pod_requests_by_node(kube.core.list_pod_for_all_namespaces().items)
    candidates = [n for n, t in tiers(kube).items() if t]
    full = [n for n in candidates if cap[n] - used.get(n, 0.0) < 100]
    assert sorted(full) == sorted(candidates), "every candidate node is full before pods wait"

    def marked_unschedulable() -> bool:
        pods = {p.metadata.name: p for p in kube.pods(namespace)}
        for name in pending:
            conditions = {c.type: c for c in (pods[name].status.conditions or [])}
            cond = conditions.get("PodScheduled")
            if cond is None or (cond.status, cond.reason) != ("False", "Unschedulable"):
                return False
        return True

    wait_until(
        "PodScheduled=False/Unschedulable on every waiting pod",
        marked_unschedulable,
        timeout=60,
        interval=2,
    )

    def became_unschedulable() -> dict[str, object]:
        """lastTransitionTime of each waiting pod's PodScheduled condition."""
        return {
            p.metadata.name: c.last_transition_time
            for p in kube.pods(namespace)
            if p.metadata.name in pending
            for c in p.status.conditions or []
            if c.type == "PodScheduled"
        }

    marked_at = became_unschedulable()
    failed = wait_until(
        "a FailedScheduling event for every waiting pod",
        lambda: (
            (got := events_for(kube, namespace, "FailedScheduling")) and pending <= set(got) and got
        ),
        timeout=60,
        interval=2,
    )
    assert any("Insufficient cpu" in m for m in failed[min(pending)])

    victims = sorted(bound)[:50]
    for name in victims:
        kube.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)

    def refilled() -> set[str] | None:
        now_bound = {p.metadata.name for p in kube.pods(namespace) if p.spec.node_name}
        newly = now_bound & pending
        return newly if len(newly) == 50 else None

    newly = wait_until("50 waiting pods to take the freed room", refilled, timeout=120, interval=2)
    assert_no_overcommit(kube)

    # The pods still waiting were tried again after the deletions and failed as before: each
    # repeat counted on the pod's first FailedScheduling event (as kubectl describe shows
    # "x2 over 30s"), not a second object with the same message.
    still = pending - newly

    def repeats() -> dict[tuple[str, str], list[int]] | None:
        series: dict[tuple[str, str], list[int]] = {}
        for e in kube.core.list_namespaced_event(namespace).items:
            ours = (e.source and e.source.component) == "cloud-edge-scheduler"
            if ours and e.reason == "FailedScheduling" and e.involved_object.name in still:
                key = (e.involved_object.name, e.message or "")
                series.setdefault(key, []).append(e.count or 1)
        return series if any(sum(c) >= 2 for c in series.values()) else None

    series = wait_until("a repeat counted on its first event", repeats, timeout=60, interval=2)
    assert all(len(counts) == 1 for counts in series.values()), series
    # Failing again changed nothing in the condition: it still dates from the first failure.
    still_marked = {k: v for k, v in became_unschedulable().items() if k in still}
    assert still_marked == {k: marked_at[k] for k in still_marked}
    assert still_marked


BAD_ANNOTATIONS = {
    "cloudedge.io/workload": "realtime",
    "cloudedge.io/compute-cost": "-5",
    "cloudedge.io/data-source": "Not_A_Site",
    "cloudedge.io/data-size-mb": "NaN",
    "cloudedge.io/max-latency-ms": "0",
    "cloudedge.io/tier": "fog",
}


def test_each_bad_annotation_gets_a_warning_and_the_next_good_pod_is_still_bound(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    bad = [
        make_pod(f"bad-{k}", "100m", {key: value})
        for k, (key, value) in enumerate(BAD_ANNOTATIONS.items())
    ]
    create_pods(kube, namespace, bad)
    kube.core.create_namespaced_pod(namespace, make_pod("good", "100m"))
    wait_until(
        "the good pod bound",
        lambda: kube.core.read_namespaced_pod("good", namespace).spec.node_name,
        timeout=60,
    )

    def warned() -> dict[str, list[str]] | None:
        got = events_for(kube, namespace, "FailedScheduling")
        return got if all(f"bad-{k}" in got for k in range(len(BAD_ANNOTATIONS))) else None

    messages = wait_until("a warning for every bad pod", warned, timeout=60)
    for k, (key, value) in enumerate(BAD_ANNOTATIONS.items()):
        text = messages[f"bad-{k}"][0]
        assert key in text, text
        assert repr(value) in text, text
        assert "is invalid:" in text, text
        assert kube.core.read_namespaced_pod(f"bad-{k}", namespace).spec.node_name is None
    assert operator.sample("cloudedge_schedule_attempts_total", result="invalid") >= 6
    assert operator.proc is not None
    assert operator.proc.poll() is None, "the operator is still running"


def test_pods_for_the_default_scheduler_are_never_touched(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    body = make_pod("plain", "100m")
    body["spec"].pop("schedulerName")  # type: ignore[attr-defined]
    kube.core.create_namespaced_pod(namespace, body)
    wait_until(
        "kube-scheduler to bind the plain pod",
        lambda: kube.core.read_namespaced_pod("plain", namespace).spec.node_name,
        timeout=60,
    )
    ours = [
        e
        for e in kube.core.list_namespaced_event(namespace).items
        if (e.source and e.source.component) == "cloud-edge-scheduler"
        or e.reporting_component == "cloud-edge-scheduler"
    ]
    assert ours == []
    total = sum(
        operator.sample("cloudedge_schedule_attempts_total", result=r)
        for r in ("scheduled", "unschedulable", "invalid", "error")
    )
    assert total == 0


def test_metrics_count_attempts_durations_and_pending_pods(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    pods = [make_pod(f"ok-{k}", "50m") for k in range(5)]
    pods.append(make_pod("huge", "500"))
    pods.append(make_pod("bad", "50m", {"cloudedge.io/workload": "soon"}))
    create_pods(kube, namespace, pods)

    def counted() -> bool:
        return (
            operator.sample("cloudedge_schedule_attempts_total", result="scheduled") == 5
            and operator.sample("cloudedge_schedule_attempts_total", result="unschedulable") >= 1
            and operator.sample("cloudedge_schedule_attempts_total", result="invalid") >= 1
            and operator.sample("cloudedge_pending_pods") == 2
        )

    wait_until("the metrics to count the attempts", counted, timeout=60)
    assert operator.sample("cloudedge_scheduling_duration_seconds_count") == 5
    assert operator.sample("cloudedge_binding_duration_seconds_count") == 5
    assert (
        operator.sample("cloudedge_estimated_completion_seconds_count", tier="cloud")
        + (operator.sample("cloudedge_estimated_completion_seconds_count", tier="edge"))
        == 5
    )
    assert operator.sample("cloudedge_leader") == 1


def test_explain_shows_every_nodes_terms_for_a_live_pod(
    kube: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    kube.core.create_namespaced_pod(namespace, make_pod("x", "100m", {"cloudedge.io/tier": "edge"}))
    node = wait_until(
        "x bound", lambda: kube.core.read_namespaced_pod("x", namespace).spec.node_name, timeout=60
    )
    # Whatever the cluster's node names (another example's nodes may be there too), the pod
    # is on an edge node and explain names it.
    labels = kube.core.read_node(node).metadata.labels or {}
    assert labels.get("cloudedge.io/tier") == "edge", (node, labels)
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudedge.cli",
            "explain",
            "x",
            "-n",
            namespace,
            "--kubeconfig",
            kube.kubeconfig,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"pod {namespace}/x: bound to {node}\n" in out
    for word in ("SCORE", "ECT(s)", "TRANSFER", "WAITING", "PROCESS", "LEFTOVER"):
        assert word in out
    assert "node(s) were not in the required tier edge" in out


def scheduled_events(kube: Cluster, namespace: str) -> dict[str, list[str]]:
    return events_for(kube, namespace, "Scheduled")


def test_two_replicas_have_one_leader_and_a_killed_leader_hands_over_within_20s(
    kube: Cluster, namespace: str
) -> None:
    with two_replicas(kube.kubeconfig, lease_prefix="e2e") as (leader, follower):
        assert not follower.is_leader()
        create_pods(kube, namespace, [make_pod(f"before-{k}", "50m") for k in range(20)])
        wait_until(
            "the leader to bind the first pods",
            lambda: all(p.spec.node_name for p in kube.pods(namespace)),
            timeout=60,
        )
        assert follower.sample("cloudedge_schedule_attempts_total", result="scheduled") == 0

        leader.kill()
        killed_at = time.monotonic()
        create_pods(kube, namespace, [make_pod(f"after-{k}", "50m") for k in range(20)])
        wait_until(
            "every pod bound by the new leader",
            lambda: (
                len(kube.pods(namespace)) == 40
                and all(p.spec.node_name for p in kube.pods(namespace))
            ),
            timeout=60,
        )
        handover = time.monotonic() - killed_at
        assert handover <= 20.0, f"handover took {handover:.1f}s"
        assert follower.is_leader()
        events = scheduled_events(kube, namespace)
        twice = {name: msgs for name, msgs in events.items() if len(msgs) != 1}
        assert not twice, f"pods with more than one Scheduled event: {twice}"
        pods = {p.metadata.name: p.spec.node_name for p in kube.pods(namespace)}
        for name, msgs in events.items():
            assert f" to {pods[name]}:" in msgs[0]
        assert_no_overcommit(kube)


def test_sigterm_stops_the_operator_cleanly(kube: Cluster, operator: OperatorProcess) -> None:
    started = time.monotonic()
    assert operator.stop(timeout=20) == 0, operator.log_tail()
    assert time.monotonic() - started < 20
    assert "stopped" in operator.log_tail()


def test_sigterm_during_the_start_stops_the_operator_cleanly_too(kube: Cluster) -> None:
    """The signal as soon as the metrics port is up: wherever in the start it lands (the first
    listing, the collector freeze, or before kopf installs its handlers), the process goes
    through the same shutdown and exits 0. The landing inside the listing, made certain by an
    API server that never answers, is tests/unit/test_app_stop.py."""
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"starting-{secrets.token_hex(4)}")
    proc.start(wait_healthy=False)
    try:
        wait_until(
            "the metrics port",
            lambda: "metrics and health on" in proc.log_tail(),
            timeout=60,
            interval=0.02,
        )
        assert proc.stop(timeout=20) == 0, proc.log_tail()
        # Not necessarily the last line: a watch thread's list in flight may log after it.
        assert "cloudedge.app: stopped" in proc.log_tail(), proc.log_tail()
    finally:
        proc.close()


def test_the_network_topology_sites_column_is_written_and_follows_the_spec(
    kube: Cluster, operator: OperatorProcess
) -> None:
    custom = k8s_client.CustomObjectsApi(kube.api_client)
    group, version, plural = "cloudedge.io", "v1alpha1", "networktopologies"
    name = f"e2e-sites-{secrets.token_hex(3)}"
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": "NetworkTopology",
        "metadata": {"name": name},
        "spec": {"links": [{"from": "site-a", "to": "site-b", "latencyMs": 3}]},
    }
    custom.create_cluster_custom_object(group, version, plural, body)
    try:

        def sites() -> int | None:
            obj = custom.get_cluster_custom_object(group, version, plural, name)
            return (obj.get("status") or {}).get("sites")

        assert wait_until("status.sites written", sites, timeout=30) == 2
        link = {"from": "site-b", "to": "camera-1", "latencyMs": 8}
        patch = {"spec": {"links": [*body["spec"]["links"], link]}}
        custom.patch_cluster_custom_object(group, version, plural, name, patch)
        wait_until("status.sites follows the spec", lambda: sites() == 3, timeout=30)
        printed = kube.kubectl("get", "networktopologies.cloudedge.io", name, "-o", "wide")
        assert "3" in printed.stdout.split("\n")[1].split()
    finally:
        custom.delete_cluster_custom_object(group, version, plural, name)
