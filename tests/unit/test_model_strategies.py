"""Strategies: arrival-order greedy, the spread baseline, and joint placement (batch, optimal)."""

from __future__ import annotations

import pytest
from model_builders import cloud, edge, pod

from cloudedge import model
from cloudedge.model import strategies

CONFIG = model.ModelConfig()


def test_greedy_decides_in_arrival_order_and_counts_earlier_pods() -> None:
    cluster = model.ClusterState([edge("edge-1", cpu=1000), edge("edge-2", cpu=1000)])
    pods = [pod(f"p{k}", cpu=600) for k in range(3)]
    result = model.place(pods, cluster, CONFIG, strategy="score")
    nodes = [p.node for p in result.placements]
    assert sorted(nodes[:2]) == ["edge-1", "edge-2"]  # the second pod cannot join the first
    assert nodes[2] is None
    assert result.placements[2].reason == "0/2 nodes are available: 2 Insufficient cpu."


def test_placing_does_not_change_the_input_cluster() -> None:
    cluster = model.ClusterState([edge()])
    model.place([pod(cpu=500)], cluster, CONFIG, strategy="score")
    assert cluster.used.sum() == 0


def test_latency_sensitive_pods_stay_next_to_their_edge_data() -> None:
    cluster = model.ClusterState([cloud(), edge("edge-1"), edge("edge-2")])
    p = pod(
        cpu=250,
        workload=model.Workload.LATENCY_SENSITIVE,
        data_source="site-edge-2",
        data_size_mb=1,
        compute_cost=50,
        max_latency_ms=150,
    )
    [placement] = model.place([p], cluster, CONFIG).placements
    assert placement.node == "edge-2"


def test_heavy_compute_goes_to_the_cloud() -> None:
    cluster = model.ClusterState([cloud(), edge("edge-1"), edge("edge-2")])
    p = pod(cpu=1000, workload=model.Workload.COMPUTE_INTENSIVE, compute_cost=40000)
    [placement] = model.place([p], cluster, CONFIG).placements
    assert placement.node == "cloud-1"


def test_spread_prefers_the_least_allocated_node() -> None:
    cluster = model.ClusterState(
        [edge("edge-1", used={"cpu": 1000, "memory": 0, "pods": 0}), edge("edge-2")]
    )
    [placement] = model.place([pod(cpu=100)], cluster, CONFIG, strategy="spread").placements
    assert placement.node == "edge-2"


def test_spread_scores_match_kube_scheduler_for_an_idle_node() -> None:
    cluster = model.ClusterState([edge(cpu=1000, mem=1000)])
    got = strategies.spread_scores(pod(cpu=500, mem=250), cluster)
    # LeastAllocated: mean(50, 75) = 62.5; Balanced: 100 * (1 - |0.5 - 0.25| / 2) = 87.5.
    assert float(got[0]) == pytest.approx(150.0)


def seed_like() -> tuple[model.ClusterState, list[model.Pod]]:
    nodes = [cloud(f"cloud-{i}", cpu=1000) for i in range(3)]
    nodes += [edge(f"edge-{i}", cpu=500) for i in range(5)]
    pods = [pod(f"t{k}", cpu=500 if k < 8 else 1000) for k in range(10)]
    return model.ClusterState(nodes), pods


@pytest.mark.parametrize("strategy", ["batch", "optimal"])
def test_joint_placement_places_more_than_greedy_on_the_seed_case(strategy: str) -> None:
    cluster, pods = seed_like()
    greedy = model.place(pods, cluster, CONFIG, strategy="score")
    best = model.place(pods, cluster, CONFIG, strategy=strategy)
    assert greedy.placed == 8
    assert best.placed == 9


def test_optimal_proves_the_count_on_the_seed_case() -> None:
    cluster, pods = seed_like()
    best = model.place(pods, cluster, CONFIG, strategy="optimal")
    assert best.solve is not None
    assert best.solve.count_proven
    assert best.solver_status in ("optimal", "count-proven")


