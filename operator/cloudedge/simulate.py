"""Offline placement of Kubernetes YAML with the scheduler's own code.

``cloudedge simulate`` parses Nodes, Pods (controllers expanded) and a NetworkTopology, then
runs a strategy of :mod:`cloudedge.model.strategies`. The ``score`` strategy is the live
scheduler's algorithm, so its output predicts what ``cloudedge run`` binds for the same input.
A pod with a bad annotation is reported unschedulable with the validation message, as the live
scheduler would report it in a Warning event; a bad Node is an error of the whole input.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
from collections.abc import Sequence
from typing import Any

from cloudedge import errors, inputs, model
from cloudedge.model import strategies

SCENARIOS = ("seed",)
"""Scenarios built into the package (``--scenario``)."""


def scenario_files(name: str) -> list[pathlib.Path]:
    """The YAML files of a built-in scenario, Nodes first."""
    if name not in SCENARIOS:
        raise errors.InputError("--scenario", "scenario", name, "one of " + ", ".join(SCENARIOS))
    root = importlib.resources.files("cloudedge") / "data" / name
    return [pathlib.Path(str(root / "nodes.yaml")), pathlib.Path(str(root / "workloads.yaml"))]


@dataclasses.dataclass
class Simulation:
    """A parsed input: the cluster, the pods in order, and the pods that failed validation."""

    cluster: model.ClusterState
    pods: list[model.Pod]
    rejected: list[tuple[str, str]]
    """(namespace/name, validation message) of pods with bad input, in document order."""
    order: list[str]
    """Every pod key in document order, accepted or rejected."""
    skipped: list[str]
    config: model.ModelConfig


def build(
    paths: Sequence[str | pathlib.Path], *, config: model.ModelConfig | None = None
) -> Simulation:
    """Parse the files into a :class:`Simulation`; raises InputError on a bad Node/topology."""
    docs = inputs.load_documents(paths)
    nodes = [inputs.parse_node(obj) for obj in docs.nodes]
    topo_obj = docs.topology_object()
    topology = inputs.parse_topology(topo_obj) if topo_obj else None
    cluster = model.ClusterState(nodes, topology=topology)
    pods: list[model.Pod] = []
    rejected: list[tuple[str, str]] = []
    order: list[str] = []
    for obj in docs.pods:
        try:
            pod = inputs.parse_pod(obj)
        except errors.InputError as err:
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace') or 'default'}/{meta.get('name', '?')}"
            rejected.append((key, str(err)))
            order.append(key)
            continue
        pods.append(pod)
        order.append(pod.key)
    return Simulation(
        cluster=cluster,
        pods=pods,
        rejected=rejected,
        order=order,
        skipped=docs.skipped,
        config=config or model.ModelConfig(),
    )


def run(
    sim: Simulation, *, strategy: str = "score", time_limit_s: float = 10.0
) -> strategies.PlacementResult:
    """Place the simulation's pods with ``strategy`` (the input cluster is not changed)."""
    return model.place(
        sim.pods, sim.cluster, sim.config, strategy=strategy, time_limit_s=time_limit_s
    )


def report(sim: Simulation, result: strategies.PlacementResult) -> dict[str, Any]:
    """The JSON document of ``simulate --format json``."""
    by_key = {p.pod.key: p for p in result.placements}
    rejected = dict(sim.rejected)
    placements: list[dict[str, Any]] = []
    per_node: dict[str, dict[str, float]] = {
        name: {"transfer_s": 0.0, "processing_s": 0.0, "pods": 0.0} for name in sim.cluster.names
    }
    for key in sim.order:
        if key in rejected:
            placements.append({"pod": key, "node": None, "reason": rejected[key]})
            continue
        placement = by_key[key]
        entry: dict[str, Any] = {"pod": key, "node": placement.node}
        if placement.node is None:
            entry["reason"] = placement.reason
        elif placement.terms is not None:
            t = placement.terms
            entry.update(
                score=round(t.score, 3),
                ect_s=t.ect_s,
                terms={
                    "transfer_s": t.transfer_s,
                    "waiting_s": t.waiting_s,
                    "processing_s": t.processing_s,
                    "leftover_ratio": t.leftover_ratio,
                },
            )
            agg = per_node[placement.node]
            agg["transfer_s"] += t.transfer_s
            agg["processing_s"] += t.processing_s
            agg["pods"] += 1
        placements.append(entry)
    nodes = []
    for i, node in enumerate(sim.cluster.nodes):
        alloc = result.final.allocatable[i]
        used = result.final.used[i]
        nodes.append(
            {
                "name": node.name,
                "tier": node.tier.value if node.tier else None,
                "site": node.site,
                "capacity": {"cpu": alloc[0], "memory": alloc[1], "pods": alloc[2]},
                "allocated": {"cpu": used[0], "memory": used[1], "pods": used[2]},
                **per_node[node.name],
            }
        )
    unplaced = [p for p in placements if p["node"] is None]
    graded = strategies.grade(result, sim.config)
    shared = strategies.grade_sharing(result, sim.config)
    return {
        "strategy": result.strategy.value,
        "solver_status": result.solver_status or None,
        "placements": placements,
        "nodes": nodes,
        "placed": len(placements) - len(unplaced),
        "unschedulable": len(unplaced),
        # Graded on the final state (model.evaluator), whatever the strategy optimized.
        "total_ect_s": graded.total_ect_s,
        "mean_ect_s": graded.mean_ect_s if graded.placed else None,
        "deadline_misses": graded.deadline_misses,
        # The same final state as its pods run it: processor sharing of each node, fair
        # shares of each link (docs/model.md, "Calibration"); what ``batch`` minimizes.
        "sharing": {
            "total_ect_s": shared.total_ect_s,
            "mean_ect_s": shared.total_ect_s / shared.placed if shared.placed else None,
            "deadline_misses": shared.deadline_misses,
        },
        "skipped": sim.skipped,
    }


def format_table(doc: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`report` for people."""
    lines = [f"strategy: {doc['strategy']}", ""]
    lines.append(f"{'POD':<32} {'NODE':<18} {'SCORE':>6} {'ECT(s)':>9}  REASON")
    for p in doc["placements"]:
        node = p["node"] or "<none>"
        score = f"{p['score']:.1f}" if "score" in p else "-"
        ect = f"{p['ect_s']:.4f}" if "ect_s" in p else "-"
        lines.append(f"{p['pod']:<32} {node:<18} {score:>6} {ect:>9}  {p.get('reason') or ''}")
    lines += ["", f"{'NODE':<18} {'TIER':<6} {'CPU(m) USED/CAP':>18} {'PODS':>5}"]
    for n in doc["nodes"]:
        used = f"{n['allocated']['cpu']:.0f}/{n['capacity']['cpu']:.0f}"
        lines.append(f"{n['name']:<18} {n['tier'] or '-':<6} {used:>18} {int(n['pods']):>5}")
    lines += [
        "",
        f"placed {doc['placed']}, unschedulable {doc['unschedulable']}, "
        f"total completion time on the final state {doc['total_ect_s']:.4f}s, "
        f"deadline misses {doc['deadline_misses']}",
        f"as the pods run (sharing each node's CPU and each link): total completion time "
        f"{doc['sharing']['total_ect_s']:.4f}s, deadline misses "
        f"{doc['sharing']['deadline_misses']}",
    ]
    if doc["skipped"]:
        lines.append("skipped (not placed by a scheduler): " + ", ".join(doc["skipped"]))
    return "\n".join(lines)
