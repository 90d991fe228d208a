"""Placement quality: ``score`` against ``spread`` and ``optimal`` on the examples and on
generated cloud/edge workloads.

Every strategy is judged on the batch objective of docs/model.md: each placed pod's estimated
completion time (ECT) against the cluster as it stood before the batch
(``strategies.baseline_costs``), the very per-pod costs ``total_completion_time`` adds up.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from bench import common, workloads
from cloudedge import model, simulate
from cloudedge.model import strategies

EXAMPLES = ("seed", "video-analytics", "burst")
STRATEGIES = ("score", "spread", "optimal")
GENERATED_NODES = 50
GENERATED_PODS = 500
SEEDS = (1, 2, 3)


def generated(seed: int) -> tuple[model.ClusterState, list[model.Pod]]:
    """50 nodes and 500 pods of :mod:`bench.workloads`' distributions, from ``seed``."""
    rng = random.Random(seed)
    nodes = workloads.model_nodes(GENERATED_NODES, rng)
    cluster = model.ClusterState(nodes, topology=workloads.WAN)
    return cluster, workloads.pods(GENERATED_PODS, rng, workloads.edge_sites(nodes))


def judge(
    result: strategies.PlacementResult,
    evals: list[model.Evaluation],
) -> dict[str, Any]:
    """The numbers of one strategy on one scenario."""
    ects: list[float] = []
    misses = 0
    unplaced_deadline = 0
    for placement, ev in zip(result.placements, evals, strict=True):
        pod = placement.pod
        if placement.node is None:
            if pod.max_latency_ms is not None and "deadline" in (placement.reason or ""):
                unplaced_deadline += 1
            continue
        ect = float(ev.ect[result.base.index[placement.node]])
        ects.append(ect)
        if pod.max_latency_ms is not None and ect > pod.max_latency_ms / 1000.0 * (1 + 1e-9):
            misses += 1
    final = result.final
    util: dict[str, float] = {}
    for code, tier in ((0, "cloud"), (1, "edge")):
        mask = final.tier == code
        cap = float(final.allocatable[mask, 0].sum())
        util[tier] = float(final.used[mask, 0].sum()) / cap if cap > 0 else float("nan")
    return {
        "placed": result.placed,
        "pods": len(result.placements),
        "mean_ect_s": common.mean(ects),
        "p95_ect_s": common.percentile(ects, 95),
        "total_ect_s": float(np.sum(ects)),
        "deadline_misses": misses,
        "unplaced_deadline": unplaced_deadline,
        "util_cloud": util["cloud"],
        "util_edge": util["edge"],
        "status": result.solver_status,
    }


def compare(
    name: str,
    cluster: model.ClusterState,
    pods: list[model.Pod],
    config: model.ModelConfig,
    *,
    time_limit_s: float,
    progress: common.Progress,
) -> dict[str, Any]:
    evals = strategies.baseline_costs(pods, cluster, config)
    out: dict[str, Any] = {"scenario": name, "nodes": len(cluster), "pods": len(pods)}
    results = {}
    for strategy in STRATEGIES:
        t0 = time.perf_counter()
        result = model.place(pods, cluster, config, strategy=strategy, time_limit_s=time_limit_s)
        seconds = time.perf_counter() - t0
        results[strategy] = result
        out[strategy] = judge(result, evals) | {"seconds": seconds}
    # Pods that score and optimal both placed: their means compare like with like even when
    # one strategy places more (optimal keeps room for big pods that greedy cannot fit).
    both = [
        k
        for k, (a, b) in enumerate(
            zip(results["score"].placements, results["optimal"].placements, strict=True)
        )
        if a.node is not None and b.node is not None
    ]
    for strategy in ("score", "optimal"):
        placements = results[strategy].placements
        out[strategy]["mean_ect_common_s"] = common.mean(
            [float(evals[k].ect[cluster.index[str(placements[k].node)]]) for k in both]
        )
    # A lower bound no strategy can beat: each placed pod on its own best feasible node,
    # capacity between pods ignored. Over score's placed pods, it bounds score's mean.
    placed = [k for k, p in enumerate(results["score"].placements) if p.node is not None]
    out["score"]["mean_ect_lower_bound_s"] = common.mean(
        [float(np.min(np.where(evals[k].feasible, evals[k].ect, np.inf))) for k in placed]
    )
    out["common_pods"] = len(both)
    # Where the mean comes from: per workload, each strategy's share of the total ECT.
    by_workload: dict[str, dict[str, float]] = {}
    for strategy in STRATEGIES:
        res = results[strategy]
        for k, placement in enumerate(res.placements):
            if placement.node is None:
                continue
            w = placement.pod.workload.value
            ect = float(evals[k].ect[cluster.index[placement.node]])
            by_workload.setdefault(w, {}).setdefault(strategy, 0.0)
            by_workload[w][strategy] += ect
    out["total_ect_by_workload"] = by_workload
    out["same_node_score_spread"] = sum(
        1
        for a, b in zip(results["score"].placements, results["spread"].placements, strict=True)
        if a.node is not None and a.node == b.node
    )
    o, s, sp = out["optimal"], out["score"], out["spread"]
    progress(
        f"quality: {name}: mean ECT score {s['mean_ect_s']:.3f}s, optimal "
        f"{o['mean_ect_s']:.3f}s ({o['status']}, {o['seconds']:.1f}s), spread "
        f"{sp['mean_ect_s']:.3f}s; placed {s['placed']}/{o['placed']}/{sp['placed']}"
    )
    return out


