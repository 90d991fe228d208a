"""The binding cycle: every way a Binding can end, and what each leaves behind.

Each attempt must end with its bind slot free, its reservation kept only when the pod is
really on that node, and the queue told what to do next. The Binding call itself is replaced
here (its HTTP classification is tests/unit/test_binding_faults.py; the real API server is
tests/e2e and tests/faults).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import zlib
from typing import Any

import prometheus_client as prom
import pytest
from kubernetes import client as k8s
from test_cluster_view import cpu_used, node

from cloudedge import errors, model
from cloudedge.cluster import binding
from cloudedge.cluster.view import ClusterView
from cloudedge.metrics import Metrics
from cloudedge.scheduler import batching, core, leader

WORKERS = 4


class Recorder:
    """Events the scheduler would write, kept in memory."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def pod_event(self, pod: dict[str, Any], *, reason: str, message: str, **_: Any) -> None:
        self.events.append((reason, message))

    def unschedulable(self, pod: dict[str, Any], *, message: str) -> bool:
        return True

    def close(self) -> None:
        pass


@dataclasses.dataclass
class Setup:
    scheduler: core.Scheduler
    view: ClusterView
    recorder: Recorder
    registry: prom.CollectorRegistry

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def pending(uid: str, cpu: str = "600m") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "name": uid, "namespace": "ns", "resourceVersion": "1"},
        "spec": {
            "schedulerName": "cloud-edge-scheduler",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
        },
        "status": {"phase": "Pending"},
    }


def setup() -> Setup:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    registry = prom.CollectorRegistry()
    recorder = Recorder()
    scheduler = core.Scheduler(
        cluster=view,
        core=k8s.CoreV1Api(k8s.ApiClient()),
        config=model.ModelConfig(),
        metrics=Metrics(registry),
        gate=leader.LeaderGate(None, enabled=False),
        recorder=recorder,  # type: ignore[arg-type]
        bind_workers=WORKERS,
    )
    return Setup(scheduler, view, recorder, registry)


def attempt(s: Setup, obj: dict[str, Any], binds: int = 1) -> None:
    """Queue ``obj`` and run the scheduler until ``binds`` Bindings were tried and settled."""

    async def go() -> None:
        s.scheduler.pod_pending(obj)
        task = asyncio.create_task(s.scheduler.run())
        for _ in range(500):  # bounded: 5 s of 10 ms turns
            await asyncio.sleep(0.01)
            if calls.count >= binds and not s.scheduler._binds:
                break
        await s.scheduler.stop(drain_s=1)
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    s.scheduler._side_pool.shutdown(wait=True)


@dataclasses.dataclass
class Calls:
    count: int = 0


calls = Calls()


def bind_answers(monkeypatch: pytest.MonkeyPatch, *answers: Any) -> None:
    """Each Binding returns (or raises) the next answer."""
    calls.count = 0
    queue = list(answers)

    def fake(api: Any, *, namespace: str, name: str, uid: str, node: str, **_: Any) -> Any:
        calls.count += 1
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(binding, "bind", fake)


def slots_free(s: Setup) -> bool:
    return s.scheduler._slots._value == WORKERS


@pytest.mark.parametrize(
    ("answer", "room_kept", "queued", "conflicts"),
    [
        pytest.param(binding.Outcome.BOUND, True, False, 0, id="bound"),
        pytest.param(
            binding.Outcome.ALREADY_BOUND_SAME_NODE, True, False, 1, id="bound-there-by-another"
        ),
        pytest.param(binding.BindConflict("409", node="b"), False, False, 1, id="conflict"),
        pytest.param(binding.BindNotFound("404"), False, False, 1, id="not-found"),
        pytest.param(binding.BindGone("recreated"), False, False, 1, id="gone"),
        pytest.param(binding.BindGated("gated"), False, False, 1, id="gated"),
        pytest.param(binding.BindForbidden("403"), False, True, 0, id="forbidden"),
        pytest.param(binding.BindRetry("503"), False, True, 0, id="transient"),
        pytest.param(RuntimeError("a bug"), False, True, 0, id="unexpected-error"),
    ],
)
def test_every_binding_outcome_frees_its_slot_and_keeps_room_only_where_the_pod_is(
    monkeypatch: pytest.MonkeyPatch, answer: Any, room_kept: bool, queued: bool, conflicts: int
) -> None:
    s = setup()
    bind_answers(monkeypatch, answer)
    attempt(s, pending("p1"))
    assert slots_free(s)
    assert cpu_used(s.view) == {"a": 600.0 if room_kept else 0.0}
    assert (s.scheduler.queue.get("p1") is not None) == queued
    assert s.sample("cloudedge_binding_conflicts_total") == conflicts


def test_a_pod_bound_by_us_gets_one_scheduled_event_and_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = setup()
    bind_answers(monkeypatch, binding.Outcome.BOUND)
    attempt(s, pending("p1"))
    assert [r for r, _ in s.recorder.events] == ["Scheduled"]
    assert "to a:" in s.recorder.events[0][1]
    assert s.sample("cloudedge_schedule_attempts_total", result="scheduled") == 1