@pytest.mark.parametrize("strategy", ["batch", "optimal"])
def test_joint_placement_minimizes_completion_time_among_maximal_placements(
    strategy: str,
) -> None:
    # Two pods, two edge nodes, one holds both pods' data: greedy puts the first pod there,
    # the joint placement gives the data node to the pod with more data.
    cluster = model.ClusterState([edge("edge-1", cpu=1000), edge("edge-2", cpu=1000)])
    small = pod("small", cpu=1000, data_source="edge-1", data_size_mb=1)
    big = pod("big", cpu=1000, data_source="edge-1", data_size_mb=100)
    greedy = model.place([small, big], cluster, CONFIG, strategy="score")
    best = model.place([small, big], cluster, CONFIG, strategy=strategy)
    assert [p.node for p in greedy.placements] == ["edge-1", "edge-2"]
    assert [p.node for p in best.placements] == ["edge-2", "edge-1"]
    assert strategies.grade(best, CONFIG).total_ect_s < strategies.grade(greedy, CONFIG).total_ect_s


def test_two_pods_on_one_node_wait_behind_the_final_utilization() -> None:
    # Alone, each pod would see the node half full; graded together, both see it full.
    cluster = model.ClusterState([edge("edge-1", cpu=1000)])
    a, b = pod("a", cpu=500, compute_cost=100), pod("b", cpu=500, compute_cost=100)
    result = model.place([a, b], cluster, CONFIG, strategy="score")
    graded = strategies.grade(result, CONFIG)
    service = 100 / 1000
    rho = CONFIG.max_utilization
    assert [o.waiting_s for o in graded.outcomes if o] == pytest.approx(
        [service * rho / (1 - rho)] * 2
    )


def test_a_deadline_missed_only_because_of_later_pods_counts_as_a_miss() -> None:
    # Greedy checks the first pod's deadline when it arrives; the second pod then fills
    # the node and pushes the first one's wait past its deadline.
    cluster = model.ClusterState([edge("edge-1", cpu=1000)])
    first = pod("first", cpu=500, compute_cost=100, max_latency_ms=300)
    second = pod("second", cpu=400, compute_cost=100)
    greedy = strategies.grade(model.place([first, second], cluster, CONFIG), CONFIG)
    joint = strategies.grade(
        model.place([first, second], cluster, CONFIG, strategy="batch"), CONFIG
    )
    assert greedy.placed == 2
    assert greedy.deadline_misses == 1
    assert joint.deadline_misses == 0
    assert joint.on_time == 1


def test_joint_placement_reports_pods_that_lost_capacity_to_the_batch() -> None:
    cluster = model.ClusterState([edge(cpu=1000)])
    best = model.place([pod("a", cpu=800), pod("b", cpu=800)], cluster, CONFIG, strategy="batch")
    assert best.placed == 1
    reasons = [p.reason for p in best.placements if p.node is None]
    assert reasons == ["capacity or deadlines went to other pods of the batch"]


@pytest.mark.parametrize("strategy", ["batch", "optimal"])
def test_joint_placement_with_no_feasible_pair_reports_the_filters(strategy: str) -> None:
    cluster = model.ClusterState([edge(cpu=100)])
    best = model.place([pod(cpu=800)], cluster, CONFIG, strategy=strategy)
    assert best.placements[0].reason == "0/1 nodes are available: 1 Insufficient cpu."


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="'fastest'"):
        model.place([], model.ClusterState([edge()]), CONFIG, strategy="fastest")


def test_a_placement_graded_by_the_sharing_reading_counts_what_co_placed_pods_do() -> None:
    # Two CPU-bound pods of 1000 units and a 1000-millicore node each: by the queueing
    # reading packing them is as quick as spreading them (the requests leave the node far from
    # full), by the sharing reading each packed pod takes twice as long.
    cluster = model.ClusterState([edge("edge-1", cpu=4000), edge("edge-2", cpu=4000)])
    pods = [pod(f"p{k}", cpu=100, compute_cost=4000.0) for k in range(2)]
    packed = strategies.PlacementResult(
        strategies.Strategy.SCORE,
        [strategies.Placement(pod=p, node="edge-1") for p in pods],
        base=cluster.copy(),
        final=cluster.copy(),
    )
    spread = model.place(pods, cluster, CONFIG, strategy="spread")
    assert sorted(p.node or "" for p in spread.placements) == ["edge-1", "edge-2"]
    assert strategies.grade_sharing(spread, CONFIG).ects == pytest.approx([1.0, 1.0])
    assert strategies.grade_sharing(packed, CONFIG).ects == pytest.approx([2.0, 2.0])
    queueing = strategies.grade(packed, CONFIG).ects
    assert queueing[0] < 1.1  # the requests are 5% of the node: almost no wait
