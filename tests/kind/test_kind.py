"""The scheduler as users run it: a pod of its own chart on a kind cluster of real kubelets.

The cluster is hack/kind/up.sh's (the seed's topology by default); the image is ``make image``'s,
loaded with ``kind load``; each test installs the chart with ``helm install`` into a namespace
that enforces the restricted Pod Security Standard. Workload pods run for real (pause), so
"Running" means a kubelet started them on the node the scheduler chose.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster_support import REPO_ROOT, Cluster, quantity, wait_until
from deploy_support import PrometheusProcess
from kind_support import (
    apply_docs,
    bound_pods,
    installed,
    lease,
    lease_holder,
    pod_manifest,
    running,
    scheduled_events,
    simulated_placements,
    upgrade,
    worker_nodes_file,
)
from kubernetes.client import CoordinationV1Api

EXAMPLES = REPO_ROOT / "examples"
SEED_NODES = yaml.safe_load_all((EXAMPLES / "seed" / "nodes.yaml").read_text())
SCHEDULER = "cloud-edge-scheduler"
EXTENDER = "cloud-edge-extender"
# Bounds of the waits; generous for 2 busy cores. None is an assertion on elapsed time.
BIND_TIMEOUT_S = 120
RUNNING_TIMEOUT_S = 180
HANDOVER_TIMEOUT_S = 20


def operator_pods(kind: Cluster, release_ns: str) -> list[object]:
    return [
        p
        for p in kind.pods(release_ns, "app.kubernetes.io/component=operator")
        if p.metadata.deletion_timestamp is None
    ]


def is_ready(pod: object) -> bool:
    conditions = getattr(pod.status, "conditions", None) or []  # type: ignore[attr-defined]
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


# -- the cluster --------------------------------------------------------------------------------


def test_kind_nodes_are_ready_with_the_seeds_tiers_bandwidths_sites_and_allocatable(
    kind: Cluster,
) -> None:
    nodes = {n.metadata.name: n for n in kind.core.list_node().items}
    for doc in SEED_NODES:
        name = doc["metadata"]["name"]
        if name not in nodes:  # KIND_TOPOLOGY=small has two of the seed's eight
            continue
        node, labels = nodes[name], doc["metadata"]["labels"]
        for key in ("cloudedge.io/tier", "cloudedge.io/bandwidth-mbps"):
            assert node.metadata.labels[key] == labels[key], (name, key)
        site = labels.get("cloudedge.io/site", labels.get("topology.kubernetes.io/zone"))
        assert node.metadata.labels["cloudedge.io/site"] == site
        for resource in ("cpu", "memory"):
            assert quantity(node.status.allocatable[resource]) == quantity(
                doc["status"]["allocatable"][resource]
            ), (name, resource)
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    tiers = [n.metadata.labels.get("cloudedge.io/tier") for n in nodes.values()]
    assert tiers.count("cloud") >= 1
    assert tiers.count("edge") >= 1


# -- the chart's pod ----------------------------------------------------------------------------


def test_scheduler_pod_runs_ready_under_restricted_as_the_charts_service_account_and_logs_json(
    kind: Cluster, image: str, release_namespace: str
) -> None:
    ns = kind.core.read_namespace(release_namespace)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    with installed(kind, release_namespace, image) as release:
        (pod,) = operator_pods(kind, release_namespace)
        assert pod.status.phase == "Running"
        assert is_ready(pod)
        assert pod.spec.service_account_name == release.fullname
        assert pod.spec.node_name.endswith("control-plane")
        logs = kind.kubectl("logs", "-n", release_namespace, pod.metadata.name).stdout
        lines = [line for line in logs.splitlines() if line.strip()]
        assert lines, "the scheduler logged nothing"
        for line in lines:
            assert isinstance(json.loads(line), dict), line


# -- placements ---------------------------------------------------------------------------------


def pods_of(kind: Cluster, namespace: str, doc: dict[str, Any]) -> list[Any]:
    """The live pods of one workload document: the Pod itself, or a controller's replicas."""
    name = doc["metadata"]["name"]
    pods = kind.pods(namespace)
    if doc["kind"] == "Pod":
        return [p for p in pods if p.metadata.name == name]
    return [p for p in pods if p.metadata.name.startswith(f"{name}-")]


