"""Properties that hold on every cluster hypothesis can build.

No strategy overcommits; every placement passes every filter (the joint strategies on the
final state); ``batch`` and ``optimal`` never do worse than ``score`` under the final-state
evaluator; more bandwidth never slows a transfer; scores stay within 0..100.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudedge import model
from cloudedge.model import batch as solver
from cloudedge.model import evaluator, filters, scoring, strategies, terms

SITES = ("cloud-a", "cloud-b", "edge-a", "edge-b", "edge-c")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def nodes(draw: st.DrawFn, index: int) -> model.Node:
    tier = draw(st.sampled_from([model.Tier.CLOUD, model.Tier.EDGE, None]))
    cpu = draw(st.sampled_from([500.0, 1000.0, 2000.0, 4000.0, 8000.0]))
    mem = draw(st.sampled_from([2.0**30, 4 * 2.0**30, 16 * 2.0**30]))
    used_frac = draw(st.floats(0, 1))
    return model.Node(
        name=f"node-{index}",
        tier=tier,
        site=draw(st.sampled_from(SITES)),
        bandwidth_mbps=draw(st.sampled_from([50.0, 100.0, 1000.0, 10000.0])),
        compute_rate=cpu,
        allocatable={
            "cpu": cpu,
            "memory": mem,
            "pods": draw(st.sampled_from([2.0, 110.0])),
            # Named resources beyond cpu and memory: some nodes have GPUs, few have storage.
            "nvidia.com/gpu": draw(st.sampled_from([0.0, 1.0, 2.0])),
            "ephemeral-storage": draw(st.sampled_from([0.0, 2.0**34])),
        },
        used={"cpu": round(cpu * used_frac * draw(st.floats(0, 1)))},
        ready=draw(st.booleans()) or draw(st.booleans()),
        schedulable=draw(st.booleans()) or draw(st.booleans()),
        labels={"disk": draw(st.sampled_from(["ssd", "hdd"]))},
    )


@st.composite
def pods(draw: st.DrawFn, index: int) -> model.Pod:
    source = draw(st.one_of(st.none(), st.sampled_from(SITES), st.sampled_from(["node-0"])))
    return model.Pod(
        name=f"pod-{index}",
        requests={
            "cpu": draw(st.sampled_from([0.0, 100.0, 250.0, 500.0, 1000.0, 3000.0])),
            "memory": draw(st.sampled_from([0.0, 2.0**28, 2.0**30])),
            "pods": 1.0,
            "nvidia.com/gpu": draw(st.sampled_from([0.0, 0.0, 1.0])),
            "ephemeral-storage": draw(st.sampled_from([0.0, 0.0, 2.0**30])),
            "example.com/dongle": draw(st.sampled_from([0.0, 0.0, 0.0, 1.0])),  # no node has one
        },
        workload=draw(st.sampled_from(list(model.Workload))),
        compute_cost=draw(st.sampled_from([0.0, 10.0, 500.0, 5000.0])),
        data_source=source,
        data_size_mb=draw(st.sampled_from([0.0, 1.0, 50.0])),
        max_latency_ms=draw(st.one_of(st.none(), st.sampled_from([20.0, 200.0, 2000.0]))),
        tier=draw(st.one_of(st.none(), st.sampled_from(list(model.Tier)))),
        node_selector=draw(st.sampled_from([{}, {}, {"disk": "ssd"}])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[model.ClusterState, list[model.Pod]]:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 9))
    topo = model.Topology(
        links=draw(st.sampled_from([(), (model.Link("edge-a", "cloud-a", 10.0, 20.0),)]))
    )
    cluster = model.ClusterState([draw(nodes(i)) for i in range(n)], topology=topo)
    return cluster, [draw(pods(k)) for k in range(m)]


CONFIG = model.ModelConfig()


@SETTINGS
@given(scenarios(), st.sampled_from(list(model.Strategy)))
def test_no_strategy_ever_exceeds_a_nodes_allocatable(
    scenario: tuple[model.ClusterState, list[model.Pod]], strategy: model.Strategy
) -> None:
    cluster, batch = scenario
    result = model.place(batch, cluster, CONFIG, strategy=strategy, time_limit_s=5)
    added = result.final.used - cluster.used
    assert np.all(added >= -1e-9)
    # Nodes that started over capacity (usage by others) must not get anything more.
    over = result.final.used > cluster.allocatable + filters.FIT_EPSILON
    assert np.all(~over | (added <= 1e-9))


@SETTINGS
@given(scenarios(), st.sampled_from([model.Strategy.SCORE, model.Strategy.SPREAD]))
def test_every_sequential_placement_passes_every_filter(
    scenario: tuple[model.ClusterState, list[model.Pod]], strategy: model.Strategy
) -> None:
    cluster, batch = scenario
    result = model.place(batch, cluster, CONFIG, strategy=strategy)
    replay = cluster.copy()
    for placement in result.placements:
        ev = model.evaluate(placement.pod, replay, CONFIG)
        if placement.node is None:
            assert not ev.feasible.any()
            continue
        i = replay.index[placement.node]
        assert ev.feasible[i], ev.result.reason(i)
        replay.assign(placement.pod.requests, i)


JOINT = st.sampled_from([model.Strategy.BATCH, model.Strategy.OPTIMAL])


@SETTINGS
@given(scenarios(), JOINT)
def test_every_joint_placement_passes_every_filter_on_the_final_state(
    scenario: tuple[model.ClusterState, list[model.Pod]], strategy: model.Strategy
) -> None:
    cluster, batch = scenario
    result = model.place(batch, cluster, CONFIG, strategy=strategy, time_limit_s=5)
    for placement in result.placements:
        if placement.node is None:
            continue
        # The pod evaluated with every other pod of the batch in place: every filter,
        # the deadline included, holds on the state the batch produces.
        i = cluster.index[placement.node]
        result.final.release(placement.pod.requests, i)
        ev = model.evaluate(placement.pod, result.final, CONFIG)
        result.final.assign(placement.pod.requests, i)
        assert ev.feasible[i], ev.result.reason(i)
    graded = strategies.grade(result, CONFIG)
    assert graded.deadline_misses == 0
    assert np.all(result.final.used <= np.maximum(cluster.allocatable, cluster.used) + 1e-6)


@SETTINGS
@given(scenarios(), JOINT)
def test_joint_placement_is_never_worse_than_greedy_on_the_final_state(
    scenario: tuple[model.ClusterState, list[model.Pod]], strategy: model.Strategy
) -> None:
    cluster, batch = scenario
    greedy_result = model.place(batch, cluster, CONFIG, strategy="score")
    greedy = strategies.grade(greedy_result, CONFIG)
    joint_result = model.place(batch, cluster, CONFIG, strategy=strategy, time_limit_s=5)
    joint = strategies.grade(joint_result, CONFIG)
    assert joint.on_time >= greedy.on_time
    # By the solver's objective (the sharing reading, pairwise): greedy's placement with its
    # late pods taken out is one of the solver's starting points.
    problem = evaluator.Problem(batch, cluster, CONFIG)
    started = solver.from_nodes(problem, _indices(greedy_result, cluster))
    kept = solver.from_nodes(problem, _indices(joint_result, cluster))
    assert kept.placed == joint.placed
    assert kept.placed >= started.placed
    if kept.placed == started.placed:
        g = started.total()
        assert kept.total() <= g + 1e-7 * max(1.0, g)


def _indices(result: strategies.PlacementResult, cluster: model.ClusterState) -> list[int | None]:
    return [None if p.node is None else cluster.index[p.node] for p in result.placements]


@SETTINGS
@given(scenarios())
def test_batch_places_at_least_as_many_pods_on_time_as_spread(
    scenario: tuple[model.ClusterState, list[model.Pod]],
) -> None:
    cluster, batch = scenario
    spread = strategies.grade(model.place(batch, cluster, CONFIG, strategy="spread"), CONFIG)
    joint = strategies.grade(model.place(batch, cluster, CONFIG, strategy="batch"), CONFIG)
    assert joint.on_time >= spread.on_time


@SETTINGS
@given(
    scenarios(),
    st.sampled_from(["node", "source", "link"]),
    st.floats(1.0, 100.0),
    st.sampled_from(list(model.BandwidthModel)),
)
def test_more_bandwidth_never_makes_a_transfer_longer(
    scenario: tuple[model.ClusterState, list[model.Pod]],
    where: str,
    factor: float,
    bandwidth_model: model.BandwidthModel,
) -> None:
    cluster, batch = scenario
    pod = dataclasses.replace(batch[0], data_source="node-0", data_size_mb=10.0)
    term = terms.TransferTime(model=bandwidth_model)
    before = term.compute(pod, cluster)
    nodes_ = list(cluster.nodes)
    topo = cluster.topology
    if where == "node":
        nodes_ = [dataclasses.replace(n, bandwidth_mbps=n.bandwidth_mbps * factor) for n in nodes_]
    elif where == "source":
        nodes_[0] = dataclasses.replace(nodes_[0], bandwidth_mbps=nodes_[0].bandwidth_mbps * factor)
    else:
        links = tuple(
            dataclasses.replace(lk, bandwidth_mbps=(lk.bandwidth_mbps or 1.0) * factor)
            for lk in topo.links
        )
        topo = dataclasses.replace(topo, links=links)
    after = term.compute(pod, model.ClusterState(nodes_, topology=topo))
    assert np.all(after <= before + 1e-12)


@SETTINGS
@given(scenarios())
def test_scores_stay_within_0_and_100(
    scenario: tuple[model.ClusterState, list[model.Pod]],
) -> None:
    cluster, batch = scenario
    for pod in batch:
        ev = scoring.evaluate(pod, cluster, CONFIG)
        assert np.all((ev.scores >= 0) & (ev.scores <= 100))
        assert np.all(np.isfinite(ev.ect))


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["cpu", "memory", "pods", "nvidia.com/gpu"]),
            st.floats(0, 1e12, allow_nan=False),
            max_size=4,
        ),
        max_size=12,
    )
)
def test_a_total_of_resource_lists_is_their_sum_one_after_the_other(
    amounts: list[dict[str, float]],
) -> None:
    """``ResourceList.total`` (the view's per-node usage) equals adding the lists in turn."""
    lists = [model.ResourceList(a) for a in amounts]
    one_by_one = model.ResourceList()
    for one in lists:
        one_by_one = one_by_one + one
    total = model.ResourceList.total(lists)
    assert dict(total.items()) == dict(one_by_one.items())
    assert model.ResourceList.total(amounts) == one_by_one


@SETTINGS
@given(scenarios(), st.sampled_from(list(model.Strategy)))
def test_no_placement_is_below_the_floor_of_each_pod_alone(
    scenario: tuple[model.ClusterState, list[model.Pod]], strategy: model.Strategy
) -> None:
    cluster, batch = scenario
    result = model.place(batch, cluster, CONFIG, strategy=strategy, time_limit_s=5)
    problem = evaluator.Problem(batch, cluster, CONFIG)
    queueing, sharing = evaluator.least_completion(problem)
    graded = strategies.grade(result, CONFIG)
    shared = strategies.grade_sharing(result, CONFIG)
    for p, (by_queue, by_share) in enumerate(zip(graded.outcomes, shared.outcomes, strict=True)):
        if by_queue is None or by_share is None:
            continue
        assert by_queue.ect_s >= queueing[p] - 1e-9
        assert by_share.ect_s >= sharing[p] - 1e-9
    if graded.placed:
        assert evaluator.least_mean(queueing, graded.placed) <= graded.mean_ect_s + 1e-9
        assert evaluator.least_mean(sharing, graded.placed) <= shared.mean_ect_s + 1e-9


def test_the_least_mean_of_a_count_is_the_mean_of_that_many_smallest_floors() -> None:
    floors = np.array([4.0, np.inf, 1.0, 3.0])
    assert evaluator.least_mean(floors, 2) == 2.0
    assert evaluator.least_mean(floors, 3) == np.float64(8.0 / 3)
    assert evaluator.least_mean(floors, 4) == np.inf, "a pod no node allows cannot be placed"
    assert np.isnan(evaluator.least_mean(floors, 0))
