"""The scoring core: one pod against 100 to 5,000 nodes, a bare numpy kernel, and ``optimal``.

``model.evaluate`` is timed the way the live scheduler calls it (``ClusterView.decide``: no
prebuilt term set, usage changed by the previous decision), next to a kernel that computes the
same four terms and weighted score for one pod over the same arrays in plain numpy, without
filters or Python objects. Both are timed alternately in one loop, so machine noise hits both.
"""

from __future__ import annotations

import copy
import cProfile
import dataclasses
import json
import math
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import common, workloads
from cloudedge import model
from cloudedge.cluster.view import ClusterView
from cloudedge.model import filters, terms
from cloudedge.model import state as state_mod

SEED = 20240701
NODE_COUNTS = (100, 1000, 5000)
OPTIMAL_PODS = (25, 50, 100)
OPTIMAL_NODES = 100
POD_VARIETY = 64
"""Distinct pods cycled through (all workloads, 8+ data sources): caches see a real mix."""
RESET_EVERY = 200
"""Decisions before the cluster is reset to its starting usage (it would fill up otherwise)."""
TARGET_US = 100.0
TARGET_KERNEL_RATIO = 3.0

FloatArray = npt.NDArray[np.float64]


@dataclasses.dataclass
class KernelInput:
    """Everything the bare kernel reads for one pod, prepared outside the timing."""

    req: FloatArray
    cost: float
    size_mb: float
    latency_s: FloatArray | None
    link_bw: FloatArray | None
    on_node: npt.NDArray[np.bool_] | None
    source_bw: float
    weights: tuple[float, float, float, float, float]


def kernel_input(
    pod: model.Pod, state: state_mod.ClusterState, cfg: model.ModelConfig
) -> KernelInput:
    view = state.source_view(pod.data_source) if pod.data_source else None
    return KernelInput(
        req=np.array([pod.requests.cpu, pod.requests.memory], dtype=np.float64),
        cost=pod.compute_cost,
        size_mb=pod.data_size_mb,
        latency_s=view.latency_s if view else None,
        link_bw=view.link_bw if view else None,
        on_node=view.on_node if view else None,
        source_bw=view.source_bw if view else math.nan,
        weights=tuple(  # type: ignore[arg-type]
            cfg.weights(pod.workload)[name]
            for name in ("transfer", "waiting", "processing", "capacity", "congestion")
        ),
    )


def kernel(k: KernelInput, state: state_mod.ClusterState) -> int:
    """Transfer, waiting, processing, capacity, congestion and the weighted score, in bare
    numpy."""
    w0, w1, w2, w3, w4 = k.weights
    if k.latency_s is not None and k.link_bw is not None and k.on_node is not None:
        rate = np.minimum(state.bandwidth, k.link_bw)
        if not math.isnan(k.source_bw):
            rate = np.minimum(rate, k.source_bw)
        transfer = np.where(k.on_node, 0.0, k.latency_s + k.size_mb * 8.0 / rate)
    else:
        transfer = np.zeros(len(state.bandwidth))
    inv = state.inv_allocatable
    cpu = (state.usage[0] + k.req[0]) * inv[0]
    mem = (state.usage[1] + k.req[1]) * inv[1]
    rho = np.minimum(np.maximum(cpu, mem), 0.99)
    processing = k.cost / state.compute_rate
    service = processing if k.cost > 0 else 0.1
    waiting = service * rho / (1.0 - rho)
    leftover = np.maximum(1.0 - (cpu + mem) * 0.5, 0.0)
    queued = state.resident_work / state.compute_rate + state.resident_plain * 0.1
    now = np.minimum(np.maximum(state.usage[0] * inv[0], state.usage[1] * inv[1]), 0.99)
    congestion = queued * np.maximum(rho / (1.0 - rho) - now / (1.0 - now), 0.0)
    wt = w0 + w1 + w2
    weighted = (w0 * transfer + w1 * waiting + w2 * processing + w4 * congestion) / wt
    goodness = (weighted.min() + 0.001) / (weighted + 0.001)
    score = 100.0 * (wt * goodness + w3 * (1.0 - leftover)) / (wt + w3)
    return int(np.argmax(score))


