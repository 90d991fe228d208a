"""Kubernetes constraints on the real control plane: the breaches a new user measured, rerun.

GPUs, host ports, pod affinity to a pod that does not exist, a petabyte of ephemeral storage,
anti-affinity, topology spread and scheduling gates: every pod is either bound without a
breach, or Pending with a FailedScheduling event of ours naming what stopped it. Each test
creates its own simulated nodes (kwok), in a group of its own that its pods select, so the
cluster's other nodes and tests do not matter.
"""

from __future__ import annotations

import collections
import copy
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cluster_support import Cluster, kwok_node, node_ready, scratch_namespace, wait_until
from operator_support import OperatorProcess

from cloudedge import SCHEDULER_NAME, explain

GROUP = "cloudedge.io/e2e-group"
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
GPU = "nvidia.com/gpu"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@pytest.fixture
def operator(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"e2e-{secrets.token_hex(4)}")
    proc.start()
    yield proc
    proc.close()


NodeMaker = Callable[..., str]


@pytest.fixture
def nodes(kube: Cluster) -> Iterator[tuple[str, NodeMaker]]:
    """(group, make): ``make(zone, **allocatable)`` creates a Ready kwok node in the group."""
    group = f"g{secrets.token_hex(3)}"
    made: list[str] = []

    def make(zone: str, **extra: str) -> str:
        name = f"{group}-{len(made)}"
        allocatable = {"cpu": "4", "memory": "8Gi", "pods": "110", **extra}
        labels = {HOST: name, ZONE: zone, GROUP: group, "cloudedge.io/tier": "cloud"}
        body = kwok_node(name, labels=labels, allocatable=allocatable)
        kube.core.create_node(body)
        made.append(name)
        wait_until(f"node {name} Ready", lambda: node_ready(kube, name, taints=0), timeout=60)
        return name

    yield group, make
    for name in made:
        kube.kubectl("delete", "node", name, "--ignore-not-found", "--wait=false")


def pod(
    name: str,
    group: str,
    *,
    labels: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    host_port: int | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "registry.k8s.io/pause:3.10",
        "resources": {"requests": {"cpu": "100m", **(requests or {})}},
    }
    limits = {k: v for k, v in (requests or {}).items() if "/" in k}
    if limits:  # extended resources: requests must equal limits
        container["resources"]["limits"] = limits
    if host_port is not None:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "schedulerName": SCHEDULER_NAME,
            "nodeSelector": {GROUP: group},
            "containers": [container],
            **spec,
        },
    }


def our_events(kube: Cluster, namespace: str, name: str) -> list[Any]:
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return [e for e in events if (e.source and e.source.component) == SCHEDULER_NAME]


def outcome(kube: Cluster, namespace: str, names: list[str]) -> dict[str, tuple[str | None, str]]:
    """Wait until every pod is bound or has a FailedScheduling event of ours: name -> (node,
    the newest FailedScheduling message or "")."""

    def settled() -> dict[str, tuple[str | None, str]] | None:
        out: dict[str, tuple[str | None, str]] = {}
        for name in names:
            node = kube.core.read_namespaced_pod(name, namespace).spec.node_name
            failed = [
                e for e in our_events(kube, namespace, name) if e.reason == "FailedScheduling"
            ]
            if not node and not failed:
                return None
            out[name] = (node, failed[-1].message if failed and not node else "")
        return out

    settled_now = wait_until("every pod bound or refused with an event", settled, timeout=60)
    # A pod reported unschedulable must still be Pending a moment later (no late breach).
    time.sleep(2)
    for name, (node, _) in settled_now.items():
        if node is None:
            assert kube.core.read_namespaced_pod(name, namespace).spec.node_name is None, name
    return settled_now


def create(kube: Cluster, namespace: str, *pods: dict[str, Any]) -> list[str]:
    for body in pods:
        kube.core.create_namespaced_pod(namespace, body)
    return [p["metadata"]["name"] for p in pods]


