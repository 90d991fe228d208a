"""The testbed plan: a scenario scaled onto this machine, and the objects that make it real.

Pure: no cluster, no Docker. A scenario (the example YAML of ``examples/``) has nodes of many
CPUs and links of Gbit/s; this machine has 2 cores. Three factors map one onto the other, and
every one is recorded in docs/testbed.json:

* ``rate`` (s): every node's CPU quota and every link's bandwidth is ``s`` times the scenario's,
  with ``s`` chosen so that the quotas sum to the CPU budget. A node of compute rate ``P``
  (default: allocatable millicores) gets ``P * s / 1000`` CPUs and so does ``P * s`` work units
  per second (a unit is a millisecond of one core, :mod:`bench.testbed.task`).
* ``work`` (w): every ``compute-cost`` and ``data-size-mb`` is ``w`` times the scenario's, so
  that a run fits its time budget.
* ``resources`` (k): allocatable CPU and memory, and every request, are ``k`` times the
  scenario's, so that the largest node fits in a kind node (whose capacity is the host's).

Every model time on the testbed is then ``w / s`` times the scenario's: transfer (data ``w``x,
bandwidth ``s``x), processing (work ``w``x, rate ``s``x) and waiting (its service time is the
processing time). Latencies, link caps and deadlines are scaled to match (latency and deadline
by ``w / s``), so the scheduler faces the scenario's problem exactly, in slower time, and its
decisions on the testbed are its decisions on the scenario. The nodes carry the scaled truth
(``bandwidth-mbps`` is the shaped rate, ``compute-rate`` the quota's rate), so the model's
predictions are in the testbed's real seconds and compare with measurements directly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cloudedge import model

PREFIX = "cloudedge.io/"
SUBMITTED_AT = "testbed.cloudedge.io/submitted-at"
"""The task reads this annotation (its submission time) to measure wait-to-start."""
TESTBED_LABEL = "testbed.cloudedge.io/run"
"""Label on every object the runner creates: one delete by label cleans a run up."""
SPARE_TAINT = "testbed.cloudedge.io/spare"
"""Taint on kind workers the scenario does not use: no scheduler may put a task there."""
TASK_NAMESPACE = "cloudedge-testbed"
DATA_SERVER_PROGRAM = "/opt/testbed/dataserver.py"
"""The data server's program in the task image (its processes are found by this name)."""
NODE_CPU_CGROUPS = "/sys/fs/cgroup/cpu"
"""A kind node's CPU controller hierarchy (cgroup v1), seen from the node."""
QUOTA_CGROUP = f"{NODE_CPU_CGROUPS}/testbed-work"
"""The node's CPU quota: the cgroup every task enters once started
(:func:`bench.testbed.task.enter_quota`, :func:`bench.testbed.cluster.cap_cpu`)."""
TASK_CGROUPS_MOUNT = "/testbed/cpu"
"""Where a task sees :data:`NODE_CPU_CGROUPS` (a hostPath volume, written as root)."""
NODE_CPUSETS = "/sys/fs/cgroup/cpuset"
"""A kind node's cpuset hierarchy (cgroup v1), seen from the node."""
WORK_CPUSET = f"{NODE_CPUSETS}/testbed-work"
"""The CPUs the tasks run on, once started (:func:`bench.testbed.task.enter_quota`,
:func:`bench.testbed.cluster.dedicate_cpus`): none of the nodes' daemons, pod starts or the
control plane run there."""
TASK_CPUSETS_MOUNT = "/testbed/cpuset"
"""Where a task sees :data:`NODE_CPUSETS` (a hostPath volume, written as root)."""
MIN_CPUS = 0.01
"""The smallest quota this testbed sets: 1% of a CPU (the kernel refuses a CFS quota under 1 ms
per 100 ms period)."""


class PlanError(Exception):
    """A scenario that cannot be put on this testbed; the message says why and what would fit."""


@dataclasses.dataclass(frozen=True)
class Scale:
    """The three factors of the module docstring."""

    rate: float
    work: float
    resources: float

    @property
    def time(self) -> float:
        """Testbed seconds per scenario second (``w / s``)."""
        return self.work / self.rate