def test_a_pod_bound_to_our_choice_by_another_replica_is_not_counted_as_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = setup()
    bind_answers(monkeypatch, binding.Outcome.ALREADY_BOUND_SAME_NODE)
    attempt(s, pending("p1"))
    assert s.recorder.events == []
    assert s.sample("cloudedge_schedule_attempts_total", result="scheduled") == 0


def test_a_refused_binding_is_reported_as_a_warning_and_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = setup()
    bind_answers(monkeypatch, binding.BindForbidden("pods/binding is forbidden"))
    attempt(s, pending("p1"))
    assert s.recorder.events == [
        ("FailedScheduling", "Binding rejected: pods/binding is forbidden")
    ]
    assert s.sample("cloudedge_schedule_attempts_total", result="error") == 1


def test_a_conflict_naming_the_node_of_a_lost_reply_is_our_own_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first Binding was made but its reply lost; the retry finds the pod on that node.
    s = setup()
    bind_answers(monkeypatch, binding.BindRetry("reset"), binding.BindConflict("409", node="a"))
    s.scheduler.queue.initial_backoff_s = 0.01
    attempt(s, pending("p1"), binds=2)
    assert calls.count == 2
    assert s.sample("cloudedge_schedule_attempts_total", result="scheduled") == 1
    assert s.scheduler.queue.get("p1") is None
    assert slots_free(s)


def reply_lost_after_the_watch_shows(
    monkeypatch: pytest.MonkeyPatch, s: Setup, *, bound: bool
) -> None:
    """Each Binding fails as a lost reply does (BindRetry), after the pod stream said the pod
    left the pending set during the call: bound to the Binding's node, or deleted."""

    def fake(api: Any, *, uid: str, node: str, **_: Any) -> Any:
        calls.count += 1
        loop = s.scheduler.loop
        assert loop is not None
        seen = threading.Event()
        where = node if bound else None
        loop.call_soon_threadsafe(lambda: (s.scheduler.pod_gone(uid, node=where), seen.set()))
        assert seen.wait(5)
        raise binding.BindRetry("timed out")

    calls.count = 0
    monkeypatch.setattr(binding, "bind", fake)


@pytest.mark.parametrize("bound", [True, False], ids=["bound-there", "deleted"])
def test_a_pod_that_left_while_its_reply_was_lost_is_ours_only_if_on_that_node(
    monkeypatch: pytest.MonkeyPatch, bound: bool
) -> None:
    # Bound: the Binding was made and the watch showed the pod on the node while the call
    # was still out, then the call failed as a lost reply does; the pod is ours, counted once,
    # with its Scheduled event (etcd restarting mid-burst: tests/faults). Deleted: nothing.
    s = setup()
    reply_lost_after_the_watch_shows(monkeypatch, s, bound=bound)
    attempt(s, pending("p1"))
    assert calls.count == 1
    reasons = [r for r, _ in s.recorder.events]
    # The failed call's warning was true when written; the Scheduled event follows it.
    assert reasons == (["FailedScheduling", "Scheduled"] if bound else ["FailedScheduling"])
    if bound:
        assert core.LOST_REPLY in s.recorder.events[1][1]
    assert s.sample("cloudedge_schedule_attempts_total", result="scheduled") == int(bound)
    assert s.scheduler.queue.get("p1") is None
    assert s.scheduler._unconfirmed == {}
    assert s.scheduler._gone_while_binding == {}
    assert cpu_used(s.view) == {"a": 600.0 if bound else 0.0}
    assert slots_free(s)


def test_a_pod_that_fits_nowhere_reserves_nothing_and_binds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = setup()
    bind_answers(monkeypatch, binding.Outcome.BOUND)
    attempt(s, pending("big", cpu="2"), binds=0)
    assert calls.count == 0
    assert slots_free(s)
    assert cpu_used(s.view) == {"a": 0.0}
    assert [r for r, _ in s.recorder.events] == ["FailedScheduling"]
    assert s.scheduler.queue.get("big") is not None


def test_the_decision_names_its_node_not_a_position_in_the_state() -> None:
    view = ClusterView()
    view.replace_nodes([node("b"), node("c", cpu="100m")])
    view.replace_pods([])
    pod = model.Pod(name="p", namespace="ns", uid="p", requests={"cpu": 600.0, "pods": 1.0})
    _, choice = view.decide(pod, model.ModelConfig())
    assert choice is not None
    view.upsert_node(node("a"))  # sorts first: index 0 is now another node
    assert choice.node == "b"
    assert choice.terms.node == "b"
    assert view.is_bound_or_reserved("p") == "b"


def test_bind_errors_are_one_hierarchy() -> None:
    for cls in (binding.BindConflict, binding.BindGone, binding.BindForbidden, binding.BindRetry):
        assert issubclass(cls, errors.BindError)
    assert issubclass(binding.BindNotFound, binding.BindGone)