def unschedulable(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in conditions)


@pytest.mark.parametrize("example", ["seed", "video-analytics"])
def test_example_workloads_land_where_simulate_says_and_run_on_real_kubelets(
    kind: Cluster,
    image: str,
    release_namespace: str,
    workloads: str,
    example: str,
    tmp_path: Path,
) -> None:
    workload_file = EXAMPLES / example / "workloads.yaml"
    docs = [d for d in yaml.safe_load_all(workload_file.read_text()) if d]
    nodes_file = worker_nodes_file(kind, tmp_path / "nodes.yaml")
    predicted = simulated_placements(nodes_file, workload_file)
    assert any(predicted.values()), f"simulate places none of {example}'s pods on this cluster"
    placed: set[str] = set()
    with installed(kind, release_namespace, image):
        # One workload at a time, each once the previous one is placed: simulate's order.
        for doc in docs:
            name = doc["metadata"]["name"]
            expected = sorted(
                node or ""
                for pod, node in predicted.items()
                if pod == name or re.fullmatch(rf"{re.escape(name)}-\d+", pod)
            )
            kind.apply(yaml.safe_dump(doc), namespace=workloads)

            def decided(doc: dict[str, Any] = doc, count: int = len(expected)) -> list[Any] | None:
                pods = pods_of(kind, workloads, doc)
                done = [p for p in pods if p.spec.node_name or unschedulable(p)]
                return pods if len(pods) >= count and len(done) >= count else None

            pods = wait_until(f"{name}'s pods placed", decided, timeout=BIND_TIMEOUT_S)
            actual = sorted(p.spec.node_name or "" for p in pods)
            assert actual == expected, f"{name}: bound to {actual}, simulate says {expected}"
            placed |= {p.metadata.name for p in pods if p.spec.node_name}
        wait_until(
            f"{example}'s bound pods Running",
            lambda: running(kind, workloads, placed),
            timeout=RUNNING_TIMEOUT_S,
        )
        print(kind.kubectl("get", "pods", "-n", workloads, "-o", "wide").stdout)


@pytest.mark.parametrize(
    ("mode", "scheduler_names"),
    [("extender", [EXTENDER]), ("both", [SCHEDULER, EXTENDER])],
    ids=["extender", "both"],
)
def test_pods_of_each_scheduler_name_are_bound_and_run_in_every_mode(
    kind: Cluster,
    image: str,
    release_namespace: str,
    workloads: str,
    mode: str,
    scheduler_names: list[str],
) -> None:
    with installed(kind, release_namespace, image, mode=mode):
        pods = [
            pod_manifest(f"{name}-{i}", scheduler=name)
            for name in scheduler_names
            for i in range(3)
        ]
        apply_docs(kind, workloads, pods)
        names = {p["metadata"]["name"] for p in pods}
        wait_until(
            "every pod bound",
            lambda: all(bound_pods(kind, workloads).get(n) for n in names),
            timeout=BIND_TIMEOUT_S,
        )
        wait_until(
            "every pod Running", lambda: running(kind, workloads, names), timeout=RUNNING_TIMEOUT_S
        )
        placed = bound_pods(kind, workloads)
        tiers = {
            n.metadata.name: n.metadata.labels.get("cloudedge.io/tier")
            for n in kind.core.list_node().items
        }
        assert {tiers[placed[n]] for n in names} <= {"cloud", "edge"}


# -- metrics ------------------------------------------------------------------------------------


def dashboard_queries(job: str) -> list[str]:
    """Every PromQL expression of the dashboard, as Grafana would send it for ``job``."""
    doc = json.loads((REPO_ROOT / "dashboards" / "cloud-edge-scheduler.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m").replace("$job", job) for e in exprs]