def rate_scale(nodes: Sequence[model.Node], *, cpu_budget: float) -> float:
    """``s``: the factor that makes the nodes' CPU quotas sum to ``cpu_budget`` CPUs."""
    if not nodes:
        raise PlanError("the scenario has no nodes")
    if not (cpu_budget > 0 and math.isfinite(cpu_budget)):
        raise PlanError(f"CPU budget {cpu_budget!r}: expected a number of CPUs > 0")
    total = sum(node.compute_rate for node in nodes) / 1000.0
    return cpu_budget / total


def resource_scale(nodes: Sequence[model.Node], *, node_cpu_m: float, node_memory: float) -> float:
    """``k``: 1, or less when the largest node's allocatable exceeds a kind node's capacity."""
    biggest_cpu = max(node.allocatable.cpu for node in nodes)
    biggest_mem = max(node.allocatable.memory for node in nodes)
    return min(1.0, node_cpu_m / biggest_cpu, node_memory / biggest_mem)


def scale_node(node: model.Node, scale: Scale, *, name: str) -> model.Node:
    """``node`` as the testbed makes it, under the kind node ``name``."""
    cpu, memory = node.allocatable.cpu, node.allocatable.memory
    labels = dict(node.labels)
    labels["kubernetes.io/hostname"] = name
    return dataclasses.replace(
        node,
        name=name,
        bandwidth_mbps=node.bandwidth_mbps * scale.rate,
        compute_rate=node.compute_rate * scale.rate,
        allocatable=model.ResourceList(
            {
                **node.allocatable,
                "cpu": math.floor(cpu * scale.resources),
                "memory": memory * scale.resources,
            }
        ),
        used=model.ResourceList(),
        labels=labels,
    )


def cpu_quota(node: model.Node) -> float:
    """The CPU quota of a testbed node's pods: its compute rate in CPUs."""
    return max(MIN_CPUS, round(node.compute_rate / 1000.0, 3))


def scale_topology(topology: model.Topology, scale: Scale) -> model.Topology:
    """Latency in testbed time, bandwidth caps at the testbed's rates."""

    def bw(value: float | None) -> float | None:
        return None if value is None else value * scale.rate

    return dataclasses.replace(
        topology,
        same_site_latency_ms=topology.same_site_latency_ms * scale.time,
        same_tier_latency_ms=topology.same_tier_latency_ms * scale.time,
        cloud_edge_latency_ms=topology.cloud_edge_latency_ms * scale.time,
        same_tier_bandwidth_mbps=bw(topology.same_tier_bandwidth_mbps),
        cloud_edge_bandwidth_mbps=bw(topology.cloud_edge_bandwidth_mbps),
        links=tuple(
            dataclasses.replace(
                link,
                latency_ms=link.latency_ms * scale.time,
                bandwidth_mbps=bw(link.bandwidth_mbps),
            )
            for link in topology.links
        ),
    )


def scale_pod(pod: model.Pod, scale: Scale, *, node_names: Mapping[str, str]) -> model.Pod:
    """``pod`` on the testbed: work and data ``w``x, deadline in testbed time, requests ``k``x.

    A data source that names a scenario node is renamed to the kind node that plays it.
    """
    cpu, memory = pod.requests.cpu, pod.requests.memory
    source = pod.data_source
    if source is not None:
        source = node_names.get(source, source)
    return dataclasses.replace(
        pod,
        compute_cost=pod.compute_cost * scale.work,
        data_size_mb=pod.data_size_mb * scale.work,
        max_latency_ms=None if pod.max_latency_ms is None else pod.max_latency_ms * scale.time,
        requests=model.ResourceList(
            {
                **pod.requests,
                "cpu": math.ceil(cpu * scale.resources),
                "memory": memory * scale.resources,
            }
        ),
        data_source=source,
    )


# ---------------------------------------------------------------------------------------------
# The plan of one scenario on one cluster