def time_scoring(n_nodes: int, reps: int, progress: common.Progress) -> dict[str, Any]:
    """p50/p99/mean of ``evaluate`` and of the kernel on ``n_nodes`` nodes, interleaved."""
    rng = random.Random(SEED + n_nodes)
    nodes = workloads.model_nodes(n_nodes, rng, used_fraction=0.5)
    base = model.ClusterState(nodes, topology=workloads.WAN)
    cfg = model.ModelConfig()
    pods = workloads.pods(POD_VARIETY, rng, workloads.edge_sites(nodes))
    warmup = min(100, reps)
    state = base.copy()
    model_ns: list[float] = []
    kernel_ns: list[float] = []
    agree = 0
    clock = time.perf_counter_ns
    for r in range(warmup + reps):
        if r % RESET_EVERY == 0:
            state = base.copy()
        pod = pods[r % len(pods)]
        kin = kernel_input(pod, state, cfg)
        t0 = clock()
        k_best = kernel(kin, state)
        t1 = clock()
        ev = model.evaluate(pod, state, cfg)
        best = ev.best()
        t2 = clock()
        if r >= warmup:
            kernel_ns.append(t1 - t0)
            model_ns.append(t2 - t1)
            agree += int(best == k_best)
        if best is not None:
            state.assign(pod.requests, best)  # the next decision sees a changed cluster
    out: dict[str, Any] = {"nodes": n_nodes, "reps": reps, "agree": agree / reps}
    for name, ns in (("model", model_ns), ("kernel", kernel_ns)):
        us = [v / 1000.0 for v in ns]
        out[name] = {
            "p50": common.percentile(us, 50),
            "p99": common.percentile(us, 99),
            "mean": common.mean(us),
        }
    out["ratio_p50"] = out["model"]["p50"] / out["kernel"]["p50"]
    progress(
        f"core: {n_nodes} nodes: evaluate p50 {out['model']['p50']:.1f} us, "
        f"kernel p50 {out['kernel']['p50']:.1f} us ({reps} reps)"
    )
    return out


def profile_evaluate(n_nodes: int, reps: int, p50_us: float) -> list[dict[str, Any]]:
    """cProfile of ``evaluate`` on ``n_nodes``: the functions that take the time, per call.

    Times under the profiler are inflated by its per-call overhead, so each function's share of
    the profiled total is also scaled to the unprofiled p50 (``est_us``).
    """
    rng = random.Random(SEED + n_nodes)
    nodes = workloads.model_nodes(n_nodes, rng, used_fraction=0.5)
    base = model.ClusterState(nodes, topology=workloads.WAN)
    cfg = model.ModelConfig()
    pods = workloads.pods(POD_VARIETY, rng, workloads.edge_sites(nodes))
    state = base.copy()
    for pod in pods:  # warm the source caches outside the profile
        model.evaluate(pod, state, cfg)
    prof = cProfile.Profile()
    for r in range(reps):
        if r % RESET_EVERY == 0:
            state = base.copy()
        pod = pods[r % len(pods)]
        prof.enable()
        ev = model.evaluate(pod, state, cfg)
        best = ev.best()
        prof.disable()
        if best is not None:
            state.assign(pod.requests, best)
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    rows = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        where = path.split("/site-packages/")[-1].split("/operator/")[-1]
        rows.append(
            {
                "function": f"{func} ({where}:{line})" if line else func,
                "calls_per_eval": ncalls / reps,
                "tottime_us": tottime / reps * 1e6,
                "cumtime_us": cumtime / reps * 1e6,
                "share": tottime / total,
                "est_us": tottime / total * p50_us,
            }
        )
    rows.sort(key=lambda row: row["tottime_us"], reverse=True)
    return rows[:15]


STAGES = (
    "filters.static_filters",
    "filters.resource_filter",
    "TransferTime.compute",
    "WaitingTime.compute",
    "ProcessingTime.compute",
    "CapacityFit.compute",
    "terms.time_goodness",
    "Evaluation.best",
)