@pytest.mark.parametrize(
    ("placement", "decided_before_a_bind_returns"),
    [pytest.param("greedy", WORKERS, id="greedy"), pytest.param("batch", 8, id="batch")],
)
def test_a_batch_is_reserved_whole_while_greedy_decides_only_as_bind_workers_free_up(
    monkeypatch: pytest.MonkeyPatch, placement: str, decided_before_a_bind_returns: int
) -> None:
    # Every Binding hangs until released: what is reserved by then was decided ahead of them.
    view = ClusterView()
    view.replace_nodes([node("a", cpu="4")])
    view.replace_pods([])
    scheduler = core.Scheduler(
        cluster=view,
        core=k8s.CoreV1Api(k8s.ApiClient()),
        config=model.ModelConfig(),
        metrics=Metrics(prom.CollectorRegistry()),
        gate=leader.LeaderGate(None, enabled=False),
        recorder=Recorder(),  # type: ignore[arg-type]
        bind_workers=WORKERS,
        batch=batching.BatchOptions(placement=placement, window_s=0.05, max_pods=8),
    )
    release = threading.Event()
    sent: list[str] = []

    def hanging(api: Any, *, name: str, **_: Any) -> binding.Outcome:
        sent.append(name)
        release.wait(timeout=5)
        return binding.Outcome.BOUND

    monkeypatch.setattr(binding, "bind", hanging)
    names = [f"p{k}" for k in range(8)]

    async def go() -> tuple[int, int]:
        for name in names:
            scheduler.pod_pending(pending(name, cpu="100m"))
        task = asyncio.create_task(scheduler.run())
        for _ in range(100):  # bounded: 2 s of 20 ms turns, until the decisions stop
            await asyncio.sleep(0.02)
            if len(sent) >= WORKERS and sum(map(bool, map(view.is_bound_or_reserved, names))) in (
                WORKERS,
                8,
            ):
                break
        await asyncio.sleep(0.1)
        held = sum(1 for name in names if view.is_bound_or_reserved(name))
        release.set()
        for _ in range(250):  # bounded: 5 s
            await asyncio.sleep(0.02)
            if len(scheduler.queue) == 0 and not scheduler._binds:
                break
        await scheduler.stop(drain_s=1)
        await asyncio.gather(task, return_exceptions=True)
        return held, len(sent)

    held, binds = asyncio.run(go())
    scheduler._side_pool.shutdown(wait=True)
    assert held == decided_before_a_bind_returns
    assert binds == 8
    assert sorted(sent) == sorted(names)  # each pod bound once
    assert cpu_used(view) == {"a": 800.0}


def test_other_work_on_the_event_loop_runs_between_two_decisions() -> None:
    # Pods that fit nowhere free their bind slot at once and the queue is never empty, so
    # nothing in the cycle waits: without a yield the loop (pod events, bindings, /metrics)
    # stood still until every one of them was tried.
    s = setup()
    pods = 60

    async def go() -> list[float]:
        for k in range(pods):
            s.scheduler.pod_pending(pending(f"big-{k}", cpu="8"))
        task = asyncio.create_task(s.scheduler.run())
        seen: list[float] = []
        for _ in range(2000):  # bounded: every pod tried, or 2,000 turns of the loop
            await asyncio.sleep(0)
            seen.append(s.sample("cloudedge_schedule_attempts_total", result="unschedulable"))
            if seen[-1] >= pods:
                break
        await s.scheduler.stop(drain_s=1)
        await asyncio.gather(task, return_exceptions=True)
        return seen

    seen = asyncio.run(go())
    s.scheduler._side_pool.shutdown(wait=True)
    assert seen[-1] == pods  # every pod was tried
    # This coroutine had a turn after each decision or so, not once all were made.
    assert len([n for n in seen if 0 < n < pods]) >= pods // 2, seen


def test_one_pods_side_calls_run_in_order_and_other_pods_run_beside_them() -> None:
    # A pod's FailedScheduling and its Scheduled are submitted microseconds apart; the first
    # write is slow here, and the second must still come after it. Another pod's call runs
    # meanwhile on another lane.
    pool = core.SidePool(lanes=2)
    written: list[str] = []
    slow_started, other_done = threading.Event(), threading.Event()

    def slow(name: str) -> None:
        slow_started.set()
        other_done.wait(timeout=5)  # bounded: held until the other pod's call is written
        written.append(name)

    # Two UIDs on different lanes of two.
    first, other = (
        "pod-a",
        next(
            f"pod-{k}"
            for k in range(100)
            if zlib.crc32(f"pod-{k}".encode()) % 2 != zlib.crc32(b"pod-a") % 2
        ),
    )
    pool.submit(first, slow, "a: FailedScheduling")
    pool.submit(first, written.append, "a: Scheduled")
    assert slow_started.wait(timeout=5)
    pool.submit(other, lambda: (written.append(f"{other}: Scheduled"), other_done.set()))
    pool.shutdown(wait=True)
    assert written == [f"{other}: Scheduled", "a: FailedScheduling", "a: Scheduled"]
