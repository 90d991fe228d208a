"""Strategies: arrival-order greedy, the spread baseline, and the MILP optimum."""

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


def test_optimal_places_more_than_greedy_on_the_seed_case() -> None:
    cluster, pods = seed_like()
    greedy = model.place(pods, cluster, CONFIG, strategy="score")
    best = model.place(pods, cluster, CONFIG, strategy="optimal")
    assert greedy.placed == 8
    assert best.placed == 9
    assert best.solver_status == "optimal"


def test_optimal_minimizes_completion_time_among_maximal_placements() -> None:
    # Two pods, two edge nodes, one holds both pods' data: greedy puts the first pod there,
    # the optimum gives the data node to the pod with more data.
    cluster = model.ClusterState([edge("edge-1", cpu=1000), edge("edge-2", cpu=1000)])
    small = pod("small", cpu=1000, data_source="edge-1", data_size_mb=1)
    big = pod("big", cpu=1000, data_source="edge-1", data_size_mb=100)
    greedy = model.place([small, big], cluster, CONFIG, strategy="score")
    best = model.place([small, big], cluster, CONFIG, strategy="optimal")
    assert [p.node for p in greedy.placements] == ["edge-1", "edge-2"]
    assert [p.node for p in best.placements] == ["edge-2", "edge-1"]
    assert strategies.total_completion_time(best, CONFIG) < strategies.total_completion_time(
        greedy, CONFIG
    )


def test_optimal_reports_pods_that_lost_capacity_to_the_batch() -> None:
    cluster = model.ClusterState([edge(cpu=1000)])
    best = model.place([pod("a", cpu=800), pod("b", cpu=800)], cluster, CONFIG, strategy="optimal")
    assert best.placed == 1
    reasons = [p.reason for p in best.placements if p.node is None]
    assert reasons == ["capacity went to other pods of the batch"]


def test_optimal_with_no_feasible_pair_reports_the_filters() -> None:
    cluster = model.ClusterState([edge(cpu=100)])
    best = model.place([pod(cpu=800)], cluster, CONFIG, strategy="optimal")
    assert best.placements[0].reason == "0/1 nodes are available: 1 Insufficient cpu."


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="'fastest'"):
        model.place([], model.ClusterState([edge()]), CONFIG, strategy="fastest")