def stage_breakdown(n_nodes: int, reps: int) -> dict[str, Any]:
    """Median us of each model function ``evaluate`` calls, each called alone as it calls it.

    Per decision: the stages in evaluate's order on a fresh usage version (so the utilization
    memo is computed by the waiting term, as in evaluate), then the whole ``evaluate`` +
    ``best`` on another fresh version. What ``evaluate`` costs beyond the sum of its stages
    is its own inline code (the deadline filter, the score formula, allocations).
    """
    rng = random.Random(SEED + n_nodes)
    nodes = workloads.model_nodes(n_nodes, rng, used_fraction=0.5)
    base = model.ClusterState(nodes, topology=workloads.WAN)
    cfg = model.ModelConfig()
    pods = workloads.pods(POD_VARIETY, rng, workloads.edge_sites(nodes))
    state = base.copy()
    for pod in pods:
        model.evaluate(pod, state, cfg)
    clock = time.perf_counter_ns
    term_set = terms.build_terms(cfg)  # evaluate builds them once per configuration too
    samples: dict[str, list[float]] = {name: [] for name in (*STAGES, "evaluate + best")}
    for r in range(reps):
        if r % RESET_EVERY == 0:
            state = base.copy()
        pod = pods[r % len(pods)]
        state.version += 1
        t = [clock()]
        result = filters.static_filters(pod, state)
        t.append(clock())
        filters.resource_filter(pod, state, result)
        t.append(clock())
        columns: list[Any] = []
        t.append(clock())
        for term in term_set[:4]:  # the seed's four terms, in evaluate's order
            columns.append(term.compute(pod, state, feasible=result.feasible))
            t.append(clock())
        profile = cfg.weights(pod.workload)
        t0 = clock()
        terms.time_goodness(
            [(profile[t.name], c) for t, c in zip(term_set[:3], columns, strict=False)],
            result.feasible,
            len(state),
        )
        t.extend([t0, clock()])
        state.version += 1
        t1 = clock()
        ev = model.evaluate(pod, state, cfg)
        t2 = clock()
        best = ev.best()
        t3 = clock()
        spans = [t[1] - t[0], t[2] - t[1]]
        spans += [t[4] - t[3], t[5] - t[4], t[6] - t[5], t[7] - t[6]]
        spans += [t[9] - t[8], t3 - t2]
        for name, ns in zip(STAGES, spans, strict=True):
            samples[name].append(ns / 1000.0)
        samples["evaluate + best"].append((t3 - t1) / 1000.0)
        if best is not None:
            state.assign(pod.requests, best)
    medians = {name: common.percentile(v, 50) for name, v in samples.items()}
    staged = sum(medians[name] for name in STAGES)
    medians["evaluate's own code (total - stages)"] = medians["evaluate + best"] - staged
    return {"nodes": n_nodes, "reps": reps, "median_us": medians}


IDIOMS = (
    (
        "ECT of every node (`Evaluation.best`, the deadline filter)",
        "raw[:, :3].sum(axis=1)",
        "transfer + waiting + processing",
    ),
    (
        "fit test (`filters.resource_filter`)",
        "used_n + req > fit_n",
        "usage + req_col > fit",
    ),
    (
        "any short resource per node (`filters.resource_filter`)",
        "short_n.any(axis=1)",
        "short[0] | short[1] | short[2]",
    ),
    (
        "utilization after placement (`terms.utilization_after`)",
        "(used_n[:, :2] + req[:2]) * inv_n",
        "((usage[0] + req[0]) * inv[0], (usage[1] + req[1]) * inv[1])",
    ),
    (
        "transfer time (`terms.TransferTime`)",
        "np.where(on_node, 0.0, lat + size * 8.0 / np.minimum(np.minimum(bw, link), src))",
        "lat0 + size * per_mb",
    ),
    (
        "best score (`Evaluation.best`)",
        "np.flatnonzero(feasible & (scores >= scores[feasible].max() - 1e-9))",
        "np.count_nonzero(scores >= scores[scores.argmax()] - 1e-9)",
    ),
)
"""The forms the model used before this page's "before" run (node-major n x 3 state, an n x 4
term matrix) next to the forms it uses now (resource-major 3 x n state, one array per term,
per-source transfer coefficients cached), timed on the same 1,000-node state in this run."""

