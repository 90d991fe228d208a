"""The pod stream: kopf's pod watch against the view's reflector, on a real control plane.

The binder's queue used to come from a kopf watch of pending pods, beside the reflector that
keeps the view; now the reflector feeds both (``cloudedge.scheduler.stream``). This section
measures the two streams on the same API server, one after the other, each in-process with a
handler that only notes when it first saw each pod:

- **backlog**: N pending pods exist before the watch starts (an operator restart, a relist):
  time until the handler has seen all of them, and pods per second;
- **live**: the watch runs while N pods are created by a bounded pool of writers: time from
  each create's reply to the handler seeing the pod (p50, p99) and the stream's rate.

kopf runs as the binder ran it (``on.event`` for pods, the server-side selector
``spec.schedulerName=cloud-edge-scheduler,spec.nodeName=``, kopf's default batching); the
reflector as ``cloudedge.cluster.live`` runs it (every non-terminated pod). The cluster
``cloudedge-bench-stream`` has no nodes and no binder, so the pods stay pending throughout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client as k8s

from bench import common, e2e
from cloudedge import SCHEDULER_NAME
from cloudedge.cluster import client as ce_client
from cloudedge.cluster import live, reflector

CLUSTER = "cloudedge-bench-stream"
NAMESPACE = "bench-stream"
WRITERS = 8
"""Concurrent creates: enough to outpace one consumer, few enough for a shared 2-core box."""
PENDING_SELECTOR = f"spec.schedulerName={SCHEDULER_NAME},spec.nodeName="
SEEN_TIMEOUT_S = 300.0


class _Cluster(e2e.KwokCluster):
    """A kwokctl cluster without nodes: pods only need an API server here."""

    def _env(self) -> dict[str, str]:
        return {**super()._env(), "NODES": "0"}


class Seen:
    """When each pod was first handed to a handler (any thread)."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()

    def note_all(self, objs: list[Mapping[str, Any]]) -> None:
        for obj in objs:
            self.note(obj)

    def note(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("namespace") != NAMESPACE:
            return
        now = time.monotonic()
        with self.lock:
            self.at.setdefault(str(meta.get("name")), now)
            if len(self.at) >= self.want:
                self.done.set()


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "schedulerName": SCHEDULER_NAME,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
        },
    }


def _create(core: k8s.CoreV1Api, names: list[str]) -> dict[str, float]:
    """Create the pods with WRITERS threads; returns when each create's reply came."""
    replied: dict[str, float] = {}

    def one(name: str) -> None:
        body: Any = _pod(name)
        core.create_namespaced_pod(NAMESPACE, body, _request_timeout=60)
        replied[name] = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(one, names))
    return replied


def _reset_namespace(core: k8s.CoreV1Api) -> None:
    with contextlib.suppress(k8s.ApiException):
        core.delete_namespace(NAMESPACE, grace_period_seconds=0)

    def gone() -> bool:
        try:
            core.read_namespace(NAMESPACE)
        except k8s.ApiException as err:
            return bool(err.status == 404)
        return False

    common.wait_until("namespace deleted", gone, timeout=120)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))


class _Reflector:
    """The view's pod reflector, with the handler in place of the view."""

    def __init__(self, api: k8s.ApiClient, seen: Seen) -> None:
        core = k8s.CoreV1Api(api)
        self.r = reflector.Reflector(
            api,
            core.list_pod_for_all_namespaces,
            name="bench-pods",
            field_selector=live.NON_TERMINATED,
            on_replace=lambda items: seen.note_all(items),
            on_upsert=seen.note,
            on_delete=lambda _: None,
        )

    def start(self) -> None:
        self.r.start()

    def stop(self) -> None:
        self.r.close()


