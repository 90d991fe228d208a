"""The joint solver counts placed pods priority by priority, as kube-scheduler's queue takes
them: a pod of a higher ``spec.priority`` is never left pending so that more pods of a lower
one fit, and within one priority the count still comes before the total."""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import random

import model_builders as mb
import pytest
import yaml

from cloudedge import inputs, model, simulate
from cloudedge.model import batch, evaluator, strategies

CONFIG = model.ModelConfig()


def placed(result: strategies.PlacementResult) -> set[str]:
    return {p.pod.name for p in result.placements if p.node is not None}


def one_node_contest(high_priority: int) -> tuple[model.ClusterState, list[model.Pod]]:
    """One 1-CPU node; two half-node pods, then one whole-node pod of ``high_priority``."""
    cluster = model.ClusterState([mb.edge("edge-1", cpu=1000)])
    pods = [
        mb.pod("low-1", cpu=500, compute_cost=100.0),
        mb.pod("low-2", cpu=500, compute_cost=100.0),
        mb.pod("high", cpu=1000, compute_cost=5000.0, priority=high_priority),
    ]
    return cluster, pods


@pytest.mark.parametrize("strategy", ["batch", "optimal"])
def test_a_higher_priority_pod_runs_though_two_lower_ones_would_fit_in_its_place(
    strategy: str,
) -> None:
    cluster, pods = one_node_contest(high_priority=1000)
    result = model.place(pods, cluster, CONFIG, strategy=strategy, time_limit_s=1.0)
    assert placed(result) == {"high"}
    # One priority for all: the count comes first, so the two small pods run.
    cluster, pods = one_node_contest(high_priority=0)
    result = model.place(pods, cluster, CONFIG, strategy=strategy, time_limit_s=1.0)
    assert placed(result) == {"low-1", "low-2"}


def test_a_lower_priority_pod_never_takes_the_place_of_a_higher_one_in_an_exchange() -> None:
    # Room for one whole-node pod: the low-priority one would finish far sooner, so the
    # exchange that lowers the total is the one the priorities forbid.
    cluster = model.ClusterState([mb.edge("edge-1", cpu=1000)])
    pods = [
        mb.pod("slow-important", cpu=1000, compute_cost=10000.0, priority=5),
        mb.pod("quick", cpu=1000, compute_cost=10.0),
    ]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    a = batch.from_nodes(problem, [0, None])
    assert not batch.improve_exchanges(a, batch.Budget(0, exact=True))
    assert a.where.tolist() == [0, -1]
    # The other way round, the important pod takes the room whatever it costs.
    a = batch.from_nodes(problem, [None, 0])
    assert batch.improve_exchanges(a, batch.Budget(0, exact=True))
    assert a.where.tolist() == [0, -1]


def test_counts_are_compared_rank_by_rank_from_the_highest_priority() -> None:
    cluster = model.ClusterState([mb.edge("edge-1", cpu=1000)])
    pods = [
        mb.pod("p0", cpu=100, priority=0),
        mb.pod("p7", cpu=100, priority=7),
        mb.pod("p3", cpu=100, priority=3),
        mb.pod("q0", cpu=100, priority=0),
    ]
    problem = evaluator.Problem(pods, cluster, CONFIG)
    assert problem.tier.tolist() == [2, 0, 1, 2]
    one_high = batch.from_nodes(problem, [None, 0, None, None])
    three_low = batch.from_nodes(problem, [0, None, 0, 0])
    assert one_high.counts() == (1, 0, 0)
    assert three_low.counts() == (0, 1, 2)
    assert one_high.key() > three_low.key()
    worth = batch.priority_worth(problem)
    # Worth more than every pod of the lower ranks together.
    assert worth[1] > worth[2] + worth[0] + worth[3]
    assert worth[2] > worth[0] + worth[3]


def random_contest(seed: int) -> tuple[model.ClusterState, list[model.Pod]]:
    rng = random.Random(seed)
    nodes = [mb.edge(f"edge-{k}", cpu=rng.choice((1000.0, 2000.0))) for k in range(2)]
    pods = [
        mb.pod(
            f"p{k}",
            cpu=rng.choice((250.0, 500.0, 1000.0)),
            compute_cost=rng.choice((10.0, 500.0, 5000.0)),
            priority=rng.choice((0, 0, 10, 100)),
        )
        for k in range(7)
    ]
    return model.ClusterState(nodes), pods


