"""Joint solve time: what one batch costs the live binder (``--placement batch``).

Wall-clock time is what a batch waits; on a shared machine it also counts the time other
processes held the CPU, so the CPU time of the solving process is reported beside it.

The live binder calls :func:`cloudedge.model.strategies.plan_batch` once per batch, on a
snapshot of its view. Here it is timed on batches of 500 generated pods (``bench.workloads``)
against one cluster of 1,000 nodes, half full on average, one new batch after the other, as
a burst cut into batches of ``--batch-max`` 500 would arrive. The cluster's per-source caches
(latency and bandwidth from each data source) are shared by its snapshots, as in the live
view, so only the first batch pays for them: both the first batch and the rest are reported.

Each batch's placement is graded against greedy's (``score``) on the same batch on its final
state, so that speed is never bought with quality unseen: pods on time by the deadline
filter's (queueing) reading, total completion by the sharing reading the solver minimizes.
"""

from __future__ import annotations

import gc
import random
import time
from typing import Any

from bench import common, workloads
from cloudedge import memory, model
from cloudedge.model import evaluator, strategies

PODS = 500
NODES = 1000
BATCHES = 100
"""Enough that the p99 is a percentile: of 20 batches it was the slowest one."""
QUICK_BATCHES = 4
SEED = 20261129
TARGET_P99_S = 0.2


class GcClock:
    """A ``gc.callbacks`` hook: seconds Python's cyclic collector ran, per generation.

    The solve holds the collector off (:func:`cloudedge.model.batch.no_cyclic_gc`); a
    collection that comes due meanwhile runs as soon as the hold ends, still inside the call
    the binder times, so the page says how much of each batch's time it was.
    """

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started


def _batch(
    k: int,
    rng: random.Random,
    sites: list[str],
    cluster: model.ClusterState,
    config: model.ModelConfig,
    collections: GcClock,
    progress: common.Progress,
) -> dict[str, Any]:
    """Time one batch's ``plan_batch`` and grade it against greedy's on the same batch."""
    pods = workloads.pods(PODS, rng, sites, prefix=f"b{k}-")
    before = list(collections.seconds)
    t0, c0 = time.perf_counter(), time.process_time()
    plan = strategies.plan_batch(pods, cluster, config)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    gc_seconds = [after - was for after, was in zip(collections.seconds, before, strict=True)]
    joint = evaluator.grade(pods, plan.nodes, cluster, config)
    greedy_result = strategies.place_greedy(pods, cluster, config)
    greedy = strategies.grade(greedy_result, config)
    problem = evaluator.Problem(pods, cluster, config)
    joint_shared = evaluator.grade_sharing(
        problem, [None if n is None else cluster.index[n] for n in plan.nodes]
    )
    greedy_shared = strategies.grade_sharing(greedy_result, config)
    progress(
        f"solve: batch {k}: {seconds * 1000:.0f} ms ({cpu * 1000:.0f} ms CPU), "
        f"on time {joint.on_time} (greedy {greedy.on_time}), "
        f"total completion {joint_shared.total_ect_s:.1f}s "
        f"(greedy {greedy_shared.total_ect_s:.1f}s)"
    )
    return {
        "batch": k,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "gc_seconds": sum(gc_seconds),
        "gc_full_seconds": gc_seconds[2],
        "placed": joint.placed,
        "on_time": joint.on_time,
        "greedy_placed": greedy.placed,
        "greedy_on_time": greedy.on_time,
        "total_ect_s": joint.total_ect_s,
        "greedy_total_ect_s": greedy.total_ect_s,
        "sharing_total_s": joint_shared.total_ect_s,
        "greedy_sharing_total_s": greedy_shared.total_ect_s,
        "status": plan.solve.status if plan.solve else "greedy",
    }


def run(progress: common.Progress, *, quick: bool) -> tuple[common.Numbers, dict[str, Any]]:
    rng = random.Random(SEED)
    config = model.ModelConfig()
    nodes = workloads.model_nodes(NODES, rng, used_fraction=0.5)
    cluster = model.ClusterState(nodes, topology=workloads.WAN)
    sites = workloads.edge_sites(nodes)
    # What `cloudedge run` does: at its start, and once its cluster view is synced.
    memory.keep_freed_memory()
    memory.freeze_survivors()
    rows: list[dict[str, Any]] = []
    collections = GcClock()
    gc.callbacks.append(collections)
    try:
        for k in range(QUICK_BATCHES if quick else BATCHES):
            rows.append(_batch(k, rng, sites, cluster, config, collections, progress))
    finally:
        gc.callbacks.remove(collections)
    warm = [r["seconds"] for r in rows[1:]] or [rows[0]["seconds"]]
    every = [r["seconds"] for r in rows]
    cpu_every = [r["cpu_seconds"] for r in rows]
    numbers: common.Numbers = {
        "solve_500_pods_1000_nodes_p50_seconds": round(common.percentile(every, 50), 4),
        "solve_500_pods_1000_nodes_p99_seconds": round(common.percentile(every, 99), 4),
        "solve_500_pods_1000_nodes_first_batch_seconds": round(rows[0]["seconds"], 4),
        "solve_500_pods_1000_nodes_warm_p99_seconds": round(common.percentile(warm, 99), 4),
        "solve_500_pods_1000_nodes_cpu_p50_seconds": round(common.percentile(cpu_every, 50), 4),
        "solve_500_pods_1000_nodes_cpu_p99_seconds": round(common.percentile(cpu_every, 99), 4),
        "solve_500_pods_1000_nodes_batches": float(len(rows)),
        "solve_500_pods_1000_nodes_on_time_minus_greedy_min": float(
            min(r["on_time"] - r["greedy_on_time"] for r in rows)
        ),
        "solve_500_pods_1000_nodes_total_ect_vs_greedy_max_ratio": round(
            max(r["total_ect_s"] / r["greedy_total_ect_s"] for r in rows), 4
        ),
        "solve_500_pods_1000_nodes_sharing_total_vs_greedy_max_ratio": round(
            max(r["sharing_total_s"] / r["greedy_sharing_total_s"] for r in rows), 4
        ),
    }
    detail = {"rows": rows, "pods": PODS, "nodes": NODES, "target_p99_s": TARGET_P99_S}
    return numbers, detail | {"quick": quick}