def test_gpu_pods_go_only_where_a_gpu_is_free(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    with_gpu = make("za", **{GPU: "1"})
    make("za")
    names = create(
        kube, namespace, *(pod(f"train-{k}", group, requests={GPU: "1"}) for k in range(2))
    )
    result = outcome(kube, namespace, names)
    bound = [node for node, _ in result.values() if node]
    assert bound == [with_gpu], result
    (refused,) = [msg for node, msg in result.values() if not node]
    assert "Insufficient nvidia.com/gpu" in refused


def test_a_petabyte_of_ephemeral_storage_is_refused_by_name(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    make("za", **{"ephemeral-storage": "100Gi"})
    names = create(kube, namespace, pod("big", group, requests={"ephemeral-storage": "1Pi"}))
    node, message = outcome(kube, namespace, names)["big"]
    assert node is None
    assert "Insufficient ephemeral-storage" in message


def test_pods_sharing_a_host_port_never_share_a_node(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    for _ in range(2):
        make("za")
    names = create(kube, namespace, *(pod(f"web-{k}", group, host_port=8080) for k in range(3)))
    result = outcome(kube, namespace, names)
    bound = [node for node, _ in result.values() if node]
    assert len(bound) == len(set(bound)) == 2, result
    (refused,) = [msg for node, msg in result.values() if not node]
    assert "didn't have free ports" in refused


def test_required_pod_affinity_to_a_missing_pod_binds_nothing(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    make("za")
    term = {"labelSelector": {"matchLabels": {"app": "nowhere"}}, "topologyKey": HOST}
    affinity = {"podAffinity": {REQUIRED: [term]}}
    names = create(kube, namespace, pod("follower", group, affinity=affinity))
    node, message = outcome(kube, namespace, names)["follower"]
    assert node is None
    assert "didn't match pod affinity rules" in message


def test_anti_affinity_replicas_land_on_different_nodes(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    for _ in range(2):
        make("za")
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST}
    spec = {"affinity": {"podAntiAffinity": {REQUIRED: [term]}}}
    replicas = (pod(f"db-{k}", group, labels={"app": "db"}, **spec) for k in range(3))
    result = outcome(kube, namespace, create(kube, namespace, *replicas))
    bound = [node for node, _ in result.values() if node]
    assert len(bound) == len(set(bound)) == 2, result
    (refused,) = [msg for node, msg in result.values() if not node]
    assert "anti-affinity" in refused


def test_namespace_selectors_follow_the_labels_of_other_namespaces(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    # A cache pod, already on the first node, in a namespace labelled for this test only:
    # anti-affinity by that label keeps a pod off its node, affinity brings one to it, and a
    # selector no namespace matches speaks of no pod (not of the pod's own namespace).
    group, make = nodes
    first, second = make("za"), make("za")
    team = f"cloudedge.io/e2e-team-{secrets.token_hex(3)}"
    with scratch_namespace(kube, "data", prefix="e2e", label=team) as data:
        cache = pod("cache", group, labels={"app": "cache"}, nodeName=first)
        kube.core.create_namespaced_pod(data, cache)

        def term(labels: dict[str, str]) -> dict[str, Any]:
            return {
                "labelSelector": {"matchLabels": {"app": "cache"}},
                "topologyKey": HOST,
                "namespaceSelector": {"matchLabels": labels},
            }

        away = {"affinity": {"podAntiAffinity": {REQUIRED: [term({team: "true"})]}}}
        near = {"affinity": {"podAffinity": {REQUIRED: [term({team: "true"})]}}}
        nowhere = {"affinity": {"podAffinity": {REQUIRED: [term({team: "none"})]}}}
        # The cache pod in this namespace too: a selector matching nothing must not count it.
        decoy = pod("cache", group, labels={"app": "cache"}, nodeName=second)
        kube.core.create_namespaced_pod(namespace, decoy)
        names = create(
            kube,
            namespace,
            pod("away", group, **away),
            pod("near", group, **near),
            pod("nowhere", group, **nowhere),
        )
        result = outcome(kube, namespace, names)
    assert result["away"][0] == second
    assert result["near"][0] == first
    node, message = result["nowhere"]
    assert node is None
    assert "didn't match pod affinity rules" in message


@pytest.fixture
def storage(kube: Cluster) -> Iterator[str]:
    """A unique suffix for this test's PersistentVolumes and StorageClasses (cluster-scoped),
    deleted afterwards."""
    suffix = secrets.token_hex(3)
    yield suffix
    for kind in ("persistentvolume", "storageclass"):
        names = kube.kubectl("get", kind, "-o", "name").stdout.split()
        mine = [n for n in names if n.endswith(suffix)]
        if mine:
            kube.kubectl("delete", *mine, "--ignore-not-found", "--wait=false")


def claim(name: str, *, cls: str = "", volume: str = "") -> dict[str, Any]:
    """A 1Gi ReadWriteOnce claim of class ``cls``, bound ahead to ``volume`` if given."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": cls,
    }
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name}, "spec": spec}


def host_path_volume(
    name: str,
    namespace: str,
    claim_name: str,
    *,
    hosts: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A 1Gi volume reserved for ``namespace/claim_name``, on ``hosts`` (node affinity) if
    given, with ``labels``."""
    spec: dict[str, Any] = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "",
        "hostPath": {"path": f"/tmp/{name}"},
        "claimRef": {"namespace": namespace, "name": claim_name},
    }
    if hosts:
        on_hosts = {"key": HOST, "operator": "In", "values": hosts}
        spec["nodeAffinity"] = {
            "required": {"nodeSelectorTerms": [{"matchExpressions": [on_hosts]}]}
        }
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def mounting(name: str, group: str, claim_name: str) -> dict[str, Any]:
    """A pod of ``group`` that mounts ``claim_name``."""
    volumes = [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]
    return pod(name, group, volumes=volumes)


def test_volume_topology_binds_near_the_volume_and_keeps_unusable_claims_pending(
    kube: Cluster,
    operator: OperatorProcess,
    nodes: tuple[str, NodeMaker],
    namespace: str,
    storage: str,
) -> None:
    group, make = nodes
    make("za")
    near = make("za")
    immediate, late = f"immediate-{storage}", f"late-{storage}"
    for name, mode in ((immediate, "Immediate"), (late, "WaitForFirstConsumer")):
        kube.storage.create_storage_class(
            {
                "metadata": {"name": name},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": mode,
            }
        )

    def volume(name: str, claim_name: str) -> dict[str, Any]:
        return host_path_volume(name, namespace, claim_name, hosts=[near])

    kube.core.create_persistent_volume(volume(f"pv-data-{storage}", "data"))
    kube.core.create_namespaced_persistent_volume_claim(
        namespace, claim("data", volume=f"pv-data-{storage}")
    )
    kube.core.create_namespaced_persistent_volume_claim(namespace, claim("waits", cls=immediate))
    kube.core.create_namespaced_persistent_volume_claim(namespace, claim("later", cls=late))

    names = create(
        kube,
        namespace,
        mounting("near", group, "data"),
        mounting("unbound", group, "waits"),
        mounting("missing", group, "nope"),
        mounting("late", group, "later"),
    )
    result = outcome(kube, namespace, names)
    assert result["near"][0] == near
    assert result["unbound"][0] is None
    assert "pod has unbound immediate PersistentVolumeClaims" in result["unbound"][1]
    assert result["missing"][0] is None
    assert 'persistentvolumeclaim "nope" not found' in result["missing"][1]
    assert result["late"][0] is None
    assert "spec.volumes[0].persistentVolumeClaim" in result["late"][1]
    assert "WaitForFirstConsumer" in result["late"][1]
    # The missing claim appears, bound to a volume on the near node: the pod follows.
    kube.core.create_persistent_volume(volume(f"pv-nope-{storage}", "nope"))
    kube.core.create_namespaced_persistent_volume_claim(
        namespace, claim("nope", volume=f"pv-nope-{storage}")
    )
    node = wait_until(
        "the pod bound once its claim exists",
        lambda: kube.core.read_namespaced_pod("missing", namespace).spec.node_name,
        timeout=60,
    )
    assert node == near


def test_a_volumes_zone_label_keeps_its_pod_in_that_zone_as_volume_zone_does(
    kube: Cluster,
    operator: OperatorProcess,
    nodes: tuple[str, NodeMaker],
    namespace: str,
    storage: str,
) -> None:
    """A volume with a zone label and no node affinity (as cloud disks were labelled): the
    pod goes to a node of that zone, and waits with VolumeZone's reason where no node of
    the group is in it."""
    group, make = nodes
    make("za")
    in_zb = make("zb")
    make("za")
    for zone in ("zb", "zc"):
        kube.core.create_persistent_volume(
            host_path_volume(f"pv-{zone}-{storage}", namespace, zone, labels={ZONE: zone})
        )
        kube.core.create_namespaced_persistent_volume_claim(
            namespace, claim(zone, volume=f"pv-{zone}-{storage}")
        )
    names = create(kube, namespace, mounting("in-zb", group, "zb"), mounting("in-zc", group, "zc"))
    result = outcome(kube, namespace, names)
    assert result["in-zb"][0] == in_zb
    node, message = result["in-zc"]
    assert node is None
    assert "3 node(s) had no available volume zone" in message


@pytest.mark.parametrize(
    "placement",
    [
        pytest.param(("--placement", "greedy"), id="greedy"),
        pytest.param(("--placement", "batch", "--batch-window", "5"), id="batch"),
    ],
)
def test_a_read_write_once_pod_claim_runs_one_pod_at_a_time(
    kube: Cluster,
    nodes: tuple[str, NodeMaker],
    namespace: str,
    storage: str,
    placement: tuple[str, ...],
) -> None:
    """Two pods mount one ReadWriteOncePod claim (in batch mode, in one batch): one binds, the
    other waits with VolumeRestrictions' reason until the first is deleted, then binds."""
    group, make = nodes
    make("za")
    make("za")
    volume = host_path_volume(f"pv-solo-{storage}", namespace, "solo")
    volume["spec"]["accessModes"] = ["ReadWriteOncePod"]
    kube.core.create_persistent_volume(volume)
    solo = claim("solo", volume=f"pv-solo-{storage}")
    solo["spec"]["accessModes"] = ["ReadWriteOncePod"]
    kube.core.create_namespaced_persistent_volume_claim(namespace, solo)
    proc = OperatorProcess(
        kube.kubeconfig, lease_name=f"e2e-{secrets.token_hex(4)}", extra_args=placement
    )
    proc.start()
    try:
        names = create(
            kube, namespace, mounting("one", group, "solo"), mounting("two", group, "solo")
        )
        result = outcome(kube, namespace, names)
        bound = [name for name, (node, _) in result.items() if node]
        assert len(bound) == 1, result
        waiting = "two" if bound == ["one"] else "one"
        assert "ReadWriteOncePod access mode" in result[waiting][1]
        explained = explain.explain(waiting, namespace, kubeconfig=kube.kubeconfig)
        assert f"ReadWriteOncePod claim is free: in use by {namespace}/{bound[0]}" in explained
        kube.core.delete_namespaced_pod(bound[0], namespace, grace_period_seconds=0)
        wait_until(
            "the waiting pod bound once the claim is free",
            lambda: kube.core.read_namespaced_pod(waiting, namespace).spec.node_name,
            timeout=60,
        )
    finally:
        proc.close()


def test_topology_spread_keeps_the_zones_within_max_skew(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    zone_of = {make("za"): "za", make("zb"): "zb", make("zb"): "zb"}
    constraint = {
        "maxSkew": 1,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    web = (
        pod(f"web-{k}", group, labels={"app": "web"}, topologySpreadConstraints=[constraint])
        for k in range(5)
    )
    result = outcome(kube, namespace, create(kube, namespace, *web))
    per_zone = collections.Counter(zone_of[node] for node, _ in result.values() if node)
    assert sum(per_zone.values()) == 5, result  # 3 and 2 (or 2 and 3) fit the skew
    assert abs(per_zone["za"] - per_zone["zb"]) <= 1, per_zone


def test_a_field_the_binder_does_not_honour_keeps_the_pod_pending_with_a_warning_naming_it(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    make("za")
    # Namespaces selected by their labels: the model does not watch Namespaces.
    term = {
        "labelSelector": {"matchLabels": {"app": "db"}},
        "topologyKey": HOST,
        "namespaceSelector": {"matchLabels": {"team": "data"}},
    }
    preferred = [{"weight": 10, "podAffinityTerm": term}]
    spec = {"affinity": {"podAffinity": {PREFERRED: preferred}}}
    names = create(kube, namespace, pod("soft", group, **spec))
    node, message = outcome(kube, namespace, names)["soft"]
    field = f"spec.affinity.podAffinity.{PREFERRED}[0].podAffinityTerm.namespaceSelector"
    assert node is None
    assert field in message
    assert "extender" in message
    explained = explain.explain("soft", namespace, kubeconfig=kube.kubeconfig)
    assert "refused by the binder" in explained
    assert field in explained


# Preferences: scores as kube-scheduler's plugins compute them. Each test makes nodes that the
# model's own terms cannot tell apart (same size, same zone latency, pods without CPU or memory
# requests where they would load one node), so that with no preference the first node wins the
# tie, and each puts the preferred node last: landing there is the preference's doing. Then the
# same pod, in the same state, goes to kube-scheduler, which must choose the same node.

NO_LOAD = {"cpu": "0", "memory": "0"}
"""Explicit zeros: kube-scheduler's scoring counts a missing request as 100m / 200Mi."""
KUBE_SCHEDULER = "default-scheduler"


def kube_scheduler_choice(kube: Cluster, namespace: str, body: dict[str, Any]) -> str | None:
    """Where kube-scheduler puts the same pod in the same state: ours (``body``) is deleted,
    its twin goes to kube-scheduler, and the twin is deleted again once bound."""
    name = body["metadata"]["name"]
    kube.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)

    def gone() -> bool:
        return not [
            p for p in kube.core.list_namespaced_pod(namespace).items if p.metadata.name == name
        ]

    wait_until(f"pod {name} deleted", gone, timeout=60)
    twin = copy.deepcopy(body)
    twin["metadata"]["name"] = f"{name}-kube"
    twin["spec"]["schedulerName"] = KUBE_SCHEDULER
    kube.core.create_namespaced_pod(namespace, twin)

    def bound() -> str | None:
        node = kube.core.read_namespaced_pod(f"{name}-kube", namespace).spec.node_name
        return str(node) if node else None

    node = wait_until(f"kube-scheduler binds {name}-kube", bound, timeout=60)
    kube.core.delete_namespaced_pod(f"{name}-kube", namespace, grace_period_seconds=0)
    return node


def test_preferred_node_affinity_puts_the_pod_on_the_node_kube_scheduler_would_prefer(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    make("za")
    wanted = make("zb")
    preferred = [
        {"weight": 1, "preference": {"matchExpressions": [_in(ZONE, "zx")]}},
        {"weight": 50, "preference": {"matchExpressions": [_in(ZONE, "zb")]}},
    ]
    body = pod("prefers-zb", group, affinity={"nodeAffinity": {PREFERRED: preferred}})
    names = create(kube, namespace, body)
    assert outcome(kube, namespace, names)["prefers-zb"] == (wanted, "")
    explained = explain.explain("prefers-zb", namespace, kubeconfig=kube.kubeconfig)
    assert "NODE-AFFINITY" in explained
    assert kube_scheduler_choice(kube, namespace, body) == wanted


def test_a_prefer_no_schedule_taint_steers_the_pod_to_an_untainted_node(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    tainted = make("za")
    wanted = make("za")
    taint = {"key": "maintenance", "value": "soon", "effect": "PreferNoSchedule"}
    kube.core.patch_node(tainted, {"spec": {"taints": [taint]}})
    wait_until("the taint is seen", lambda: node_ready(kube, tainted, taints=1), timeout=30)
    body = pod("avoids-taint", group)
    names = create(kube, namespace, body)
    assert outcome(kube, namespace, names)["avoids-taint"] == (wanted, "")
    assert kube_scheduler_choice(kube, namespace, body) == wanted


def test_preferred_pod_anti_affinity_puts_the_pod_away_from_the_pods_it_avoids(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    first = make("za")
    wanted = make("za")
    db = pod("db", group, labels={"app": "db"}, requests=NO_LOAD)
    db["spec"]["nodeSelector"][HOST] = first
    assert outcome(kube, namespace, create(kube, namespace, db))["db"] == (first, "")
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST}
    spec = {
        "affinity": {"podAntiAffinity": {PREFERRED: [{"weight": 100, "podAffinityTerm": term}]}}
    }
    body = pod("not-with-db", group, requests=NO_LOAD, **spec)
    names = create(kube, namespace, body)
    assert outcome(kube, namespace, names)["not-with-db"] == (wanted, "")
    assert kube_scheduler_choice(kube, namespace, body) == wanted


def test_schedule_anyway_spread_puts_the_pod_in_the_emptier_zone(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    first = make("za")
    wanted = make("zb")
    web = pod("web-0", group, labels={"app": "web"}, requests=NO_LOAD)
    web["spec"]["nodeSelector"][HOST] = first
    assert outcome(kube, namespace, create(kube, namespace, web))["web-0"] == (first, "")
    constraint = {
        "maxSkew": 1,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    spread = pod(
        "web-1",
        group,
        labels={"app": "web"},
        requests=NO_LOAD,
        topologySpreadConstraints=[constraint],
    )
    assert outcome(kube, namespace, create(kube, namespace, spread))["web-1"] == (wanted, "")
    assert kube_scheduler_choice(kube, namespace, spread) == wanted


def _in(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": [value]}


def test_a_gated_pod_gets_no_event_until_its_gate_is_lifted_then_binds_within_5s(
    kube: Cluster, operator: OperatorProcess, nodes: tuple[str, NodeMaker], namespace: str
) -> None:
    group, make = nodes
    make("za")
    create(kube, namespace, pod("gated", group, schedulingGates=[{"name": "example.com/wait"}]))
    time.sleep(5)  # several of the operator's retry periods: nothing may happen meanwhile
    assert our_events(kube, namespace, "gated") == []
    assert kube.core.read_namespaced_pod("gated", namespace).spec.node_name is None
    # A JSON patch: in a strategic merge patch, an empty list of gates would remove none.
    lift = [{"op": "remove", "path": "/spec/schedulingGates"}]
    kube.core.patch_namespaced_pod("gated", namespace, lift)
    wait_until(
        "the pod bound within 5 s of its gate being lifted",
        lambda: kube.core.read_namespaced_pod("gated", namespace).spec.node_name,
        timeout=5,
        interval=0.1,
    )
    reasons = wait_until(
        "the Scheduled event",
        lambda: [e.reason for e in our_events(kube, namespace, "gated")] or None,
        timeout=10,
    )
    assert reasons == ["Scheduled"], "no Warning before or after the gate was lifted"
