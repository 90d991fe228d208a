"""Helpers of the fault suite: nodes of one test, bursts of pods, the invariants every fault
must leave intact, and a TCP proxy that can cut or slow a connection.

Each test gets kwok nodes of its own, labelled and tainted with a token; its pods select and
tolerate exactly those, so the capacity a test reasons about is the capacity it made, whatever
earlier tests left on the cluster's other nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import select
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster_support import Cluster, WaitTimeoutError, kwok_node, quantity, wait_until
from kubernetes.client import ApiException
from operator_support import OperatorProcess

SCHEDULER = "cloud-edge-scheduler"
TEST_LABEL = "cloudedge.io/fault-test"
CREATE_THREADS = 6
"""Threads creating a burst: hundreds of pods in seconds, gentle enough on 2 CPUs."""


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One kwok node of a test."""

    name: str
    tier: str
    cpu: str
    memory: str = "16Gi"
    pods: str = "110"

    def allocatable(self) -> tuple[float, float, float]:
        return (
            quantity(self.cpu) * 1000,
            quantity(self.memory),
            float(self.pods),
        )


def fault_node(spec: NodeSpec, token: str) -> dict[str, Any]:
    """The kwok Node of ``spec``, labelled and tainted with this test's ``token``."""
    site = spec.name if spec.tier == "edge" else f"dc-{token}"
    labels = {
        "kubernetes.io/hostname": spec.name,
        "topology.kubernetes.io/zone": site,
        "cloudedge.io/bandwidth-mbps": "10000" if spec.tier == "cloud" else "100",
        TEST_LABEL: token,
    }
    if spec.tier:
        labels["cloudedge.io/tier"] = spec.tier
    allocatable = {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods}
    taints = [{"key": TEST_LABEL, "value": token, "effect": "NoSchedule"}]
    return kwok_node(spec.name, labels=labels, allocatable=allocatable, taints=taints)


class TestNodes:
    """The nodes of one test and the pod template that keeps to them."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, kube: Cluster, specs: Sequence[NodeSpec] | None = None) -> None:
        self.kube = kube
        self.token = secrets.token_hex(3)
        self.specs: dict[str, NodeSpec] = {}
        for spec in specs or default_specs(self.token):
            self.add(spec)

    def add(self, spec: NodeSpec) -> None:
        body: Any = fault_node(spec, self.token)  # the client sends a plain dict as it is
        self.kube.core.create_node(body)
        self.specs[spec.name] = spec

    def wait_ready(self, names: Iterable[str] | None = None) -> None:
        wanted = list(names or self.specs)
        wait_until(
            f"nodes {wanted} Ready",
            lambda: all(node_ready(self.kube, n) for n in wanted),
            timeout=60,
        )

    def delete(self, name: str) -> None:
        with contextlib.suppress(ApiException):
            self.kube.core.delete_node(name)

    def delete_all(self) -> None:
        for name in self.specs:
            self.delete(name)

    def node_name(self, suffix: str) -> str:
        return f"ft-{self.token}-{suffix}"

    def pod(
        self,
        name: str,
        *,
        cpu: str = "40m",
        memory: str = "32Mi",
        annotations: dict[str, str] | None = None,
        scheduler: str = SCHEDULER,
        node_selector: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {
                "schedulerName": scheduler,
                "nodeSelector": {TEST_LABEL: self.token, **(node_selector or {})},
                "tolerations": [
                    {
                        "key": TEST_LABEL,
                        "operator": "Equal",
                        "value": self.token,
                        "effect": "NoSchedule",
                    }
                ],
                "terminationGracePeriodSeconds": 0,
                "containers": [
                    {
                        "name": "main",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}},
                    }
                ],
            },
        }


def default_specs(token: str) -> list[NodeSpec]:
    """2 cloud nodes of 4 CPU and 3 edge nodes of 2 CPU: 350 pods of 40m, 14 CPU."""
    return [NodeSpec(f"ft-{token}-cloud-{k}", "cloud", "4") for k in range(2)] + [
        NodeSpec(f"ft-{token}-edge-{k}", "edge", "2") for k in range(3)
    ]


WORKLOADS: tuple[dict[str, str], ...] = (
    {"cloudedge.io/workload": "latency-sensitive", "cloudedge.io/max-latency-ms": "5000"},
    {"cloudedge.io/workload": "compute-intensive", "cloudedge.io/compute-cost": "200"},
    {"cloudedge.io/workload": "batch"},
    {},
)


def burst(nodes: TestNodes, prefix: str, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """``count`` pods of the test's template, a mix of workload annotations."""
    return [
        nodes.pod(f"{prefix}-{k:04d}", annotations=dict(WORKLOADS[k % len(WORKLOADS)]), **kwargs)
        for k in range(count)
    ]