@pytest.mark.parametrize("seed", range(8))
def test_the_solver_places_the_largest_counts_rank_by_rank(seed: int) -> None:
    """Against every assignment of a small batch that fits (enumerated): no placement fits
    more pods of a higher priority, or as many and more of the next one, than the solver's."""
    cluster, pods = random_contest(seed)
    problem = evaluator.Problem(pods, cluster, CONFIG)
    best: tuple[int, ...] = ()
    for choice in itertools.product([None, *range(len(cluster))], repeat=len(pods)):
        a = batch.from_nodes(problem, list(choice))
        if a.placed == sum(c is not None for c in choice):  # nothing dropped: it fits
            best = max(best, a.counts())
    result = strategies.place_batch(pods, cluster, CONFIG)
    names = [p.node for p in result.placements]
    solved = batch.from_nodes(problem, [None if n is None else cluster.index[n] for n in names])
    assert solved.counts() == best


def test_priority_is_read_from_the_pod_spec_as_kube_scheduler_reads_it() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"priority": 1000, "containers": [{"name": "c", "image": "i"}]},
    }
    assert inputs.parse_pod(pod).priority == 1000
    for missing in ({}, {"priority": None}, {"priority": "high"}, {"priority": True}):
        spec = {"containers": [{"name": "c", "image": "i"}], **missing}
        assert inputs.parse_pod({"metadata": {"name": "p"}, "spec": spec}).priority == 0


def simulated(files: list[pathlib.Path]) -> dict[str, str | None]:
    sim = simulate.build(files)
    report = simulate.report(sim, simulate.run(sim, strategy="batch"))
    return {p["pod"].split("/", 1)[1]: p["node"] for p in report["placements"]}


def test_simulate_batch_honours_spec_priority(tmp_path: pathlib.Path) -> None:
    nodes, workloads = simulate.scenario_files("seed")
    docs = [d for d in yaml.safe_load_all(workloads.read_text()) if d]
    before = simulated([nodes, workloads])
    waiting = [name for name, node in before.items() if node is None]
    assert len(waiting) == 1  # the seed places 9 of its 10 pods
    for doc in docs:
        if doc["metadata"]["name"] == waiting[0]:
            doc["spec"]["priority"] = 1000
    urgent = tmp_path / "urgent.yaml"
    urgent.write_text(yaml.safe_dump_all(docs))
    after = simulated([nodes, urgent])
    assert after[waiting[0]] is not None
    assert sum(node is not None for node in after.values()) == 9


def test_one_priority_changes_nothing() -> None:
    nodes = [mb.cloud("cloud-1", cpu=2000), mb.edge("edge-1", cpu=1000)]
    pods = [mb.pod(f"p{k}", cpu=500, compute_cost=100.0 * (k + 1)) for k in range(8)]
    cluster = model.ClusterState(nodes)
    same = [dataclasses.replace(p, priority=42) for p in pods]
    a = strategies.place_batch(pods, cluster, CONFIG)
    b = strategies.place_batch(same, cluster, CONFIG)
    assert [p.node for p in a.placements] == [p.node for p in b.placements]


def test_a_pod_an_earlier_batch_left_pending_goes_before_newer_pods_of_its_priority() -> None:
    cluster, pods = one_node_contest(high_priority=0)
    # "high" (now of the same priority) waited through an earlier batch; the two small pods
    # are new. Counting first would run the two small ones and leave it pending again.
    plan = strategies.plan_batch(pods, cluster, CONFIG, waited=[False, False, True])
    assert plan.nodes == [None, None, "edge-1"]
    assert strategies.plan_batch(pods, cluster, CONFIG).nodes == ["edge-1", "edge-1", None]
    # Priority still comes first: a newer pod of a higher priority goes before one that waited.
    urgent = [*pods[:2], dataclasses.replace(pods[2], priority=-1)]
    problem = evaluator.Problem(urgent, cluster, CONFIG, waited=[False, False, True])
    assert problem.tier.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="waited has 2 flags for 3 pods"):
        evaluator.Problem(pods, cluster, CONFIG, waited=[True, False])