BEFORE: dict[str, Any] = {
    "commit": "7f22f69",
    "date": "2026-11-25",
    "evaluate_p50_us": 226.0,
    "kernel_p50_us": 67.0,
    "ratio_p50": 3.37,
    "load": "2-13",
}
"""The scoring core on 1,000 nodes as the previous page recorded it (same machine, same
benchmark, before the changes the idiom table measures)."""


def idioms(n_nodes: int) -> list[dict[str, Any]]:
    """Minimum of repeated timings (us) of each former idiom and its current form."""
    rng = random.Random(SEED + n_nodes)
    state = model.ClusterState(
        workloads.model_nodes(n_nodes, rng, used_fraction=0.5), topology=workloads.WAN
    )
    gen = np.random.default_rng(1)
    req = np.array([250.0, 512 * 2.0**20, 1.0])
    view = state.source_view(state.names[0])
    scores = gen.random(n_nodes) * 100
    feasible = gen.random(n_nodes) > 0.2
    scores[~feasible] = 0.0
    env: dict[str, Any] = {
        "np": np,
        "raw": gen.random((n_nodes, 4)),
        "transfer": gen.random(n_nodes),
        "waiting": gen.random(n_nodes),
        "processing": gen.random(n_nodes),
        "used_n": np.ascontiguousarray(state.usage.T),
        "fit_n": np.ascontiguousarray(state.allocatable_fit.T),
        "inv_n": np.ascontiguousarray(state.inv_allocatable.T),
        "usage": state.usage,
        "fit": state.allocatable_fit,
        "inv": state.inv_allocatable,
        "req": req,
        "req_col": req.reshape(-1, 1),
        "on_node": view.on_node,
        "lat": view.latency_s,
        "bw": state.bandwidth,
        "link": view.link_bw,
        "src": view.source_bw,
        "size": 2.5,
        "lat0": np.where(view.on_node, 0.0, view.latency_s),
        "per_mb": np.where(view.on_node, 0.0, 8.0 / np.minimum(state.bandwidth, view.link_bw)),
        "scores": scores,
        "feasible": feasible,
    }
    env["short_n"] = env["used_n"] + req > env["fit_n"]
    env["short"] = state.usage + env["req_col"] > state.allocatable_fit
    rows = []
    for what, before, now in IDIOMS:
        times = []
        for stmt in (before, now):
            best = min(timeit.repeat(stmt, globals=env, number=500, repeat=5)) / 500 * 1e6
            times.append(best)
        rows.append({"what": what, "model": before, "alternative": now, "us": times})
    return rows


def time_optimal(n_pods: int, progress: common.Progress, time_limit_s: float) -> dict[str, Any]:
    """Wall time of ``optimal`` (and ``score``) for ``n_pods`` pods on 100 nodes."""
    rng = random.Random(SEED + 7 * n_pods)
    nodes = workloads.model_nodes(OPTIMAL_NODES, rng, used_fraction=0.5)
    cluster = model.ClusterState(nodes, topology=workloads.WAN)
    pods = workloads.pods(n_pods, rng, workloads.edge_sites(nodes))
    cfg = model.ModelConfig()
    t0 = time.perf_counter()
    greedy = model.place(pods, cluster, cfg, strategy="score")
    t1 = time.perf_counter()
    best = model.place(pods, cluster, cfg, strategy="optimal", time_limit_s=time_limit_s)
    t2 = time.perf_counter()
    progress(
        f"core: optimal {n_pods} pods x {OPTIMAL_NODES} nodes: {t2 - t1:.2f} s "
        f"({best.solver_status}), score {t1 - t0:.3f} s"
    )
    return {
        "pods": n_pods,
        "nodes": OPTIMAL_NODES,
        "optimal_s": t2 - t1,
        "score_s": t1 - t0,
        "status": best.solver_status,
        "placed_optimal": best.placed,
        "placed_score": greedy.placed,
        "time_limit_s": time_limit_s,
    }