@dataclasses.dataclass(frozen=True)
class Plan:
    """A scenario on the testbed: scaled nodes, topology and pods, and where the data lives."""

    scenario: str
    scale: Scale
    nodes: tuple[model.Node, ...]
    """The testbed nodes (kind node names), in the scenario's order."""
    scenario_names: Mapping[str, str]
    """Scenario node name -> kind node name."""
    topology: model.Topology
    pods: tuple[model.Pod, ...]
    """In arrival order; names are DNS-safe and unique (they name the Jobs)."""

    def cluster(self) -> model.ClusterState:
        """The model's view of the empty testbed."""
        return model.ClusterState(list(self.nodes), topology=self.topology)

    def sources(self) -> list[str]:
        """Every data source a pod reads, in first-use order."""
        seen: dict[str, None] = {}
        for pod in self.pods:
            if pod.data_source is not None and pod.data_size_mb > 0:
                seen.setdefault(pod.data_source, None)
        return list(seen)


def make_plan(
    scenario: str,
    *,
    nodes: Sequence[model.Node],
    topology: model.Topology | None,
    pods: Sequence[model.Pod],
    kind_workers: Sequence[str],
    cpu_budget: float,
    work: float,
    node_cpu_m: float,
    node_memory: float,
) -> Plan:
    """Scale a scenario onto ``kind_workers`` (one per scenario node, in order)."""
    if len(kind_workers) < len(nodes):
        raise PlanError(
            f"scenario {scenario} has {len(nodes)} nodes; the kind cluster has "
            f"{len(kind_workers)} workers (the default topology of make kind-up has 8)"
        )
    if not (work > 0 and math.isfinite(work)):
        raise PlanError(f"work scale {work!r}: expected a number > 0")
    scale = Scale(
        rate=rate_scale(nodes, cpu_budget=cpu_budget),
        work=work,
        resources=resource_scale(nodes, node_cpu_m=node_cpu_m, node_memory=node_memory),
    )
    names = {node.name: kind for node, kind in zip(nodes, kind_workers, strict=False)}
    scaled_nodes = tuple(scale_node(node, scale, name=names[node.name]) for node in nodes)
    scaled_pods = tuple(scale_pod(pod, scale, node_names=names) for pod in pods)
    return Plan(
        scenario=scenario,
        scale=scale,
        nodes=scaled_nodes,
        scenario_names=names,
        topology=scale_topology(topology or model.Topology(), scale),
        pods=scaled_pods,
    )


_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")


def job_name(index: int, pod_name: str) -> str:
    """A Job name from the arrival index and the scenario pod's name (DNS label, <= 52 chars:
    the Job controller appends a 5-char suffix and a dash to name the pod)."""
    base = _DNS_UNSAFE.sub("-", pod_name.lower()).strip("-")
    return f"t{index:03d}-{base}"[:52].rstrip("-")


# ---------------------------------------------------------------------------------------------
# What the data servers and tasks are told


def data_server_node(plan: Plan, source: str) -> str:
    """The node a source's data server runs on: the node itself, else the site's first node."""
    names = {node.name for node in plan.nodes}
    if source in names:
        return source
    for node in plan.nodes:
        if node.site == source:
            return node.name
    raise PlanError(
        f"data source {source!r} is neither a node nor a site with nodes; the testbed serves "
        "data from a node of the source's site"
    )


def data_server_links(plan: Plan, source: str) -> dict[str, dict[str, float | None]]:
    """Site -> latency (ms) and link cap (Mbit/s) from ``source``, as the model computes them.

    The model's own :meth:`~cloudedge.model.ClusterState.source_view` gives them, so the data
    server adds exactly the latency the scheduler assumed. Node bandwidth is left to tbf.
    """
    cluster = plan.cluster()
    view = cluster.source_view(source)
    links: dict[str, dict[str, float | None]] = {}
    for i, node in enumerate(cluster.nodes):
        cap = float(view.link_bw[i])
        links[node.site] = {
            "latency_ms": round(float(view.latency_s[i]) * 1000.0, 6),
            "bandwidth_mbps": None if math.isinf(cap) else cap,
        }
    return links


def node_sites(plan: Plan) -> dict[str, str]:
    """Kind node name -> site, so that a task can tell its data server where it runs."""
    return {node.name: node.site for node in plan.nodes}