class _Kopf:
    """kopf's pod watch, as the binder ran it, in a thread with its own loop."""

    def __init__(self, kubeconfig: str, seen: Seen) -> None:
        os.environ["KUBECONFIG"] = kubeconfig
        self.reg = kopf.OperatorRegistry()
        self.stop_flag = threading.Event()

        @kopf.on.login(registry=self.reg)
        def login(**kwargs: Any) -> Any:
            return kopf.login_with_kubeconfig(**kwargs)

        @kopf.on.event("", "v1", "pods", registry=self.reg)  # type: ignore[arg-type]
        def pending(event: dict[str, Any], **_: Any) -> None:
            if event.get("type") != "DELETED":
                seen.note(event.get("object") or {})

        self.settings = kopf.OperatorSettings()
        self.settings.watching.field_selectors["", "v1", "pods"] = PENDING_SELECTOR
        self.settings.peering.standalone = True
        self.settings.scanning.disabled = True
        self.settings.posting.enabled = False
        self.thread = threading.Thread(target=self._run, name="bench-kopf", daemon=True)

    def _run(self) -> None:
        asyncio.run(
            kopf.operator(
                registry=self.reg,
                settings=self.settings,
                clusterwide=True,
                standalone=True,
                stop_flag=self.stop_flag,
            )
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)


Consumer = Callable[[Seen], Any]


def _measure(
    what: str, make: Consumer, core: k8s.CoreV1Api, n: int, progress: common.Progress
) -> dict[str, Any]:
    names = [f"{what}-{i}" for i in range(n)]
    # backlog: the pods exist first
    _reset_namespace(core)
    _create(core, names)
    seen = Seen(n)
    consumer = make(seen)
    started = time.monotonic()
    consumer.start()
    ok = seen.done.wait(SEEN_TIMEOUT_S)
    backlog_s = (max(seen.at.values()) - started) if ok else float("nan")
    consumer.stop()
    progress(f"stream: {what} backlog of {n}: {backlog_s:.2f}s ({len(seen.at)} seen)")
    # live: the watch first, then the creates
    _reset_namespace(core)
    seen = Seen(n)
    consumer = make(seen)
    consumer.start()
    time.sleep(5.0)  # the watch is established (kopf has no "synced" signal to wait for)
    first = time.monotonic()
    replied = _create(core, names)
    ok = seen.done.wait(SEEN_TIMEOUT_S) and ok
    consumer.stop()
    lags = [seen.at[p] - replied[p] for p in names if p in seen.at]
    span = (max(seen.at.values()) - first) if seen.at else float("nan")
    result = {
        "consumer": what,
        "n": n,
        "complete": ok,
        "backlog_s": backlog_s,
        "backlog_pods_per_s": n / backlog_s if backlog_s > 0 else float("nan"),
        "live_span_s": span,
        "live_pods_per_s": len(seen.at) / span if span > 0 else float("nan"),
        "lag_ms_p50": common.percentile(lags, 50) * 1e3,
        "lag_ms_p99": common.percentile(lags, 99) * 1e3,
    }
    progress(
        f"stream: {what} live {n}: {result['live_pods_per_s']:.0f} pods/s, lag p50 "
        f"{result['lag_ms_p50']:.0f} ms p99 {result['lag_ms_p99']:.0f} ms"
    )
    return result


def bench(kubeconfig: str, n: int, progress: common.Progress) -> list[dict[str, Any]]:
    """Both consumers on the cluster of ``kubeconfig``; one row each."""
    api = ce_client.api_client(kubeconfig)
    core = k8s.CoreV1Api(api)
    rows = [
        _measure("reflector", lambda seen: _Reflector(api, seen), core, n, progress),
        _measure("kopf", lambda seen: _Kopf(kubeconfig, seen), core, n, progress),
    ]
    with contextlib.suppress(k8s.ApiException):
        core.delete_namespace(NAMESPACE, grace_period_seconds=0)
    return rows


def run(
    progress: common.Progress, *, quick: bool, keep_clusters: bool = False
) -> tuple[common.Numbers, dict[str, Any]]:
    n = 200 if quick else 2000
    cluster = _Cluster(CLUSTER, Path(os.devnull))
    progress(f"stream: starting cluster {cluster.name} (no nodes)")
    cluster.up()
    try:
        rows = bench(cluster.kubeconfig, n, progress)
    finally:
        if not keep_clusters:
            cluster.down()
    numbers: common.Numbers = {}
    for row in rows:
        for key in ("backlog_pods_per_s", "live_pods_per_s", "lag_ms_p50", "lag_ms_p99"):
            numbers[f"stream_{row['consumer']}_{key}"] = round(float(row[key]), 1)
    return numbers, {"n": n, "writers": WRITERS, "rows": rows}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="an existing cluster to use")
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    for row in bench(args.kubeconfig, args.n, common.Progress()):
        print(row)