CONSTRAINED_APPS = 10
"""Distinct app labels among the placed and the evaluated pods of ``time_constrained``."""


def time_constrained(n_nodes: int, reps: int, progress: common.Progress) -> dict[str, Any]:
    """p50 of ``evaluate`` for pods with a required hostname anti-affinity and a zone spread
    (DoNotSchedule) on ``n_nodes`` nodes holding two labelled pods each, beside the same pods
    without those constraints: what the inter-pod filters cost."""
    rng = random.Random(SEED + n_nodes + 1)
    zone, host = "topology.kubernetes.io/zone", "kubernetes.io/hostname"
    nodes = [
        dataclasses.replace(nd, labels={host: nd.name, zone: f"zone-{i % 8}"})
        for i, nd in enumerate(workloads.model_nodes(n_nodes, rng, used_fraction=0.3))
    ]
    plain = workloads.pods(POD_VARIETY, rng, workloads.edge_sites(nodes))
    placed = [
        (model.Pod(name=f"placed-{k}", uid=f"placed-{k}", labels={"app": f"app-{k % 10}"}), nd.name)
        for k, nd in enumerate(nodes * 2)
    ]
    base = model.ClusterState(nodes, topology=workloads.WAN, placed=placed)
    cfg = model.ModelConfig()

    def constrained(pod: model.Pod, k: int) -> model.Pod:
        app = f"app-{k % CONSTRAINED_APPS}"
        selector = model.LabelSelector(match_labels={"app": app})
        term = model.PodAffinityTerm(host, selector, frozenset({pod.namespace}))
        spread = model.SpreadConstraint(max_skew=n_nodes, topology_key=zone, selector=selector)
        return dataclasses.replace(
            pod, labels={"app": app}, anti_affinity=(term,), spread=(spread,)
        )

    variants = {
        "plain": plain,
        "anti_affinity_and_spread": [constrained(p, k) for k, p in enumerate(plain)],
    }
    out: dict[str, Any] = {"nodes": n_nodes, "reps": reps, "placed": len(placed)}
    clock = time.perf_counter_ns
    for name, pods in variants.items():
        state = base.copy()
        us: list[float] = []
        for r in range(reps):
            if r % RESET_EVERY == 0:
                state = base.copy()
            pod = dataclasses.replace(pods[r % len(pods)], uid=f"r{r}")
            t0 = clock()
            best = model.evaluate(pod, state, cfg).best()
            us.append((clock() - t0) / 1000.0)
            if best is not None:
                state.assign(pod, best)
        out[name] = {"p50": common.percentile(us, 50), "p99": common.percentile(us, 99)}
    progress(
        f"core: {n_nodes} nodes, {len(placed)} placed pods: evaluate p50 "
        f"{out['plain']['p50']:.1f} us plain, "
        f"{out['anti_affinity_and_spread']['p50']:.1f} us with anti-affinity and spread"
    )
    return out