def create_pods(
    kube: Cluster, namespace: str, pods: Sequence[dict[str, Any]], *, retry_s: float = 0.0
) -> float:
    """Create the pods from a few threads; returns the seconds it took.

    With ``retry_s``, a create that fails (API server or etcd down) is tried again for that
    long; a 409 AlreadyExists then means an earlier try landed with its reply lost.
    """
    started = time.monotonic()

    def create(body: Any) -> None:
        deadline = time.monotonic() + retry_s
        for attempt in range(int(retry_s / 0.5) + 1):
            try:
                kube.core.create_namespaced_pod(namespace, body, _request_timeout=30)
                return
            except ApiException as err:
                if err.status == 409 and attempt > 0:
                    return
                if (err.status < 500 and err.status != 429) or time.monotonic() > deadline:
                    raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)
        raise AssertionError(f"pod {body['metadata']['name']} not created in {retry_s:.0f}s")

    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        list(pool.map(create, pods))
    return time.monotonic() - started


def node_ready(kube: Cluster, name: str) -> bool:
    """Ready, and carrying no taint but the test's own: a new node is Ready a moment before
    the node controller lifts its ``node.kubernetes.io/not-ready`` taint."""
    node: Any = kube.core.read_node(name)
    conditions = node.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready and all(t.key == TEST_LABEL for t in node.spec.taints or [])


def pod_requests(pod: Any) -> tuple[float, float, float]:
    cpu = mem = 0.0
    for c in pod.spec.containers:
        req = (c.resources.requests or {}) if c.resources else {}
        cpu += quantity(req.get("cpu", "0")) * 1000
        mem += quantity(req.get("memory", "0"))
    return cpu, mem, 1.0


def usage_by_node(pods: Iterable[Any]) -> dict[str, list[float]]:
    """Requested (cpu millicores, memory bytes, pods) of non-terminated pods, per node."""
    out: dict[str, list[float]] = {}
    for p in pods:
        if not p.spec.node_name or p.status.phase in ("Succeeded", "Failed"):
            continue
        row = out.setdefault(p.spec.node_name, [0.0, 0.0, 0.0])
        for k, v in enumerate(pod_requests(p)):
            row[k] += v
    return out


def scheduled_events(
    kube: Cluster, namespace: str, *, source: str = SCHEDULER, uids: set[str] | None = None
) -> dict[str, list[str]]:
    """Messages of ``Scheduled`` events from ``source`` by pod name (of pods in ``uids``)."""
    out: dict[str, list[str]] = {}
    events: list[Any] = kube.core.list_namespaced_event(namespace).items
    for e in events:
        if e.reason != "Scheduled" or source not in (
            e.source and e.source.component,
            e.reporting_component,
        ):
            continue
        if uids is not None and e.involved_object.uid not in uids:
            continue  # an event of a pod deleted since
        out.setdefault(e.involved_object.name, []).append(e.message or "")
    return out


def our_pending_pods(kube: Cluster) -> int:
    """Pods of our scheduler the API server has not bound, cluster-wide."""
    selector = f"spec.schedulerName={SCHEDULER}"
    pods: list[Any] = kube.core.list_pod_for_all_namespaces(field_selector=selector).items
    return sum(
        1 for p in pods if not p.spec.node_name and p.status.phase not in ("Succeeded", "Failed")
    )