def scrape_through_the_service(
    kind: Cluster, namespace: str, service: str, tmp_path: Path, job: str
) -> PrometheusProcess:
    """A Prometheus that scrapes ``service``'s metrics port through the API server's service
    proxy, as the kubeconfig's admin: it reaches the Service, never a pod address."""
    admin = yaml.safe_load(Path(kind.kubeconfig).read_text())
    user, cluster = admin["users"][0]["user"], admin["clusters"][0]["cluster"]
    pems = {}
    for key, data in (
        ("cert", user["client-certificate-data"]),
        ("key", user["client-key-data"]),
        ("ca", cluster["certificate-authority-data"]),
    ):
        pems[key] = tmp_path / f"{key}.pem"
        pems[key].write_bytes(base64.b64decode(data))
    prometheus = PrometheusProcess([cluster["server"].removeprefix("https://")], job=job)
    config_path = prometheus.dir / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    config["scrape_configs"][0].update(
        scheme="https",
        metrics_path=f"/api/v1/namespaces/{namespace}/services/http:{service}:metrics/proxy/metrics",
        tls_config={
            "ca_file": str(pems["ca"]),
            "cert_file": str(pems["cert"]),
            "key_file": str(pems["key"]),
        },
    )
    config_path.write_text(yaml.safe_dump(config))
    return prometheus.start()


def test_prometheus_scrapes_the_metrics_through_the_service_and_the_dashboard_gets_series(
    kind: Cluster, image: str, release_namespace: str, workloads: str, tmp_path: Path
) -> None:
    job = "cloud-edge-scheduler"
    with installed(kind, release_namespace, image, mode="both") as release:
        # Both scheduler names bind, and one pod never fits: every panel has something to show.
        pods = [
            pod_manifest(f"{n}-{i}", scheduler=n) for n in (SCHEDULER, EXTENDER) for i in (0, 1)
        ]
        apply_docs(
            kind, workloads, [*pods, pod_manifest("never-fits", scheduler=SCHEDULER, cpu="64")]
        )
        names = {p["metadata"]["name"] for p in pods}
        wait_until(
            "every pod bound",
            lambda: all(bound_pods(kind, workloads).get(n) for n in names),
            timeout=BIND_TIMEOUT_S,
        )
        prometheus = scrape_through_the_service(
            kind, release_namespace, release.fullname, tmp_path, job
        )
        try:
            wait_until(
                "a bound attempt scraped through the Service",
                lambda: prometheus.query('cloudedge_schedule_attempts_total{result="bound"} > 0'),
                timeout=60,
            )
            queries = dashboard_queries(job)
            assert len(queries) >= 15

            def empty() -> list[str]:
                return [q for q in queries if not prometheus.query(q)]

            try:
                wait_until(
                    "every dashboard query to return a series",
                    lambda: not empty(),
                    timeout=90,
                    interval=2,
                )
            except AssertionError as err:
                raise AssertionError(f"{err}\nqueries without a series: {empty()}") from err
        finally:
            prometheus.close()


# -- leader election ----------------------------------------------------------------------------


def test_deleting_the_leader_hands_over_within_20s_and_nothing_is_bound_twice(
    kind: Cluster, image: str, release_namespace: str, workloads: str
) -> None:
    with installed(
        kind, release_namespace, image, replicaCount=2, podDisruptionBudget={"enabled": False}
    ) as release:
        leader = wait_until("a leader", lambda: lease_holder(kind, release), timeout=60)
        leader_pod = next(
            p.metadata.name
            for p in operator_pods(kind, release_namespace)
            if leader.startswith(p.metadata.name)
        )
        apply_docs(
            kind, workloads, [pod_manifest(f"before-{i}", scheduler=SCHEDULER) for i in range(3)]
        )
        kind.kubectl("delete", "pod", "-n", release_namespace, leader_pod, "--wait=false")
        started = time.monotonic()
        new = wait_until(
            "a new leader",
            lambda: (h := lease_holder(kind, release)) and not h.startswith(leader_pod) and h,
            timeout=HANDOVER_TIMEOUT_S,
        )
        print(f"handover after deleting the leader: {time.monotonic() - started:.1f}s to {new}")
        apply_docs(
            kind, workloads, [pod_manifest(f"after-{i}", scheduler=SCHEDULER) for i in range(3)]
        )
        names = {f"{w}-{i}" for w in ("before", "after") for i in range(3)}
        wait_until(
            "every pod bound",
            lambda: all(bound_pods(kind, workloads).get(n) for n in names),
            timeout=BIND_TIMEOUT_S,
        )
        events = scheduled_events(kind, workloads)
        assert {n: events.get(n) for n in names} == dict.fromkeys(names, 1)