def time_node_change(
    n_nodes: int, n_pods: int, reps: int, progress: common.Progress
) -> dict[str, Any]:
    """What one node's relabel costs the live view (``ClusterView.upsert_node`` then the state
    the next decision reads) on ``n_nodes`` kwok-like nodes holding ``n_pods`` bound pods:
    in place (``ClusterState.with_node``) against the state built again from every node and
    pod, which was the only path before, timed alternately."""
    rng = random.Random(SEED + n_nodes + 2)
    objects = workloads.kube_nodes(n_nodes, rng)
    sites = sorted({str(o["metadata"]["labels"]["cloudedge.io/site"]) for o in objects})
    pods = [
        {
            "metadata": {
                "name": f"bench-{k:05d}",
                "namespace": "default",
                "uid": f"uid-{k}",
                "labels": {"app": "cloudedge-bench"},
                "annotations": {
                    "cloudedge.io/data-source": sites[k % len(sites)],
                    "cloudedge.io/data-size-mb": "2",
                    "cloudedge.io/compute-cost": "200",
                },
            },
            "spec": {
                "nodeName": objects[k % n_nodes]["metadata"]["name"],
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}],
            },
            "status": {"phase": "Running"},
        }
        for k in range(n_pods)
    ]
    view = ClusterView()
    view.replace_nodes(objects)
    view.replace_pods(pods)
    view.state()
    clock = time.perf_counter_ns
    ms: dict[str, list[float]] = {"in_place": [], "rebuilt": []}
    for r in range(reps):
        obj = copy.deepcopy(objects[r % n_nodes])
        obj["metadata"]["labels"]["bench.cloudedge.io/round"] = str(r)
        for way in ("in_place", "rebuilt") if r % 2 == 0 else ("rebuilt", "in_place"):
            t0 = clock()
            view.upsert_node(obj)
            if way == "rebuilt":
                view._state = None  # the path every node change took before with_node
            view.state()
            ms[way].append((clock() - t0) / 1e6)
            obj["metadata"]["labels"]["bench.cloudedge.io/round"] += "x"
    out: dict[str, Any] = {"nodes": n_nodes, "pods": n_pods, "reps": reps}
    for way, values in ms.items():
        out[way] = {"p50": common.percentile(values, 50), "p99": common.percentile(values, 99)}
    progress(
        f"core: a node relabelled on {n_nodes} nodes with {n_pods} pods: p50 "
        f"{out['in_place']['p50']:.3f} ms in place, {out['rebuilt']['p50']:.1f} ms rebuilt"
    )
    return out


REFERENCE_COMMIT = "a299fc9"
"""The scoring core before named resource vectors, kube's preference terms, the term registry
and the locality reserve: the reference its no-slowdown target (within 10%) is measured against."""
REFERENCE_TARGET = 1.10

_TIME_ONE_TREE = """
import json, sys
from bench import core
r = core.time_scoring(int(sys.argv[1]), int(sys.argv[2]), lambda *a, **k: None)
m, k = r["model"]["p50"], r["kernel"]["p50"]
print(json.dumps({"ratio": r["ratio_p50"], "model": m, "kernel": k}))
"""


