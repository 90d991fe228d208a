"""The ceiling of the end-to-end benchmark: bind pending pods with no scoring at all.

Everything the operator pays for except the decision: the same Kubernetes Python client
(``cloudedge.cluster.client.api_client``), the same server-side pod watch selector
(``spec.schedulerName=NAME,spec.nodeName=``), the same Binding call
(``cloudedge.cluster.binding.bind``, with the pod's UID) and the same concurrency (16 bind
threads, the operator's ``--bind-workers`` default). Each pod goes to the next node, round
robin, that still has room for its requests (cpu, memory, pods), so nothing is overcommitted.

    python -m bench.minimal_binder --kubeconfig K --scheduler-name NAME [--ready-file F]

It runs until SIGTERM/SIGINT or ``--max-seconds``, then prints one line of counts.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from cloudedge import errors, model
from cloudedge.cluster import binding, client
from cloudedge.inputs import nodes as node_inputs
from cloudedge.inputs import pods as pod_inputs

WATCH_TIMEOUT_S = 60


class RoundRobin:
    """Nodes in name order; the next one with room, wrapping around (one pass at most)."""

    def __init__(self, node_objs: list[dict[str, Any]]) -> None:
        self.names: list[str] = []
        self.free: list[dict[str, float]] = []
        for obj in sorted(node_objs, key=lambda o: str(o["metadata"]["name"])):
            node = node_inputs.parse_node(obj)
            self.names.append(node.name)
            self.free.append(dict(node.allocatable))
        self.next = 0
        self.lock = threading.Lock()

    def pick(self, requests: Mapping[str, float]) -> str | None:
        with self.lock:
            n = len(self.names)
            for step in range(n):
                i = (self.next + step) % n
                room = self.free[i]
                if all(room.get(k, 0.0) >= v for k, v in requests.items() if v > 0):
                    for k, v in requests.items():
                        room[k] = room.get(k, 0.0) - v
                    self.next = (i + 1) % n
                    return self.names[i]
            return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--scheduler-name", required=True)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--ready-file", help="written once nodes are listed and the watch starts")
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--stats-file", help="written at exit: counts and Binding call times")
    args = parser.parse_args(argv)

    api = client.api_client(args.kubeconfig)
    core = k8s.CoreV1Api(api)
    resp: Any = core.list_node(_preload_content=False, _request_timeout=60)
    nodes = RoundRobin(list(json.loads(resp.data).get("items") or []))
    selector = f"spec.schedulerName={args.scheduler_name},spec.nodeName="
    raw: Any = core.list_pod_for_all_namespaces(
        field_selector=selector, _preload_content=False, _request_timeout=60
    )
    listed = cast(dict[str, Any], json.loads(raw.data))
    version = str(listed["metadata"].get("resourceVersion") or "")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.workers)
    stop = threading.Event()
    seen: set[str] = set()
    counts = {"bound": 0, "failed": 0, "no_room": 0}
    bind_seconds: list[float] = []
    count_lock = threading.Lock()

    def bind_one(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        try:
            requests = pod_inputs.pod_requests(obj, who=meta["name"])
        except errors.InputError:
            requests = model.ResourceList(pods=1.0)
        node = nodes.pick(requests)
        outcome = "no_room"
        started = time.monotonic()
        if node is not None:
            try:
                binding.bind(
                    core, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], node=node
                )
                outcome = "bound"
            except errors.BindError:
                outcome = "failed"
        with count_lock:
            counts[outcome] += 1
            if outcome == "bound":
                bind_seconds.append(time.monotonic() - started)

    def offer(obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid or uid in seen or (obj.get("spec") or {}).get("nodeName"):
            return
        seen.add(uid)
        pool.submit(bind_one, obj)

    def watch_loop() -> None:
        nonlocal version
        for obj in listed.get("items") or []:
            offer(obj)
        deadline = time.monotonic() + args.max_seconds
        while not stop.is_set() and time.monotonic() < deadline:
            w = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in w.stream(  # type: ignore[no-untyped-call]
                    core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=version,
                    timeout_seconds=WATCH_TIMEOUT_S,
                    allow_watch_bookmarks=True,
                    deserialize=False,
                    _request_timeout=WATCH_TIMEOUT_S + 30,
                ):
                    obj = event.get("object") or {}
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        offer(obj)
                    if stop.is_set():
                        break
            except Exception as err:  # a dropped watch: resume after a pause (bounded loop)
                print(f"minimal-binder: watch failed: {err}", file=sys.stderr, flush=True)
                stop.wait(1.0)

    thread = threading.Thread(target=watch_loop, name="watch", daemon=True)
    thread.start()
    if args.ready_file:
        Path(args.ready_file).write_text("ready\n")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait(args.max_seconds)
    stop.set()
    pool.shutdown(wait=True, cancel_futures=True)
    print(f"minimal-binder: {json.dumps(counts)}", flush=True)
    if args.stats_file:
        mean = sum(bind_seconds) / len(bind_seconds) if bind_seconds else 0.0
        Path(args.stats_file).write_text(json.dumps({**counts, "bind_seconds_mean": mean}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
