"""Live batch mode: which pods form a batch, the flags that shape it, and committing a batch
decided on a snapshot to a view that may have changed since."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloudedge import cli, errors, model
from cloudedge.cluster.view import ClusterView
from cloudedge.metrics import Metrics
from cloudedge.model import strategies
from cloudedge.scheduler import batching
from cloudedge.scheduler.queue import QueuedPod, SchedulingQueue

CONFIG = model.ModelConfig()


def pending(uid: str, *, rv: int, priority: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"schedulerName": "cloud-edge-scheduler"}
    if priority is not None:
        spec["priority"] = priority
    return {
        "metadata": {
            "uid": uid,
            "name": uid,
            "namespace": "ns",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "resourceVersion": str(rv),
        },
        "spec": spec,
    }


def uids(batch: list[QueuedPod]) -> list[str]:
    return [qp.uid for qp in batch]


# -- forming a batch -------------------------------------------------------------------------


def test_a_batch_takes_the_waiting_pods_up_to_its_maximum_in_queue_order() -> None:
    async def go() -> tuple[list[str], list[str]]:
        q = SchedulingQueue()
        for k, uid in enumerate(["c", "a", "d", "b"]):
            q.add(pending(uid, rv={"a": 1, "b": 2, "c": 3, "d": 4}[uid] + 0 * k))
        first = await q.pop_batch(max_pods=3, window_s=0.0)
        second = await q.pop_batch(max_pods=3, window_s=0.0)
        return uids(first), uids(second)

    assert asyncio.run(go()) == (["a", "b", "c"], ["d"])


def test_a_pod_arriving_within_the_window_joins_the_batch_and_a_later_one_does_not() -> None:
    async def go() -> tuple[list[str], list[str]]:
        q = SchedulingQueue()
        loop = asyncio.get_running_loop()
        q.add(pending("first", rv=1))
        loop.call_later(0.05, q.add, pending("within", rv=2))
        loop.call_later(0.6, q.add, pending("after", rv=3))
        batch = await q.pop_batch(max_pods=10, window_s=0.3)
        later = await q.pop_batch(max_pods=10, window_s=0.0)
        return uids(batch), uids(later)

    assert asyncio.run(go()) == (["first", "within"], ["after"])


def test_a_higher_priority_pod_that_arrives_later_is_placed_first_in_its_batch() -> None:
    async def go() -> list[str]:
        q = SchedulingQueue()
        loop = asyncio.get_running_loop()
        q.add(pending("early", rv=1))
        loop.call_later(0.02, q.add, pending("urgent", rv=2, priority=1000))
        return uids(await q.pop_batch(max_pods=10, window_s=0.2))

    assert asyncio.run(go()) == ["urgent", "early"]


def test_a_full_batch_does_not_wait_out_its_window() -> None:
    async def go() -> list[str]:
        q = SchedulingQueue()
        q.add(pending("a", rv=1))
        q.add(pending("b", rv=2))
        # A 60 s window would time the test out if a full batch waited for it.
        return uids(await asyncio.wait_for(q.pop_batch(max_pods=2, window_s=60.0), 5.0))

    assert asyncio.run(go()) == ["a", "b"]


def test_every_pod_of_a_batch_is_in_flight_until_its_attempt_ends() -> None:
    async def go() -> dict[str, int]:
        q = SchedulingQueue()
        q.add(pending("a", rv=1))
        q.add(pending("b", rv=2))
        batch = await q.pop_batch(max_pods=5, window_s=0.0)
        q.requeue(batch[1].uid)
        return q.counts()

    counts = asyncio.run(go())
    assert counts["in_flight"] == 1
    assert counts["active"] == 1


def test_a_batch_of_no_pods_is_refused() -> None:
    with pytest.raises(ValueError, match="max_pods"):
        asyncio.run(SchedulingQueue().pop_batch(max_pods=0, window_s=0.0))


# -- flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"placement": "joint"}, "--placement 'joint' is invalid: one of greedy, batch"),
        ({"window_s": -1.0}, "--batch-window -1.0 is invalid"),
        ({"window_s": float("nan")}, "--batch-window nan is invalid"),
        ({"window_s": 600.0}, "--batch-window 600.0 is invalid"),
        ({"max_pods": 0}, "--batch-max 0 is invalid: at least 1"),
        ({"time_limit_s": 0.0}, "--batch-time-limit 0.0 is invalid: seconds above 0"),
    ],
    ids=[
        "unknown-placement",
        "negative-window",
        "nan-window",
        "hour-long-window",
        "empty-batch",
        "no-solve-time",
    ],
)
def test_a_bad_batch_flag_is_a_configuration_error_naming_it(
    kwargs: dict[str, Any], names: str
) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        batching.BatchOptions(**kwargs)
    assert names in str(caught.value)


def test_greedy_is_the_default_placement_and_batch_is_chosen_by_flag() -> None:
    defaults = cli.parser().parse_args(["run"])
    assert defaults.placement == "greedy"
    assert not batching.BatchOptions(placement=defaults.placement).batched
    args = cli.parser().parse_args(
        ["run", "--placement", "batch", "--batch-window", "0.5", "--batch-max", "40"]
    )
    opts = batching.BatchOptions(
        placement=args.placement, window_s=args.batch_window, max_pods=args.batch_max
    )
    assert opts.batched
    assert (opts.placement, opts.window_s, opts.max_pods) == (batching.Placement.BATCH, 0.5, 40)


def test_the_batch_metrics_are_exposed_under_their_documented_names() -> None:
    text = Metrics().exposition().decode()
    for name in (
        "cloudedge_batch_size_pods_bucket",
        "cloudedge_batch_solve_duration_seconds_bucket",
        "cloudedge_batch_bound_gap_ratio_bucket",
    ):
        assert name in text


# -- committing a batch to the live view -----------------------------------------------------


def node(name: str, cpu: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"cloudedge.io/tier": "edge"}},
        "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}},
    }


def model_pod(uid: str, cpu: float) -> model.Pod:
    return model.Pod(
        name=uid, namespace="ns", uid=uid, requests={"cpu": cpu, "memory": 0.0, "pods": 1.0}
    )


def fresh_view() -> ClusterView:
    view = ClusterView()
    view.replace_nodes([node("big", "2"), node("small", "1")])
    view.replace_pods([])
    return view


def test_a_pod_is_reserved_on_the_node_the_batch_chose_not_on_greedys_best() -> None:
    view = fresh_view()
    _, greedy_best = view.decide(model_pod("probe", 100), CONFIG)
    view.unreserve("probe")
    assert greedy_best is not None
    chosen = "small" if greedy_best.node == "big" else "big"
    _, best = view.decide(model_pod("p", 100), CONFIG, on=chosen)
    assert best is not None
    assert best.node == chosen
    assert view.is_bound_or_reserved("p") == chosen


def test_a_pod_whose_chosen_node_filled_up_since_the_snapshot_gets_the_best_node_now() -> None:
    view = fresh_view()
    snapshot = view.snapshot()
    view.upsert_pod(
        {
            "metadata": {"uid": "other", "name": "other", "namespace": "ns"},
            "spec": {
                "nodeName": "small",
                "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
            },
            "status": {"phase": "Running"},
        }
    )
    assert float(snapshot.used[snapshot.index["small"], 0]) == 0.0  # the snapshot kept its own
    _, best = view.decide(model_pod("p", 500), CONFIG, on="small")
    assert best is not None
    assert best.node == "big"
    assert view.is_bound_or_reserved("p") == "big"


def test_the_live_batch_places_exactly_as_simulate_strategy_batch() -> None:
    view = fresh_view()
    pods = [model_pod(f"p{k}", 700) for k in range(6)]
    live = batching.place(pods, view.snapshot(), CONFIG, time_limit_s=2.0)
    offline = strategies.place(pods, view.snapshot(), CONFIG, strategy="batch")
    assert live.nodes == [p.node for p in offline.placements]
    assert sum(1 for node in live.nodes if node) == 3  # 2 + 1 CPU hold three 700m pods
    left_out = [reason for node, reason in zip(live.nodes, live.reasons, strict=True) if not node]
    assert left_out == [strategies.UNPLACED_IN_BATCH] * 3


def test_pods_with_inter_pod_constraints_are_decided_one_by_one() -> None:
    plain = model_pod("plain", 100)
    assert not batching.needs_greedy([plain])
    assert batching.needs_greedy([plain, _with_host_port(model_pod("ported", 100))])


def _with_host_port(pod: model.Pod) -> model.Pod:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(pod)}
    assert "host_ports" in fields, sorted(fields)
    return dataclasses.replace(pod, host_ports=(("TCP", "0.0.0.0", 8080),))


def test_the_pods_an_earlier_batch_left_pending_are_placed_before_the_new_ones() -> None:
    view = fresh_view()
    old = model_pod("old", 2000)  # the whole of "big", or nothing
    new = [model_pod(f"new-{k}", 1000) for k in range(3)]
    first = batching.place([*new, old], view.snapshot(), CONFIG, time_limit_s=1.0)
    assert first.nodes[-1] is None  # three 1-CPU pods fit where it would run alone
    again = batching.place(
        [*new, old], view.snapshot(), CONFIG, time_limit_s=1.0, waited=[False] * 3 + [True]
    )
    assert again.nodes[-1] == "big"