def test_helm_upgrade_hands_over_without_two_binders_and_sigterm_releases_the_lease(
    kind: Cluster, image: str, release_namespace: str, workloads: str
) -> None:
    with installed(kind, release_namespace, image) as release:
        first = wait_until("a leader", lambda: lease_holder(kind, release), timeout=60)
        # Pods keep arriving while the Deployment rolls: each is bound exactly once.
        holders: list[str | None] = []
        apply_docs(
            kind, workloads, [pod_manifest(f"roll-{i}", scheduler=SCHEDULER) for i in range(4)]
        )
        started = time.monotonic()
        upgrade(kind, release, image, logLevel="debug")
        new = wait_until(
            "the new pod to lead",
            lambda: (h := lease_holder(kind, release)) and h != first and h,
            timeout=HANDOVER_TIMEOUT_S,
        )
        holders.append(new)
        print(f"helm upgrade to the new leader: {time.monotonic() - started:.1f}s")
        apply_docs(
            kind, workloads, [pod_manifest(f"roll-{i}", scheduler=SCHEDULER) for i in range(4, 8)]
        )
        names = {f"roll-{i}" for i in range(8)}
        wait_until(
            "every pod bound",
            lambda: all(bound_pods(kind, workloads).get(n) for n in names),
            timeout=BIND_TIMEOUT_S,
        )
        events = scheduled_events(kind, workloads)
        assert {n: events.get(n) for n in names} == dict.fromkeys(names, 1)
        # SIGTERM (a deleted pod, no standby): the Lease is released, not left to expire.
        kind.kubectl(
            "scale", "deployment", "-n", release_namespace, release.fullname, "--replicas=0"
        )
        wait_until("the Lease released", lambda: lease_holder(kind, release) is None, timeout=60)


def test_helm_uninstall_leaves_no_object_of_the_release_behind(
    kind: Cluster, image: str, release_namespace: str
) -> None:
    api = CoordinationV1Api(kind.api_client)

    def owned_leases() -> set[str]:
        """Leases of the release that carry an owner: the garbage collector's handle on them."""
        items = api.list_namespaced_lease(release_namespace).items
        return {i.metadata.name for i in items if i.metadata.owner_references}

    with installed(kind, release_namespace, image, mode="both") as release:
        wait_until("a leader", lambda: lease_holder(kind, release), timeout=60)
        # Ours and the second kube-scheduler's, each owned by its Deployment
        # (scheduler/ownership.py): nobody can delete them once helm has taken the Roles.
        both = {release.fullname, f"{release.fullname}-kube-scheduler"}
        wait_until("both Leases owned", lambda: owned_leases() == both, timeout=60)
    kinds = (
        "all,configmaps,secrets,serviceaccounts,roles,rolebindings,leases,"
        "poddisruptionbudgets,networkpolicies"
    )

    def left() -> list[str]:
        names = kind.kubectl("get", kinds, "-n", release_namespace, "-o", "name").stdout.split()
        return [o for o in names if not o.endswith(("/default", "/kube-root-ca.crt"))]

    # Pods take their grace period to go; everything else goes with `helm uninstall --wait`.
    try:
        wait_until("nothing of the release left", lambda: not left(), timeout=120, interval=2)
    except AssertionError as err:
        raise AssertionError(f"{err}\nleft behind: {left()}") from err
    cluster_scoped = kind.kubectl(
        "get",
        "clusterroles,clusterrolebindings",
        "-o",
        "name",
        "-l",
        f"app.kubernetes.io/instance={release.name}",
    ).stdout.split()
    assert cluster_scoped == []
    assert lease(kind, release) is None