def node_patch(node: model.Node) -> dict[str, Any]:
    """Labels and annotation that make a kind node the scenario's node (a strategic merge)."""
    tier = node.tier.value if node.tier is not None else None
    labels = {
        PREFIX + "tier": tier,
        PREFIX + "site": node.site,
        PREFIX + "bandwidth-mbps": f"{node.bandwidth_mbps:.6g}",
        "topology.kubernetes.io/zone": node.site,
    }
    return {
        "metadata": {
            "labels": labels,
            "annotations": {PREFIX + "compute-rate": f"{node.compute_rate:.6g}"},
        }
    }


def topology_object(topology: model.Topology, nodes: Sequence[model.Node]) -> dict[str, Any]:
    """The ``NetworkTopology`` named ``default`` for the scaled topology."""

    def block(latency: float, bandwidth: float | None) -> dict[str, float]:
        out = {"latencyMs": round(latency, 6)}
        if bandwidth is not None:
            out["bandwidthMbps"] = round(bandwidth, 6)
        return out

    sites = dict(topology.site_tiers)
    for node in nodes:
        if node.tier is not None:
            sites.setdefault(node.site, node.tier)
    return {
        "apiVersion": "cloudedge.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": "default", "labels": {TESTBED_LABEL: "true"}},
        "spec": {
            "defaults": {
                "sameSite": block(topology.same_site_latency_ms, None),
                "sameTier": block(topology.same_tier_latency_ms, topology.same_tier_bandwidth_mbps),
                "cloudEdge": block(
                    topology.cloud_edge_latency_ms, topology.cloud_edge_bandwidth_mbps
                ),
            },
            "sites": [{"name": s, "tier": t.value} for s, t in sorted(sites.items())],
            "links": [
                {"from": link.a, "to": link.b, **block(link.latency_ms, link.bandwidth_mbps)}
                for link in topology.links
            ],
        },
    }


def _quantity_cpu(millicores: float) -> str:
    return f"{math.ceil(millicores)}m"


def _quantity_memory(value: float) -> str:
    return f"{math.ceil(value / 1024 / 1024)}Mi"