def run(progress: common.Progress, *, quick: bool) -> tuple[common.Numbers, dict[str, Any]]:
    time_limit = 5.0 if quick else 30.0
    rows = []
    for name in EXAMPLES:
        if name == "seed":
            files = simulate.scenario_files("seed")
        else:
            files = [
                common.REPO_ROOT / "examples" / name / "nodes.yaml",
                common.REPO_ROOT / "examples" / name / "workloads.yaml",
            ]
        sim = simulate.build(files)
        rows.append(
            compare(
                name, sim.cluster, sim.pods, sim.config, time_limit_s=time_limit, progress=progress
            )
        )
    for seed in SEEDS[:1] if quick else SEEDS:
        cluster, pods = generated(seed)
        rows.append(
            compare(
                f"generated-{seed}",
                cluster,
                pods,
                model.ModelConfig(),
                time_limit_s=time_limit,
                progress=progress,
            )
        )
    numbers: common.Numbers = {}
    for row in rows:
        key = row["scenario"].replace("-", "_")
        for strategy in STRATEGIES:
            r = row[strategy]
            p = f"quality_{key}_{strategy}"
            numbers[f"{p}_mean_ect_seconds"] = round(r["mean_ect_s"], 5)
            numbers[f"{p}_p95_ect_seconds"] = round(r["p95_ect_s"], 5)
            numbers[f"{p}_pods_placed"] = float(r["placed"])
            numbers[f"{p}_deadline_misses"] = float(r["deadline_misses"])
            numbers[f"{p}_unplaced_for_deadline"] = float(r["unplaced_deadline"])
            numbers[f"{p}_cloud_cpu_utilization_ratio"] = round(r["util_cloud"], 4)
            numbers[f"{p}_edge_cpu_utilization_ratio"] = round(r["util_edge"], 4)
        numbers[f"quality_{key}_optimal_solve_seconds"] = round(row["optimal"]["seconds"], 2)
        numbers[f"quality_{key}_score_vs_optimal_mean_ect_ratio"] = round(
            row["score"]["mean_ect_s"] / row["optimal"]["mean_ect_s"], 4
        )
        numbers[f"quality_{key}_score_vs_optimal_common_pods_mean_ect_ratio"] = round(
            row["score"]["mean_ect_common_s"] / row["optimal"]["mean_ect_common_s"], 4
        )
        numbers[f"quality_{key}_score_vs_lower_bound_mean_ect_ratio"] = round(
            row["score"]["mean_ect_s"] / row["score"]["mean_ect_lower_bound_s"], 4
        )
        numbers[f"quality_{key}_optimal_proven"] = float(row["optimal"]["status"] == "optimal")
        numbers[f"quality_{key}_score_vs_spread_mean_ect_ratio"] = round(
            row["score"]["mean_ect_s"] / row["spread"]["mean_ect_s"], 4
        )
    return numbers, {"rows": rows, "time_limit_s": time_limit, "quick": quick}