def unschedulable_condition(pod: Any) -> Any:
    for c in pod.status.conditions or []:
        if c.type == "PodScheduled" and c.status == "False" and c.reason == "Unschedulable":
            return c
    return None


@dataclasses.dataclass
class Outcome:
    """What a settled burst looks like."""

    bound: dict[str, str]
    pending: set[str]
    events: dict[str, list[str]]


class Invariants:
    """The checks every fault test ends with, on the pods of one namespace.

    - every pod that fits is bound: a pod is pending only while no usable node it selects has
      room for it, and (``expect_bound``) the number bound is the number that fits;
    - no node's requests exceed its allocatable (cpu, memory, pods; every pod of the cluster);
    - each pod bound by the scheduler under test has exactly one ``Scheduled`` event of it
      naming its node, pods bound by someone else and pending pods none
      (``missing_events_allowed`` relaxes "exactly" to "at most" for that many pods);
    - every pending pod has ``PodScheduled=False/Unschedulable`` with a message;
    - the operator's ``cloudedge_pending_pods`` equals the API server's count of our pending
      pods, and (``scheduled``) its scheduled count equals the pods it bound.
    """

    def __init__(
        self,
        kube: Cluster,
        namespace: str,
        nodes: TestNodes,
        *,
        operator: OperatorProcess | None,
        total: int,
        foreign_nodes: Sequence[str] = (),
        source: str = SCHEDULER,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.nodes = nodes
        self.operator = operator
        self.total = total
        self.foreign_nodes = set(foreign_nodes)
        self.source = source
        self.why = ""
        self.stuck: list[str] = []

    def usable_nodes(self, selector: dict[str, str]) -> dict[str, tuple[float, float, float]]:
        """Nodes that exist, match ``selector``, are Ready and schedulable -> allocatable."""
        out: dict[str, tuple[float, float, float]] = {}
        ours = f"{TEST_LABEL}={self.nodes.token}"
        nodes: list[Any] = self.kube.core.list_node(label_selector=ours).items
        for node in nodes:
            name = node.metadata.name
            if name in self.foreign_nodes or node.spec.unschedulable:
                continue
            labels = node.metadata.labels or {}
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            taints = [t for t in (node.spec.taints or []) if t.key != TEST_LABEL]
            if any(t.effect in ("NoSchedule", "NoExecute") for t in taints):
                continue
            if not any(
                c.type == "Ready" and c.status == "True" for c in node.status.conditions or []
            ):
                continue
            alloc = node.status.allocatable
            out[name] = (
                quantity(alloc["cpu"]) * 1000,
                quantity(alloc["memory"]),
                float(alloc["pods"]),
            )
        return out

    def _room_for(self, pod: Any) -> list[str]:
        """Usable nodes where ``pod`` would fit now."""
        request = pod_requests(pod)
        used = usage_by_node(self.kube.core.list_pod_for_all_namespaces().items)
        room = []
        for name, alloc in self.usable_nodes(pod.spec.node_selector or {}).items():
            have = used.get(name, [0.0, 0.0, 0.0])
            if all(have[k] + request[k] <= alloc[k] + 1e-6 for k in range(3)):
                room.append(name)
        return room

    def events(self, uids: set[str]) -> dict[str, list[str]]:
        return scheduled_events(self.kube, self.namespace, source=self.source, uids=uids)

    def settled(self, *, events: bool = True) -> Outcome | None:
        """The outcome once the burst has settled, else None (a probe for wait_until)."""
        pods = self.kube.pods(self.namespace)
        if len(pods) != self.total:
            return self._not_yet(f"{len(pods)} pods of {self.total} exist")
        pending = [p for p in pods if not p.spec.node_name]
        room = self._room_for(pending[0]) if pending else []
        if room:
            return self._not_yet(f"{len(pending)} pods wait while {room} have room")
        bare = [p.metadata.name for p in pending if unschedulable_condition(p) is None]
        if bare:
            self.stuck = bare[:5]
            return self._not_yet(f"{len(bare)} pending pods without Unschedulable: {bare[:5]}")
        if self.operator is not None:
            gauge = self.operator.sample("cloudedge_pending_pods")
            api = our_pending_pods(self.kube)
            if gauge != api:
                return self._not_yet(f"cloudedge_pending_pods {gauge:.0f}, API server {api}")
        bound = {p.metadata.name: p.spec.node_name for p in pods if p.spec.node_name}
        got = self.events({p.metadata.uid for p in pods})
        if events:
            silent = [
                n for n, node in bound.items() if node not in self.foreign_nodes and n not in got
            ]
            if silent:
                self.stuck = silent[:5]
                return self._not_yet(f"{len(silent)} bound pods without Scheduled: {silent[:5]}")
        return Outcome(bound, {p.metadata.name for p in pending}, got)

    def _not_yet(self, why: str) -> Outcome | None:
        """Record why the burst has not settled, and answer as ``settled`` then does: None."""
        self.why = why
        return None

    def wait_settled(self, *, timeout: float = 180.0, events: bool = True) -> Outcome:
        """The outcome once ``settled`` holds, with the same pods bound, twice 2 s apart.

        Twice: a node that has just joined carries the node controller's not-ready taint for
        a moment, and a single look could catch a burst mid-way with no room to be seen.
        """
        self.why = ""
        self.stuck = []
        previous: list[Outcome | None] = [None]

        def stable() -> Outcome | None:
            now = self.settled(events=events)
            before, previous[0] = previous[0], now
            if (
                now is None
                or before is None
                or (now.bound, now.pending)
                != (
                    before.bound,
                    before.pending,
                )
            ):
                return None
            return now

        try:
            return wait_until(
                f"the burst in {self.namespace} to settle",
                stable,
                timeout=timeout,
                interval=2.0,
            )
        except WaitTimeoutError as err:
            tail = ""
            if self.operator is not None:
                log = self.operator.log_tail(50_000_000).splitlines()
                about = [line for line in log if any(f"/{n} " in line for n in self.stuck)]
                tail = "\noperator log about them:\n" + "\n".join(about[-40:])
                tail += "\noperator log:\n" + "\n".join(log[-30:])
            raise WaitTimeoutError(f"{err}; not settled because: {self.why}{tail}") from None

    def stable_events(self, *, quiet_s: float = 3.0, timeout: float = 60.0) -> dict[str, list[str]]:
        """Scheduled events once no new one has appeared for ``quiet_s`` seconds."""
        last: list[int] = [-1]
        since = [time.monotonic()]

        def quiet() -> dict[str, list[str]] | None:
            got = self.events({p.metadata.uid for p in self.kube.pods(self.namespace)})
            count = sum(len(m) for m in got.values())
            if count != last[0]:
                last[0], since[0] = count, time.monotonic()
                return None
            return got if time.monotonic() - since[0] >= quiet_s else None

        return wait_until("the Scheduled events to stop coming", quiet, timeout=timeout)

    def check(
        self,
        outcome: Outcome,
        *,
        expect_bound: int | None = None,
        scheduled: int | None = None,
        missing_events_allowed: int = 0,
    ) -> None:
        """Assert every invariant on a settled outcome (see the class docstring)."""
        self.check_no_overcommit()
        if expect_bound is not None:
            assert len(outcome.bound) == expect_bound, (
                f"{len(outcome.bound)} pods bound, {expect_bound} fit"
            )
        ours = {n: node for n, node in outcome.bound.items() if node not in self.foreign_nodes}
        twice = {n: m for n, m in outcome.events.items() if len(m) > 1}
        assert not twice, f"pods with more than one Scheduled event: {twice}"
        stray = {n: m for n, m in outcome.events.items() if n not in ours}
        assert not stray, f"Scheduled events for pods bound by someone else or not at all: {stray}"
        wrong = {
            n: m[0]
            for n, m in outcome.events.items()
            if not re.search(rf" to {re.escape(ours[n])}(:|$)", m[0])
        }
        assert not wrong, f"Scheduled events naming another node than the pod's: {wrong}"
        missing = sorted(set(ours) - set(outcome.events))
        assert len(missing) <= missing_events_allowed, (
            f"{len(missing)} bound pods without a Scheduled event "
            f"(at most {missing_events_allowed} allowed): {missing[:10]}"
        )
        for name in outcome.pending:
            cond = unschedulable_condition(self.kube.core.read_namespaced_pod(name, self.namespace))
            assert cond is not None, f"{name} is pending without PodScheduled=False/Unschedulable"
            assert cond.message, f"{name} is Unschedulable without a message"
        if self.operator is not None:
            assert self.operator.sample("cloudedge_pending_pods") == our_pending_pods(self.kube)
            if scheduled is not None:
                got = self.operator.sample("cloudedge_schedule_attempts_total", result="scheduled")
                assert got == scheduled, f"operator counted {got} scheduled, {scheduled} bound"

    def check_no_overcommit(self) -> None:
        used = usage_by_node(self.kube.core.list_pod_for_all_namespaces().items)
        over = {}
        nodes: list[Any] = self.kube.core.list_node().items
        for node in nodes:
            alloc = node.status.allocatable or {}
            cap = (
                quantity(alloc.get("cpu", "0")) * 1000,
                quantity(alloc.get("memory", "0")),
                float(alloc.get("pods", "0")),
            )
            have = used.get(node.metadata.name)
            if have and any(have[k] > cap[k] + 1e-6 for k in range(3)):
                over[node.metadata.name] = (have, cap)
        assert not over, f"nodes over allocatable (requested, allocatable): {over}"


def capacity_in_pods(specs: Iterable[NodeSpec], *, cpu_m: float = 40.0) -> int:
    """How many identical pods of ``cpu_m`` millicores (32Mi) fit on ``specs``."""
    total = 0
    for spec in specs:
        cpu, mem, pods = spec.allocatable()
        total += int(min(cpu // cpu_m, mem // (32 * 2**20), pods))
    return total


class TcpProxy:
    """A loopback TCP proxy to ``target`` that can cut every connection or delay replies.

    ``cut()`` closes every open connection and refuses (accepts and closes) new ones until
    ``heal()``; ``delay_s`` holds each chunk from the target back that long (only replies to
    requests for ``slow_paths``, when set and the traffic is plain HTTP). TLS passes through
    untouched. Its threads end with :meth:`close` (and each pump after ``MAX_LIFETIME_S``).
    """

    MAX_LIFETIME_S = 1800.0

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.delay_s = 0.0
        self.slow_paths: set[str] | None = None  # None: every reply is delayed
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.accepted = 0
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self._server.settimeout(0.5)
        self.port = int(self._server.getsockname()[1])
        self._born = time.monotonic()
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def _expired(self) -> bool:
        return self._closed.is_set() or time.monotonic() - self._born > self.MAX_LIFETIME_S

    def _accept_loop(self) -> None:
        while not self._expired():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            path: list[str] = [""]  # the connection's last HTTP request path (plain HTTP)
            threading.Thread(
                target=self._pump, args=(client, upstream, path, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, path, True), daemon=True
            ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, path: list[str], replies: bool) -> None:
        try:
            while not self._expired() and not self._cut.is_set():
                ready, _, _ = select.select([src], [], [], 0.5)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                if not replies and data[:5] in (b"POST ", b"GET /"):
                    path[0] = data.split(b" ", 2)[1].decode(errors="replace")
                slow = self.slow_paths is None or path[0] in self.slow_paths
                if replies and self.delay_s > 0 and slow:
                    time.sleep(self.delay_s)
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        with self._lock:
            for s in socks:
                self._conns.discard(s)
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        """Close every connection now and refuse new ones."""
        self._cut.set()
        with self._lock:
            conns = list(self._conns)
        self._drop(*conns)

    def heal(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._server.close()