def data_server_pod(plan: Plan, source: str, *, image: str, port: int = 8000) -> dict[str, Any]:
    """The data server of ``source``: a bare pod bound to its node by ``nodeName``.

    ``nodeName`` skips every scheduler, so the data servers are in place before the schedulers
    under test start and are identical for all of them. No requests: the servers must not take
    room that the schedulers count.
    """
    node = data_server_node(plan, source)
    site = next(n.site for n in plan.nodes if n.name == node)
    env = {
        "TESTBED_SITE": site,
        "TESTBED_NODE": node,
        "TESTBED_LINKS": json.dumps(data_server_links(plan, source), sort_keys=True),
        "TESTBED_BIND": f"0.0.0.0:{port}",
    }
    if source != node:
        # A site's data lives at the site, not on this node: a task on this node gets it over
        # the node's own link in the model, so the server paces it to that link's rate.
        rate = next(n.bandwidth_mbps for n in plan.nodes if n.name == node)
        env["TESTBED_LOCAL_MBPS"] = f"{rate:.6g}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "data-" + _DNS_UNSAFE.sub("-", source.lower()).strip("-")[:50],
            "namespace": TASK_NAMESPACE,
            "labels": {TESTBED_LABEL: "true", "app.kubernetes.io/name": "testbed-data"},
            "annotations": {"testbed.cloudedge.io/source": source},
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "tolerations": [{"key": SPARE_TAINT, "operator": "Exists"}],
            "containers": [
                {
                    "name": "data",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "args": [DATA_SERVER_PROGRAM],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "ports": [{"containerPort": port}],
                    "readinessProbe": {
                        "httpGet": {"path": "/healthz", "port": port},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    }


def task_job(
    plan: Plan,
    index: int,
    pod: model.Pod,
    *,
    image: str,
    scheduler_name: str,
    data_servers: Mapping[str, str],
    iterations_per_unit: float,
    submitted_at: float,
    run_id: str,
    active_deadline_s: int,
    work_cpuset: bool = True,
) -> dict[str, Any]:
    """The Job of one scenario pod: its requests and annotations, the task image, bounded.

    With ``work_cpuset`` the task also enters the tasks' cpuset once started
    (:data:`WORK_CPUSET`, :func:`bench.testbed.task.enter_cpuset`).

    The annotations are the scaled ones, so the scheduler and the task see the same numbers.
    The pod gets nothing it does not use (no token, no service links). ``backoffLimit: 0``
    and ``restartPolicy: Never``: a failed task is a result, not a retry.
    """
    notes: dict[str, str] = {PREFIX + "workload": pod.workload.value}
    if pod.compute_cost:
        notes[PREFIX + "compute-cost"] = f"{pod.compute_cost:.6g}"
    if pod.data_source is not None:
        notes[PREFIX + "data-source"] = pod.data_source
        notes[PREFIX + "data-size-mb"] = f"{pod.data_size_mb:.6g}"
    if pod.max_latency_ms is not None:
        notes[PREFIX + "max-latency-ms"] = f"{pod.max_latency_ms:.6g}"
    if pod.tier is not None:
        notes[PREFIX + "tier"] = pod.tier.value
    notes[SUBMITTED_AT] = f"{submitted_at:.6f}"
    cpu, memory = pod.requests.cpu, pod.requests.memory
    env: list[dict[str, Any]] = [
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TESTBED_ITERATIONS_PER_UNIT", "value": f"{iterations_per_unit:.6g}"},
        {"name": "TESTBED_DATA_SERVERS", "value": json.dumps(dict(data_servers), sort_keys=True)},
        {"name": "TESTBED_NODE_SITES", "value": json.dumps(node_sites(plan), sort_keys=True)},
        {
            "name": "TESTBED_QUOTA_CGROUP",
            "value": TASK_CGROUPS_MOUNT + QUOTA_CGROUP.removeprefix(NODE_CPU_CGROUPS),
        },
        {
            "name": "TESTBED_WORK_CPUSET",
            "value": (
                TASK_CPUSETS_MOUNT + WORK_CPUSET.removeprefix(NODE_CPUSETS) if work_cpuset else ""
            ),
        },
        {
            "name": "TESTBED_CPU_REQUEST_M",
            "valueFrom": {
                "resourceFieldRef": {
                    "containerName": "task",
                    "resource": "requests.cpu",
                    "divisor": "1m",
                }
            },
        },
    ]
    spec: dict[str, Any] = {
        "schedulerName": scheduler_name,
        "restartPolicy": "Never",
        # The task never calls the API: no service account token, no service environment
        # variables (least privilege; the start it saves was too small to measure here:
        # docs/testbed.md, "How the testbed works", Pod start).
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [
            {
                "name": "task",
                "image": image,
                "imagePullPolicy": "Never",
                "env": env,
                "resources": {
                    "requests": {"cpu": _quantity_cpu(cpu), "memory": _quantity_memory(memory)}
                },
                "terminationMessagePolicy": "File",
                # Root, and the node's CPU cgroups: the task moves itself into the node's
                # quota once started (task.enter_quota), so no pod's start is charged to it.
                "securityContext": {"runAsUser": 0, "runAsGroup": 0},
                "volumeMounts": [
                    {"name": "podinfo", "mountPath": "/etc/podinfo"},
                    {"name": "node-cpu-cgroups", "mountPath": TASK_CGROUPS_MOUNT},
                    {"name": "node-cpusets", "mountPath": TASK_CPUSETS_MOUNT},
                ],
            }
        ],
        "volumes": [
            {
                "name": "node-cpu-cgroups",
                "hostPath": {"path": NODE_CPU_CGROUPS, "type": "Directory"},
            },
            {
                "name": "node-cpusets",
                "hostPath": {"path": NODE_CPUSETS, "type": "Directory"},
            },
            {
                "name": "podinfo",
                "downwardAPI": {
                    "items": [
                        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
                    ]
                },
            },
        ],
    }
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    labels = {TESTBED_LABEL: run_id, "testbed.cloudedge.io/class": pod.workload.value}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(index, pod.name),
            "namespace": TASK_NAMESPACE,
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_s,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": labels, "annotations": notes}, "spec": spec},
        },
    }
