"""The scheduling queue: arrival order, backoff 1 s doubling to 10 s, parking until a change."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloudedge.scheduler.queue import SchedulingQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pod(uid: str, *, created: str = "2026-01-01T00:00:00Z", rv: str = "1", **ann: str) -> Any:
    return {
        "metadata": {
            "uid": uid,
            "name": uid,
            "namespace": "ns",
            "creationTimestamp": created,
            "resourceVersion": rv,
            "annotations": dict(ann),
        },
        "spec": {"schedulerName": "cloud-edge-scheduler"},
    }


def pop_now(q: SchedulingQueue) -> str | None:
    """Pop without waiting: the uid ready now, or None."""

    async def go() -> str | None:
        try:
            return (await asyncio.wait_for(q.pop(), 0.05)).uid
        except TimeoutError:
            return None

    return asyncio.run(go())


def test_pods_come_out_in_creation_order_whatever_order_they_were_seen() -> None:
    q = SchedulingQueue()
    q.add(pod("b", rv="12"))
    q.add(pod("a", rv="11"))
    q.add(pod("c", created="2026-01-01T00:00:01Z", rv="5"))
    assert [pop_now(q), pop_now(q), pop_now(q)] == ["a", "b", "c"]


def test_a_failed_pod_is_parked_until_the_cluster_changes() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    assert pop_now(q) == "a"
    q.failed("a")
    clock.now += 30
    assert pop_now(q) is None
    q.cluster_changed()
    assert pop_now(q) == "a"


@pytest.mark.parametrize(
    ("attempts", "backoff"),
    [
        pytest.param(1, 1.0, id="first"),
        pytest.param(3, 4.0, id="third"),
        pytest.param(6, 10.0, id="capped"),
    ],
)
def test_backoff_doubles_from_one_second_to_ten(attempts: int, backoff: float) -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    for _ in range(attempts):
        clock.now += 100
        assert pop_now(q) == "a"
        q.failed("a", wait_for_change=False)  # an error, such as a failed Binding
        q.cluster_changed()
    clock.now += backoff - 0.01
    assert pop_now(q) is None
    clock.now += 0.02
    assert pop_now(q) == "a"


def test_after_a_change_a_backed_off_pod_is_tried_once_no_other_pod_waits() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)

    async def pop() -> str | None:
        try:
            return (await asyncio.wait_for(q.pop(), 0.05)).uid
        except TimeoutError:
            return None

    async def scenario() -> None:  # one loop: the queue's wakeup event belongs to it
        q.add(pod("a"))
        for _ in range(4):  # four attempts while the cluster filled: its backoff is now 8 s
            clock.now += 100
            assert await pop() == "a"
            q.cluster_changed()
            q.failed("a")
        q.add(pod("b", created="2026-01-01T00:00:05Z"))
        q.cluster_changed()  # room is freed
        clock.now += 0.5
        assert await pop() == "b"  # a pod that has not failed goes first
        assert await pop() is None  # and a goes no sooner than a second after its attempt
        clock.now += 0.5
        assert await pop() == "a"  # not 8 s later: nothing else was waiting
        # Parked with no change since: nothing to retry early.
        q.failed("a")
        clock.now += 5
        assert await pop() is None

    asyncio.run(scenario())


def test_a_pod_backing_off_after_an_error_waits_its_whole_backoff() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    for _ in range(3):
        clock.now += 100
        assert pop_now(q) == "a"
        q.failed("a", wait_for_change=False)
    q.cluster_changed()
    clock.now += 3.9
    assert pop_now(q) is None
    clock.now += 0.2
    assert pop_now(q) == "a"


def test_parked_pods_are_retried_after_the_flush_interval_without_any_event() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock, flush_interval_s=60)
    q.add(pod("a"))
    pop_now(q)
    q.failed("a")
    clock.now += 61
    assert pop_now(q) == "a"


def test_a_changed_annotation_brings_a_parked_pod_back_at_once() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a", **{"cloudedge.io/workload": "fast"}))
    pop_now(q)
    q.failed("a")
    q.add(pod("a", **{"cloudedge.io/workload": "batch"}))
    assert pop_now(q) == "a"


def test_a_status_only_update_does_not_retry_a_parked_pod() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    pop_now(q)
    q.failed("a")
    q.add(pod("a", rv="99"))
    assert pop_now(q) is None


def test_removed_pods_never_come_out() -> None:
    q = SchedulingQueue()
    q.add(pod("a"))
    q.add(pod("b", rv="2"))
    q.remove("a")
    assert pop_now(q) == "b"
    assert pop_now(q) is None
    assert len(q) == 1  # b is in flight until done()
    q.done("b")
    assert len(q) == 0


def test_a_pod_in_flight_is_not_queued_twice() -> None:
    q = SchedulingQueue()
    q.add(pod("a"))
    assert pop_now(q) == "a"
    q.add(pod("a"))
    assert pop_now(q) is None
    q.requeue("a")
    assert pop_now(q) == "a"


def test_a_held_pod_stays_pending_through_cluster_changes_until_its_spec_changes() -> None:
    clock = Clock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("a"))
    assert pop_now(q) == "a"
    q.hold("a")
    q.cluster_changed()
    clock.now += 3600  # past every backoff and flush interval
    assert pop_now(q) is None
    assert len(q) == 1, "still counted as pending"
    changed = pod("a")
    changed["spec"]["nodeSelector"] = {"disk": "ssd"}
    q.add(changed)
    assert pop_now(q) == "a"


def test_higher_priority_pods_come_first_and_equals_in_arrival_order() -> None:
    q = SchedulingQueue()
    for uid, created, priority in (
        ("old-low", "2026-01-01T00:00:00Z", None),
        ("new-high", "2026-01-01T00:00:09Z", 1000),
        ("old-high", "2026-01-01T00:00:01Z", 1000),
        ("negative", "2026-01-01T00:00:00Z", -5),
    ):
        obj = pod(uid, created=created)
        if priority is not None:
            obj["spec"]["priority"] = priority
        q.add(obj)
    assert [pop_now(q) for _ in range(4)] == ["old-high", "new-high", "old-low", "negative"]
