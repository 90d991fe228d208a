"""Live burst: greedy and batch placement side by side on one kwok cluster, in the same run.

One kwokctl cluster (``cloudedge-bench-burst``) of generated nodes (``bench.workloads``); the
same burst of annotated pods is created at once (16 threads) for each binder in turn, each in
a namespace of its own that is deleted before the next run, so every binder starts from the
same empty cluster:

* kube-scheduler alone (pods without ``schedulerName``), the reference for pod latency;
* ``cloudedge run --placement greedy`` (the default);
* ``cloudedge run --placement batch`` with each window of :data:`WINDOWS`, ``--batch-max``
  500.

For each pod the bench records when its create call returned and when its watch first saw
``spec.nodeName``: pods per second is N / (last bound - first create), latency is bound minus
created. These numbers choose the defaults of ``--placement`` and ``--batch-window``.
"""

from __future__ import annotations

import math
import urllib.request
from typing import Any

from kubernetes import client as k8s

from bench import common, e2e
from cloudedge.cluster import client as ce_client

CLUSTER = "cloudedge-bench-burst"
NODES, PODS = 500, 2000
QUICK_NODES, QUICK_PODS = 50, 100
WINDOWS = (0.1, 1.0)
BATCH_MAX = 500
BATCH_METRICS = ("cloudedge_batch_size_pods", "cloudedge_batch_solve_duration_seconds")


def binders() -> list[tuple[str, list[str] | None]]:
    """Label and ``cloudedge run`` flags of each binder (None: kube-scheduler)."""
    out: list[tuple[str, list[str] | None]] = [
        ("kube-scheduler", None),
        ("greedy", ["--placement", "greedy"]),
    ]
    for window in WINDOWS:
        flags = ["--placement", "batch", "--batch-window", str(window)]
        out.append((f"batch-{window:g}s", [*flags, "--batch-max", str(BATCH_MAX)]))
    return out


def batch_metrics(proc: e2e.Process) -> dict[str, float]:
    """Sum and count of the batch histograms of ``proc`` (empty without them)."""
    from prometheus_client.parser import text_string_to_metric_families

    if proc.metrics_port is None:
        return {}
    try:
        url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            base = sample.name.removesuffix("_sum").removesuffix("_count")
            if base in BATCH_METRICS and sample.name.endswith(("_sum", "_count")):
                out[sample.name] = float(sample.value)
    return out


def run(
    progress: common.Progress, *, quick: bool, keep_clusters: bool = False
) -> tuple[common.Numbers, dict[str, Any]]:
    n_nodes, n_pods = (QUICK_NODES, QUICK_PODS) if quick else (NODES, PODS)
    nodes_file, sites, alloc = e2e.write_nodes(n_nodes)
    results: dict[str, dict[str, Any]] = {}
    cluster = e2e.KwokCluster(CLUSTER, nodes_file)
    progress(f"burst: starting cluster {cluster.name} with {n_nodes} kwok nodes")
    try:
        cluster.up()
        api = ce_client.api_client(cluster.kubeconfig)
        core = k8s.CoreV1Api(api)
        try:
            for label, flags in binders():
                results[label] = _one(core, cluster, label, flags, n_pods, sites, alloc, progress)
        finally:
            api.close()  # type: ignore[no-untyped-call]
    finally:
        if not keep_clusters:
            progress(f"burst: stopping cluster {cluster.name}")
            cluster.down()
        nodes_file.unlink()
    return _numbers(results, n_pods), {
        "results": results,
        "nodes": n_nodes,
        "pods": n_pods,
        "quick": quick,
    }


def _one(
    core: k8s.CoreV1Api,
    cluster: e2e.KwokCluster,
    label: str,
    flags: list[str] | None,
    n_pods: int,
    sites: list[str],
    alloc: dict[str, tuple[float, float, float]],
    progress: common.Progress,
) -> dict[str, Any]:
    namespace = f"bench-burst-{label.replace('.', '-')}"
    progress(f"burst: {label}: {n_pods} pods")
    proc = None
    if flags is not None:
        proc = e2e.start_cloudedge(cluster.kubeconfig, "scheduler", extra_args=flags)
    try:
        result = e2e.run_pods(
            core,
            namespace=namespace,
            n_pods=n_pods,
            sites=sites,
            scheduler_name=None if flags is None else e2e.OUR_SCHEDULER,
            allocatable=alloc,
            progress=progress,
        )
        if proc is not None:
            result["batch"] = batch_metrics(proc)
    finally:
        if proc is not None:
            proc.stop()
            proc.remove_log()
        e2e.delete_namespace(core, namespace, timeout=300)
    progress(
        f"  {label}: {result['bound']}/{n_pods} bound, {result['pods_per_second']:.1f} pods/s, "
        f"p50 {result['latency_p50_s']:.2f}s p99 {result['latency_p99_s']:.2f}s, "
        f"overcommitted nodes {result['overcommitted_nodes']}"
    )
    return result


def _numbers(results: dict[str, dict[str, Any]], n_pods: int) -> common.Numbers:
    numbers: common.Numbers = {}
    for label, r in results.items():
        key = f"burst_{n_pods}_pods_{label.replace('-', '_').replace('.', '_')}"
        numbers[f"{key}_pods_per_second"] = round(r["pods_per_second"], 2)
        numbers[f"{key}_latency_p50_seconds"] = round(r["latency_p50_s"], 3)
        numbers[f"{key}_latency_p99_seconds"] = round(r["latency_p99_s"], 3)
        numbers[f"{key}_pods_bound"] = float(r["bound"])
        numbers[f"{key}_overcommitted_nodes"] = float(r["overcommitted_nodes"])
        batch = r.get("batch") or {}
        count = batch.get("cloudedge_batch_size_pods_count", 0.0)
        if count:
            numbers[f"{key}_batches"] = count
            numbers[f"{key}_mean_batch_pods"] = round(
                batch.get("cloudedge_batch_size_pods_sum", math.nan) / count, 1
            )
            numbers[f"{key}_mean_solve_seconds"] = round(
                batch.get("cloudedge_batch_solve_duration_seconds_sum", math.nan) / count, 4
            )
    greedy = results.get("greedy")
    kube = results.get("kube-scheduler")
    for label, r in results.items():
        if not label.startswith("batch"):
            continue
        key = f"burst_{n_pods}_pods_{label.replace('-', '_').replace('.', '_')}"
        if greedy and greedy["pods_per_second"] > 0:
            numbers[f"{key}_vs_greedy_throughput_ratio"] = round(
                r["pods_per_second"] / greedy["pods_per_second"], 3
            )
        if kube and kube["latency_p50_s"] > 0:
            numbers[f"{key}_vs_kube_scheduler_latency_p50_ratio"] = round(
                r["latency_p50_s"] / kube["latency_p50_s"], 3
            )
    return numbers