def _reference_tree(commit: str) -> Path:
    """The files of ``commit`` (``git archive``), extracted once into the cache: no worktree,
    nothing written to the repository."""
    repo = Path(__file__).resolve().parents[1]
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cache = Path(os.environ.get("CACHE_DIR") or Path.home() / ".cache" / "cloudedge")
    tree = cache / "bench" / f"reference-{sha[:12]}"
    if not (tree / "bench" / "core.py").is_file():
        partial = tree.with_name(tree.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", sha, "operator", "bench"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        shutil.rmtree(tree, ignore_errors=True)
        partial.rename(tree)
    return tree


def _time_tree(tree: Path, n_nodes: int, reps: int) -> dict[str, float]:
    """``time_scoring`` of the scoring core in ``tree``, in a process of its own."""
    env = {k: v for k, v in os.environ.items() if k not in common.BLAS_ENV}
    env["PYTHONPATH"] = f"{tree / 'operator'}{os.pathsep}{tree}"
    out = subprocess.run(
        [sys.executable, "-c", _TIME_ONE_TREE, str(n_nodes), str(reps)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def compare_reference(
    progress: common.Progress, *, rounds: int, reps: int, commit: str = REFERENCE_COMMIT
) -> dict[str, Any] | None:
    """The evaluate/kernel p50 ratio on 1,000 nodes of this tree and of ``commit``, timed in
    alternation (reference, current, reference, ...) so that both see the same machine load;
    the kernel is the same code in both, so the ratio of the two medians is the change in the
    scoring core's own cost. None when ``commit`` is not in this clone (a shallow one)."""
    try:
        reference = _reference_tree(commit)
    except (OSError, subprocess.CalledProcessError) as err:
        progress(f"core: reference {commit} not available ({err}); comparison skipped")
        return None
    current = Path(__file__).resolve().parents[1]
    runs: dict[str, list[dict[str, float]]] = {"reference": [], "current": []}
    for k in range(rounds):
        for name, tree in (("reference", reference), ("current", current)):
            runs[name].append(_time_tree(tree, 1000, reps))
        progress(
            f"core: vs {commit}, round {k + 1}/{rounds}: ratio "
            f"{runs['reference'][-1]['ratio']:.3f} (reference) "
            f"{runs['current'][-1]['ratio']:.3f} (current)"
        )
    med = {
        name: {key: statistics.median(r[key] for r in rs) for key in ("ratio", "model", "kernel")}
        for name, rs in runs.items()
    }
    return {
        "commit": commit,
        "rounds": rounds,
        "reps": reps,
        "runs": runs,
        "median": med,
        "change": med["current"]["ratio"] / med["reference"]["ratio"],
    }


def run(progress: common.Progress, *, quick: bool) -> tuple[common.Numbers, dict[str, Any]]:
    """All core timings; flat numbers for the JSON and the detail for the page."""
    reps = {100: 500, 1000: 500, 5000: 200} if quick else {100: 5000, 1000: 5000, 5000: 1500}
    scoring = [time_scoring(n, reps[n], progress) for n in NODE_COUNTS]
    at_1000 = next(s for s in scoring if s["nodes"] == 1000)
    progress("core: profiling evaluate on 1000 nodes (cProfile, then stage by stage)")
    profile = profile_evaluate(1000, 300 if quick else 2000, at_1000["model"]["p50"])
    stages = stage_breakdown(1000, 500 if quick else 3000)
    idiom_rows = idioms(1000)
    constrained = time_constrained(1000, 200 if quick else 1000, progress)
    node_change = time_node_change(1000, 5000, 20 if quick else 100, progress)
    time_limit = 10.0
    optimal = [time_optimal(p, progress, time_limit) for p in OPTIMAL_PODS]
    reference = compare_reference(progress, rounds=2 if quick else 8, reps=500 if quick else 2000)
    numbers: common.Numbers = {}
    for s in scoring:
        n = s["nodes"]
        for what in ("model", "kernel"):
            prefix = "core_score" if what == "model" else "core_numpy_kernel"
            for stat in ("p50", "p99", "mean"):
                numbers[f"{prefix}_{n}_nodes_us_{stat}"] = round(s[what][stat], 2)
        numbers[f"core_score_{n}_nodes_kernel_ratio_p50"] = round(s["ratio_p50"], 3)
    for o in optimal:
        numbers[f"core_optimal_{o['pods']}_pods_{o['nodes']}_nodes_seconds"] = round(
            o["optimal_s"], 3
        )
        numbers[f"core_greedy_{o['pods']}_pods_{o['nodes']}_nodes_seconds"] = round(o["score_s"], 4)
        numbers[f"core_optimal_{o['pods']}_pods_{o['nodes']}_nodes_proven_optimal"] = float(
            o["status"] == "optimal"
        )
    for variant in ("plain", "anti_affinity_and_spread"):
        for stat in ("p50", "p99"):
            value = round(constrained[variant][stat], 2)
            numbers[f"core_constrained_{variant}_1000_nodes_us_{stat}"] = value
    for way in ("in_place", "rebuilt"):
        for stat in ("p50", "p99"):
            value = round(node_change[way][stat], 3)
            numbers[f"core_view_node_change_{way}_1000_nodes_5000_pods_ms_{stat}"] = value
    if reference is not None:
        numbers["core_score_1000_nodes_vs_reference_ratio_p50"] = round(reference["change"], 3)
    for name, us in stages["median_us"].items():
        key = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        while "__" in key:
            key = key.replace("__", "_")
        numbers[f"core_stage_{key}_1000_nodes_us_p50"] = round(us, 2)
    detail = {
        "scoring": scoring,
        "profile": profile,
        "stages": stages,
        "idioms": idiom_rows,
        "optimal": optimal,
        "constrained": constrained,
        "node_change": node_change,
        "reference": reference,
        "quick": quick,
    }
    return numbers, detail
