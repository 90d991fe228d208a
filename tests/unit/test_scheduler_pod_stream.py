"""One pod stream: the view's pod watch feeds the queue, split as kube-scheduler splits it.

Events go through the pod reflector's own callbacks (what the watch thread calls); the
reflector against a real API server, with relists and restarts, is tests/faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import prometheus_client as prom
import pytest
from kubernetes import client as k8s
from test_cluster_view import cpu_used, node

from cloudedge import model
from cloudedge.cluster import live
from cloudedge.metrics import Metrics
from cloudedge.scheduler import core, leader, stream

OURS = "cloud-edge-scheduler"


def pod(
    uid: str,
    *,
    node_name: str | None = None,
    scheduler: str = OURS,
    gates: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": uid, "name": uid, "namespace": "ns", "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "300m"}}}],
    }
    if node_name:
        spec["nodeName"] = node_name
    if gates:
        spec["schedulingGates"] = [{"name": "example.com/wait"}]
    return {"metadata": meta, "spec": spec, "status": {"phase": "Pending"}}


class Harness:
    """A LiveView whose pod stream feeds a Scheduler, with the reflector's callbacks exposed."""

    def __init__(self) -> None:
        self.live = live.LiveView(k8s.ApiClient(), watch_topology=False)
        self.scheduler = core.Scheduler(
            cluster=self.live.view,
            core=k8s.CoreV1Api(k8s.ApiClient()),
            config=model.ModelConfig(),
            metrics=Metrics(prom.CollectorRegistry()),
            gate=leader.LeaderGate(None, enabled=False),
        )
        self.live.pods = stream.PodStream(self.scheduler)
        pods = next(r for r in self.live.reflectors if r.name == "pods")
        self.listed: Callable[[list[Any]], None] = pods.on_replace
        self.changed: Callable[[Any], None] = pods.on_upsert
        self.deleted: Callable[[Any], None] = pods.on_delete
        self.live.view.replace_nodes([node("a")])

    def queued(self) -> set[str]:
        return set(self.scheduler.queue.uids())


def run(steps: Callable[[Harness], None]) -> Harness:
    h = Harness()

    async def go() -> None:
        h.scheduler.attach(asyncio.get_running_loop())
        steps(h)
        for _ in range(3):  # let the handed-over callbacks run
            await asyncio.sleep(0)

    asyncio.run(go())
    return h


@pytest.mark.parametrize(
    ("obj", "queued"),
    [
        pytest.param(pod("p"), True, id="unassigned-and-ours"),
        pytest.param(pod("p", scheduler="default-scheduler"), False, id="another-schedulers"),
        pytest.param(pod("p", gates=True), False, id="gated"),
        pytest.param(pod("p", deleting=True), False, id="being-deleted"),
        pytest.param(pod("p", node_name="a"), False, id="assigned"),
    ],
)
def test_only_unassigned_ungated_pods_of_ours_are_queued(obj: Any, queued: bool) -> None:
    h = run(lambda h: h.changed(obj))
    assert h.queued() == ({"p"} if queued else set())


def test_assigned_pods_count_in_the_view_whoever_scheduled_them() -> None:
    h = run(lambda h: h.listed([pod("x", node_name="a", scheduler="default-scheduler")]))
    assert cpu_used(h.live.view) == {"a": 300.0}
    assert h.queued() == set()


def test_a_queued_pod_seen_bound_leaves_the_queue_and_counts_on_its_node() -> None:
    def steps(h: Harness) -> None:
        h.changed(pod("p"))
        h.changed(pod("p", node_name="a"))

    h = run(steps)
    assert h.queued() == set()
    assert cpu_used(h.live.view) == {"a": 300.0}


def test_a_gate_added_back_takes_the_pod_out_of_the_queue() -> None:
    def steps(h: Harness) -> None:
        h.changed(pod("p"))
        h.changed(pod("p", gates=True))

    assert run(steps).queued() == set()


def test_a_deleted_pod_leaves_both_the_queue_and_the_view() -> None:
    def steps(h: Harness) -> None:
        h.listed([pod("p"), pod("q", node_name="a")])
        h.deleted(pod("p"))
        h.deleted(pod("q", node_name="a"))

    h = run(steps)
    assert h.queued() == set()
    assert cpu_used(h.live.view) == {"a": 0.0}


def test_a_relist_forgets_queued_pods_deleted_while_the_watch_was_down() -> None:
    def steps(h: Harness) -> None:
        h.listed([pod("p1"), pod("p2")])
        h.listed([pod("p2"), pod("p3")])  # p1 was deleted during the gap: no event for it

    assert run(steps).queued() == {"p2", "p3"}


def test_a_relist_that_shows_a_queued_pod_bound_takes_it_out_of_the_queue() -> None:
    def steps(h: Harness) -> None:
        h.listed([pod("p1")])
        h.listed([pod("p1", node_name="a")])

    h = run(steps)
    assert h.queued() == set()
    assert cpu_used(h.live.view) == {"a": 300.0}


def test_a_relist_keeps_the_arrival_order_of_pods_still_pending() -> None:
    def steps(h: Harness) -> None:
        h.listed([pod("p1"), pod("p2")])
        h.listed([pod("p2"), pod("p1")])

    h = run(steps)

    async def order() -> list[str]:
        return [(await h.scheduler.queue.pop()).uid for _ in range(2)]

    assert asyncio.run(order()) == ["p1", "p2"]


def test_pod_events_before_the_loop_is_attached_are_a_clear_error() -> None:
    h = Harness()
    with pytest.raises(RuntimeError, match="before the scheduler was attached"):
        h.changed(pod("p"))
