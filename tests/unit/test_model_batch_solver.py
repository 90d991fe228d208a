"""The joint solver as the live batch mode relies on it: a small batch's answer depends on
neither the clock nor nodes it cannot use, and the solver prints nothing of its own."""

from __future__ import annotations

import collections
import gc
import math
import random
import subprocess
import sys

import model_builders as mb
import numpy as np
import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench import quality

from cloudedge import model, simulate
from cloudedge.model import batch, evaluator, strategies

CLI = (sys.executable, "-m", "cloudedge.cli")
CONFIG = model.ModelConfig(congestion_model=model.CongestionModel.SHARING)
"""The sharing reading alone: most tests here price a placement by hand in it."""


def overfilled_edge(seed: int) -> tuple[list[model.Node], list[model.Pod]]:
    """Two cloud and six edge nodes, and more data-bound, deadline-bound and free pods than
    the edge holds: the solver has real choices to make."""
    rng = random.Random(seed)
    nodes = [mb.cloud("cloud-1", cpu=4000), mb.cloud("cloud-2", cpu=4000)]
    nodes += [mb.edge(f"edge-{k}", cpu=rng.choice((1000.0, 2000.0))) for k in range(6)]
    pods: list[model.Pod] = []
    for k in range(30):
        source = f"edge-{rng.randrange(6)}"
        kind = rng.choice(("camera", "analytics", "batch"))
        extra: dict[str, object] = {"compute_cost": rng.choice((50.0, 200.0, 2000.0))}
        if kind != "batch":
            extra |= {"data_source": source, "data_size_mb": rng.choice((5.0, 20.0, 50.0))}
        if kind == "camera":
            extra["max_latency_ms"] = 600.0
        pods.append(mb.pod(f"{kind}-{k}", cpu=rng.choice((250.0, 500.0, 1000.0)), **extra))
    return nodes, pods


def inserted(
    seed: int, config: model.ModelConfig, order: str = "small_first"
) -> tuple[evaluator.Problem, batch.Assignment]:
    """:func:`overfilled_edge`'s batch inserted in ``order`` (a function of :mod:`.batch`),
    with no search: an assignment whose moves the tests price."""
    nodes, pods = overfilled_edge(seed)
    problem = evaluator.Problem(pods, model.ClusterState(nodes), config)
    a = batch.Assignment(problem)
    batch.insert_all(a, getattr(batch, order)(problem), batch.Budget(0, exact=True))
    return problem, a


def same_price(priced: float, made: float, seen: collections.Counter[str], where: object) -> None:
    """A move priced in place against the same move made: the same change of the total, or
    inf for both when the move does not fit. ``seen`` counts each outcome."""
    if math.isfinite(made):
        seen["fits"] += 1
        assert priced == pytest.approx(made, abs=1e-6), where
    else:
        seen["refused"] += 1
        assert priced == math.inf, where


def nodes_of(result: strategies.PlacementResult) -> list[str | None]:
    return [p.node for p in result.placements]


def test_a_small_batch_gets_the_same_answer_whatever_time_it_is_given() -> None:
    for seed in (1, 2, 3):
        nodes, pods = overfilled_edge(seed)
        cluster = model.ClusterState(nodes)
        starved = strategies.place_batch(pods, cluster, CONFIG, time_limit_s=1e-6)
        ample = strategies.place_batch(pods, cluster, CONFIG, time_limit_s=5.0)
        assert nodes_of(starved) == nodes_of(ample), f"seed {seed}"
        assert ample.placed < len(pods), f"seed {seed}: the edge must be overfilled"


def test_nodes_no_pod_may_use_do_not_change_a_batchs_answer() -> None:
    nodes, pods = overfilled_edge(4)
    cordoned = [
        mb.edge("aa-cordoned", cpu=4000, schedulable=False),
        mb.cloud("zz-cordoned", cpu=8000, schedulable=False),
    ]
    alone = strategies.place_batch(pods, model.ClusterState(nodes), CONFIG)
    with_cordoned = model.ClusterState([cordoned[0], *nodes, cordoned[1]])
    among = strategies.place_batch(pods, with_cordoned, CONFIG)
    assert nodes_of(alone) == nodes_of(among)


def test_simulate_batch_prints_no_solver_banner_on_either_stream() -> None:
    # A fresh process: the banner comes with the first solver of a process only.
    proc = subprocess.run(
        [*CLI, "simulate", "--scenario", "seed", "--strategy", "batch", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "HiGHS" not in proc.stdout
    assert "HiGHS" not in proc.stderr
    assert '"placements"' in proc.stdout


def cameras_and_free_pods(n_nodes: int) -> tuple[list[model.Node], list[model.Pod]]:
    """``n_nodes`` edge nodes of one site; a camera pod per node whose deadline caps its node
    near half full (slack 1.2: utilization at most 0.545), and twice as many pods without a
    deadline: the cluster holds everything only if cameras share nodes."""
    nodes = [mb.edge(f"edge-{k:02d}", cpu=1000, site="s") for k in range(n_nodes)]
    cameras = [
        mb.pod(f"camera-{k}", cpu=250, compute_cost=100.0, max_latency_ms=220.0)
        for k in range(n_nodes)
    ]
    free = [mb.pod(f"batch-{k}", cpu=250, compute_cost=100.0) for k in range(2 * n_nodes)]
    return nodes, cameras + free


def test_deadline_pods_are_packed_where_their_cap_costs_least_capacity() -> None:
    nodes, pods = cameras_and_free_pods(4)
    problem = evaluator.Problem(pods, model.ClusterState(nodes), CONFIG)
    assert batch.utilization_cap(problem.slack()[:1, :1], problem.max_utilization)[
        0, 0
    ] == pytest.approx(1.2 / 2.2)
    by_cost = batch.Assignment(problem)
    batch.insert_all(by_cost, batch.constrained_first(problem), batch.Budget(0, exact=True))
    by_cap = batch.Assignment(problem)
    batch.insert_cap_aware(by_cap, batch.cap_aware_order(problem), batch.Budget(0, exact=True))
    # By cost alone each camera takes an empty node and caps it: 4 cameras, 4 others.
    assert by_cost.placed == 8
    # Charged for the capacity their caps take, cameras pair up and two nodes stay whole.
    assert by_cap.placed == 12
    assert len({int(by_cap.where[p]) for p in range(4)}) == 2


def test_loose_deadline_pods_first_keep_nodes_open_that_tight_ones_would_close() -> None:
    # Two 1000m nodes. Loose cameras (500 ms: slack 4, cap 0.8) hold three to a node;
    # a tight one (150 ms: slack 0.5, cap 1/3) holds its node to itself. Tightest first
    # closes both nodes with the two tight cameras; loosest first fills them with four.
    nodes = [mb.edge(f"edge-{k}", cpu=1000, site="s") for k in range(2)]
    tight = [
        mb.pod(f"tight-{k}", cpu=250, compute_cost=100.0, max_latency_ms=150.0) for k in range(2)
    ]
    loose = [
        mb.pod(f"loose-{k}", cpu=250, compute_cost=100.0, max_latency_ms=500.0) for k in range(4)
    ]
    problem = evaluator.Problem(tight + loose, model.ClusterState(nodes), CONFIG)
    caps = batch.utilization_cap(problem.slack()[:, :1], problem.max_utilization)[:, 0]
    assert caps[:3].tolist() == pytest.approx([1 / 3, 1 / 3, 0.8])
    tightest = batch.Assignment(problem)
    batch.insert_cap_aware(tightest, batch.cap_aware_order(problem), batch.Budget(0, exact=True))
    loosest = batch.Assignment(problem)
    batch.insert_cap_aware(loosest, batch.loose_first_order(problem), batch.Budget(0, exact=True))
    assert sorted(problem.pods[p].name for p in np.flatnonzero(tightest.where >= 0)) == [
        "tight-0",
        "tight-1",
    ]
    assert loosest.placed == 4
    assert strategies.place_batch(tight + loose, model.ClusterState(nodes), CONFIG).placed == 4


def test_a_node_held_down_by_several_tight_pods_is_traded_for_more_pods() -> None:
    # One 2000m node; two tight cameras (70 ms: cap 0.29) hold it at 0.25 together, and
    # no pod without a deadline fits beside them. Taking one out lets one other in (two
    # pods either way); taking both out lets all six in.
    nodes = [mb.edge("edge-0", cpu=2000, site="s")]
    pods = [mb.pod(f"tight-{k}", cpu=250, compute_cost=100.0, max_latency_ms=70.0) for k in (0, 1)]
    pods += [mb.pod(f"free-{k}", cpu=250, compute_cost=100.0) for k in range(6)]
    problem = evaluator.Problem(pods, model.ClusterState(nodes), CONFIG)
    cap = batch.utilization_cap(problem.slack()[:1, :1], problem.max_utilization)[0, 0]
    assert 0.25 <= cap < 0.375
    gathered = batch.from_nodes(problem, [0, 0] + [None] * 6)
    assert gathered.placed == 2
    one_out = gathered.copy()
    one_out.remove(0)
    batch.insert_all(one_out, range(2, 8), batch.Budget(0, exact=True))
    assert one_out.placed == 2
    traded = batch.trade_for_count(gathered, batch.Budget(0, exact=True))
    assert traded.placed == 6
    assert all(traded.where[2:] == 0)


def test_a_batch_too_large_for_the_milp_still_packs_deadline_pods() -> None:
    nodes, pods = cameras_and_free_pods(48)  # 144 pods x 48 nodes: the heuristic path
    result = strategies.place_batch(pods, model.ClusterState(nodes), CONFIG)
    assert result.solver_status == "heuristic"
    assert result.placed == len(pods)
    assert strategies.grade(result, CONFIG).deadline_misses == 0


def test_the_cyclic_collector_is_off_during_a_solve_and_back_as_it_was_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    real_solve = batch.solve

    def watching(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real_solve(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "solve", watching)
    nodes, pods = overfilled_edge(1)
    assert gc.isenabled()
    strategies.place_batch(pods, model.ClusterState(nodes), CONFIG)
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        strategies.place_batch(pods, model.ClusterState(nodes), CONFIG)
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
    with batch.no_cyclic_gc(), batch.no_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_unplaced_pod_takes_the_room_of_a_placed_one_whose_completion_costs_more() -> None:
    # Room for two whole-node pods: two 10 s jobs hold it and a 0.5 s one waits. Exchanging
    # the waiting pod for a placed job places as many and lowers the total by 9.5 s.
    nodes = [mb.edge("edge-1", cpu=1000), mb.edge("edge-2", cpu=1000)]
    pods = [
        mb.pod("long-1", cpu=1000, compute_cost=10000.0),
        mb.pod("long-2", cpu=1000, compute_cost=10000.0),
        mb.pod("short", cpu=1000, compute_cost=500.0),
    ]
    cluster = model.ClusterState(nodes)
    problem = evaluator.Problem(pods, cluster, CONFIG)
    a = batch.from_nodes(problem, [0, 1, None])
    assert (a.placed, round(a.total(), 3)) == (2, 20.0)
    assert batch.improve_exchanges(a, batch.Budget(0, exact=True))
    assert (a.placed, round(a.total(), 3)) == (2, 10.5)
    assert a.where[2] >= 0
    # Nothing is left to exchange, and the solver finds the same from scratch.
    assert not batch.improve_exchanges(a, batch.Budget(0, exact=True))
    result = strategies.place_batch(pods, cluster, CONFIG)
    assert [p.pod.name for p in result.placements if p.node is not None] in (
        ["long-1", "short"],
        ["long-2", "short"],
    )


@pytest.mark.parametrize("reading", list(model.CongestionModel))
def test_the_searchs_quick_tests_never_turn_away_a_move_that_would_fit(
    reading: model.CongestionModel,
) -> None:
    # The search skips ejecting a pod when the room it frees cannot take the unplaced one,
    # and pricing a pod that fits nowhere: both must only skip what pricing would refuse.
    config = model.ModelConfig(congestion_model=reading)
    refused = fitting = 0
    for seed in (1, 2, 3):
        problem, a = inserted(seed, config)
        for p in np.flatnonzero(a.where < 0).tolist():
            assert np.array_equal(a.joinable(p)[0], np.isfinite(a.insert_costs(p)))
            for i in range(len(problem.base)):
                members = sorted(a.members[i])
                kept = set(batch._may_make_room(a, p, i, members))
                for q in members:
                    a.remove(q)
                    fits = math.isfinite(a.insert_cost(p, i))
                    a.add(q, i)
                    fitting += fits
                    if q not in kept:
                        refused += 1
                        assert not fits, (seed, p, i, q)
    # Both outcomes occur, so the test sees the filter pass and refuse.
    assert refused > 0
    assert fitting > 0


@pytest.mark.parametrize("reading", list(model.CongestionModel))
def test_a_swap_priced_in_place_changes_the_total_as_the_swap_itself_does(
    reading: model.CongestionModel,
) -> None:
    # The local search prices most swaps from its sums, without moving the pods; the price
    # must be the total's change when the two pods do trade nodes, and inf exactly when
    # one of them no longer fits (resources, or a deadline on its new node).
    config = model.ModelConfig(congestion_model=reading)
    seen: collections.Counter[str] = collections.Counter()
    same_source = 0
    for seed in (1, 2, 3):
        problem, a = inserted(seed, config, "constrained_first")
        placed = np.flatnonzero(a.where >= 0).tolist()
        for p in placed:
            for q in placed:
                i, j = int(a.where[p]), int(a.where[q])
                if i == j or not (problem.allowed[p, j] and problem.allowed[q, i]):
                    continue
                swap = batch._Swap(a, p, i, j)
                if not swap.priced_in_place(q):
                    same_source += 1
                    continue
                priced = swap.change(q)
                before = a.total()
                trial = a.copy()
                trial.remove(p)
                trial.remove(q)
                fits = math.isfinite(trial.insert_cost(p, j))
                if fits:
                    trial.add(p, j)
                    fits = math.isfinite(trial.insert_cost(q, i))
                if fits:
                    trial.add(q, i)
                made = trial.total() - before if fits else math.inf
                same_price(priced, made, seen, (seed, p, q))
    assert seen["fits"] > 0
    assert seen["refused"] > 0
    assert same_source > 0


@pytest.mark.parametrize("reading", list(model.CongestionModel))
def test_an_exchange_priced_in_place_is_the_change_of_making_it(
    reading: model.CongestionModel,
) -> None:
    # An unplaced pod taking the place of a placed one, priced from the sums: the same as
    # taking the placed pod out and pricing the unplaced one there (inf when it does not fit).
    config = model.ModelConfig(congestion_model=reading)
    seen: collections.Counter[str] = collections.Counter()
    for seed in (1, 2, 3):
        problem, a = inserted(seed, config)
        for p in np.flatnonzero(a.where < 0).tolist():
            for i in range(len(problem.base)):
                if not problem.allowed[p, i]:
                    continue
                exchange = batch._Exchange(a, p, i)
                for q in sorted(a.members[i]):
                    priced = exchange.change(q)
                    gain = a.removal_gain(q)
                    a.remove(q)
                    made = a.insert_cost(p, i) - gain
                    a.add(q, i)
                    same_price(priced, made, seen, (seed, p, i, q))
    assert seen["fits"] > 0
    assert seen["refused"] > 0


@pytest.mark.parametrize("reading", list(model.CongestionModel))
def test_a_chain_turned_away_unpriced_would_not_have_lowered_the_total(
    reading: model.CongestionModel,
) -> None:
    # Chains are screened by floors before any pod moves: each floor must be below every
    # insertion the search can price, and a chain the screen turns away must be one that,
    # made, would not lower the total.
    config = model.ModelConfig(congestion_model=reading)
    turned_away = kept = lowering = 0
    for seed in (1, 2, 3):
        problem, a = inserted(seed, config, "constrained_first")
        floor, _two = batch.least_insert_costs(a)
        for p in range(len(problem)):
            i = int(a.where[p])
            if i >= 0:
                a.remove(p)
            for j in range(len(problem.base)):
                assert floor[p, j] <= a.insert_cost(p, j) + 1e-9, (seed, p, j)
            if i >= 0:
                a.add(p, i)
        for p in np.flatnonzero(a.where >= 0).tolist():
            i = int(a.where[p])
            gain_p = a.removal_gain(p)
            for j in range(len(problem.base)):
                if j == i or not problem.allowed[p, j]:
                    continue
                for q in sorted(a.members[j]):
                    screened = batch._chain_may_gain(a, p, j, gain_p, q)
                    before = a.total()
                    trial = a.copy()
                    trial.remove(p)
                    trial.remove(q)
                    lowers = False
                    if math.isfinite(trial.insert_cost(p, j)):
                        trial.add(p, j)
                        cost = trial.insert_costs(q)
                        cost[j] = math.inf
                        k = int(np.argmin(cost))
                        if math.isfinite(cost[k]):
                            trial.add(q, k)
                            lowers = trial.total() < before - batch.COST_EPS
                    lowering += lowers
                    if screened:
                        kept += 1
                    else:
                        turned_away += 1
                        assert not lowers, (seed, p, j, q)
    # The screen both passes and refuses, and some chains do lower the total.
    assert turned_away > 0
    assert kept > 0
    assert lowering > 0


def test_searching_by_the_waits_first_ends_lower_than_by_the_sum_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A mixed draw of 80 pods on 40 nodes, searched to its end both ways: by the sum of the
    # two readings from the best start, it stops at a local optimum that searching by the
    # M/M/1 waits first, then by the sum, passes.
    cluster, pods = quality.mixed(6, 80)
    problem = evaluator.Problem(pods, cluster, model.ModelConfig())
    plain, _ = batch.solve(problem, [], time_limit_s=5, use_milp=False, exact=True)
    calls: list[int] = []
    real = batch._queueing_first

    def recorded(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "_queueing_first", recorded)
    first, info = batch.solve(
        problem, [], time_limit_s=5, use_milp=False, exact=True, queueing_first=True
    )
    assert calls == [1]
    assert info.source == "queueing-first"
    assert first.counts() == plain.counts()
    assert first.total() < 0.95 * plain.total()
    # On an overfilled edge (fewer than 90% of the pods fit) the budget goes to the count.
    calls.clear()
    nodes, overfilled = overfilled_edge(1)
    crowded = evaluator.Problem(overfilled, model.ClusterState(nodes), model.ModelConfig())
    a, _ = batch.solve(crowded, [], time_limit_s=5, use_milp=False, exact=True, queueing_first=True)
    assert a.placed < 0.9 * len(overfilled)
    assert calls == []


def test_emptying_a_site_frees_the_room_a_data_bound_pod_needs_next_to_its_data() -> None:
    # Two jobs reading 1 MB fill the edge node that holds their data and a 50 MB data set;
    # the pod that reads the 50 MB runs on the cloud, behind the cloud-edge link. Each job
    # is better where it is, and the reader fits on the edge only once both jobs are gone:
    # no move, swap or chain (one pod moved per node) gets there, and the local search
    # stops. Emptying the site and refilling it, the pod with the most to lose first, puts
    # the reader next to its data and the jobs on the cloud.
    nodes = [mb.cloud("cloud-1", cpu=2000), mb.edge("edge-1", cpu=2000)]
    data = {"data_source": "edge-1", "compute_cost": 100.0}
    pods = [
        mb.pod("job-1", cpu=1000, data_size_mb=1.0, **data),
        mb.pod("job-2", cpu=1000, data_size_mb=1.0, **data),
        mb.pod("reader", cpu=2000, data_size_mb=50.0, **data),
    ]
    problem = evaluator.Problem(pods, model.ClusterState(nodes), CONFIG)
    stuck = batch.local_search(batch.from_nodes(problem, [1, 1, 0]), batch.Budget(0, exact=True))
    assert stuck.where.tolist() == [1, 1, 0]
    found = batch.ruin_and_recreate(stuck.copy(), batch.Budget(0, exact=True))
    assert found.where.tolist() == [0, 0, 1]
    assert found.placed == 3
    assert found.total() < stuck.total() - 1.0


@pytest.mark.parametrize("reading", list(model.CongestionModel))
def test_ruin_and_recreate_never_returns_a_worse_assignment(
    reading: model.CongestionModel,
) -> None:
    config = model.ModelConfig(congestion_model=reading)
    improved = 0
    for seed in (1, 2, 3, 4):
        nodes, pods = overfilled_edge(seed)
        problem = evaluator.Problem(pods, model.ClusterState(nodes), config)
        a = batch.Assignment(problem)
        batch.insert_all(a, batch.small_first(problem), batch.Budget(0, exact=True))
        before = (a.counts(), a.total())
        found = batch.ruin_and_recreate(a.copy(), batch.Budget(0, exact=True))
        assert found.counts() >= before[0], seed
        if found.counts() == before[0]:
            assert found.total() <= before[1] + batch.COST_EPS, seed
        improved += (found.counts(), -found.total()) > (before[0], -before[1] + 1e-6)
        # Every filter still holds: the assignment rebuilt from its nodes keeps every pod.
        again = batch.from_nodes(problem, [None if i < 0 else int(i) for i in found.where])
        assert again.where.tolist() == found.where.tolist(), seed
    assert improved > 0


def test_the_seed_places_nine_of_its_ten_pods() -> None:
    sim = simulate.build(simulate.scenario_files("seed"))
    assert strategies.place_batch(sim.pods, sim.cluster, sim.config).placed == 9


class TestTheObjectiveIsTheSharingReading:
    """The solver's total: each pod alone, plus what pods that share a node or a link add to
    each other's completion (``batch.Sharing``)."""

    def test_pods_computing_on_one_node_cost_what_the_sharing_reading_measures(self) -> None:
        cluster = model.ClusterState([mb.edge("edge-1", cpu=1000), mb.edge("edge-2", cpu=1000)])
        pods = [
            mb.pod("big", cpu=750, compute_cost=1000.0),
            mb.pod("small", cpu=250, compute_cost=1000.0),
            mb.pod("other", cpu=100, compute_cost=500.0),
        ]
        problem = evaluator.Problem(pods, cluster, CONFIG)
        for nodes in ([0, 0, 1], [0, 1, 1], [1, 0, 0], [0, 1, None]):
            a = batch.from_nodes(problem, nodes)
            graded = evaluator.grade_sharing(problem, nodes)
            assert a.total() == pytest.approx(graded.total_ect_s)

    def test_transfers_into_one_node_pay_for_sharing_its_downlink(self) -> None:
        # 10 MB each over a 100 Mbit/s edge link: 0.8 s alone; together each gets half of it
        # until the first ends, so the pair costs 2 * 0.8 s more than both alone. Apart they
        # still share cloud-1's uplink (10,000 Mbit/s): 2 * 0.008 s.
        nodes = [mb.cloud("cloud-1"), mb.edge("edge-1"), mb.edge("edge-2")]
        pods = [
            mb.pod(f"p{k}", data_source="cloud-1", data_size_mb=10.0, compute_cost=0.0)
            for k in range(2)
        ]
        problem = evaluator.Problem(pods, model.ClusterState(nodes), CONFIG)
        apart = batch.from_nodes(problem, [1, 2])
        together = batch.from_nodes(problem, [1, 1])
        assert together.total() - apart.total() == pytest.approx(1.6 - 0.016)

    @pytest.mark.parametrize("reading", ["sharing", "both"])
    @pytest.mark.parametrize("seed", [3, 4, 5])
    def test_every_price_agrees_with_the_total(self, seed: int, reading: str) -> None:
        nodes, pods = overfilled_edge(seed)
        config = model.ModelConfig(congestion_model=model.CongestionModel(reading))
        problem = evaluator.Problem(pods, model.ClusterState(nodes), config)
        a = batch.Assignment(problem)
        batch.insert_all(a, batch.constrained_order(problem), batch.Budget(0, exact=True))
        total = a.total()
        for p in np.flatnonzero(a.where >= 0).tolist():
            i = int(a.where[p])
            gain = a.removal_gain(p)
            without = a.copy()
            without.remove(p)
            assert total - without.total() == pytest.approx(gain)
            costs = without.insert_costs(p)
            assert costs[i] == pytest.approx(gain)
            for j in np.flatnonzero(np.isfinite(costs)).tolist():
                assert without.insert_cost(p, j) == pytest.approx(costs[j])


class TestWithBothReadingsTheObjectiveAddsTheQueueingWait:
    """``congestionModel: both`` (the default): the sharing reading's total plus, for every
    pod, the M/M/1 wait of its node's final requested share."""

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_the_total_is_the_sharing_total_plus_the_final_state_waits(self, seed: int) -> None:
        nodes, pods = overfilled_edge(seed)
        cluster = model.ClusterState(nodes)
        both = evaluator.Problem(pods, cluster, model.ModelConfig())
        assert both.config.congestion_model is model.CongestionModel.BOTH
        sharing = evaluator.Problem(pods, cluster, CONFIG)
        rng = random.Random(seed)
        start = batch.from_nodes(both, [rng.choice([None, *range(len(nodes))]) for _ in pods])
        kept: list[int | None] = [None if i < 0 else int(i) for i in start.where]
        assert any(i is not None for i in kept)
        waits = sum(
            o.waiting_s for o in evaluator.grade_assignment(both, kept).outcomes if o is not None
        )
        total = batch.from_nodes(sharing, kept).total() + waits
        assert start.total() == pytest.approx(total, rel=1e-9)

    def test_a_pod_is_kept_off_a_node_its_stream_would_nearly_fill(self) -> None:
        # Two nodes compute alike; one already holds 80% of its CPU in requests of an idle
        # pod. Shared as they run, the new pod would not slow down there (the resident does
        # no work), but the M/M/1 wait of a 95% requested node is 19 service times.
        nodes = [mb.edge("edge-a", cpu=2000), mb.edge("edge-b", cpu=2000)]
        cluster = model.ClusterState(nodes)
        cluster.assign(mb.pod("idle", cpu=1600, compute_cost=0.0), 0)
        new = mb.pod("new", cpu=300, compute_cost=1000.0)
        both = model.place([new], cluster, model.ModelConfig(), strategy="batch")
        assert both.placements[0].node == "edge-b"
        # The sharing reading alone sees no difference between the two nodes.
        costs = batch.Assignment(evaluator.Problem([new], cluster, CONFIG)).insert_costs(0)
        assert costs[0] == pytest.approx(costs[1])
        costs = batch.Assignment(
            evaluator.Problem([new], cluster, model.ModelConfig())
        ).insert_costs(0)
        assert costs[0] > costs[1]


class TestSortedSumsPriceWhatTheLoopsPriced:
    """``batch._Sums`` keeps pricing's minima sums sorted; it must answer what a loop over
    the members answers, after any order of adds and removes."""

    def test_the_sums_match_a_loop_over_the_members(self) -> None:
        rng = random.Random(7)
        sums = batch._Sums()
        members: list[tuple[float, float]] = []
        for step in range(400):
            if members and rng.random() < 0.4:
                key, weight = members.pop(rng.randrange(len(members)))
                sums.discard(key, weight)
            else:
                key = rng.choice((0.0, 1.0, 2.5, 2.5, 40.0, rng.uniform(0, 50)))
                weight = rng.choice((1.0, 250.0, 1000.0))
                members.append((key, weight))
                sums.add(key, weight)
            d = rng.choice((0.0, 2.5, 40.0, rng.uniform(0, 60)))
            mins, weighted = sums.both_mins(d)
            assert batch._mins(sorted(sums.keys), d) == pytest.approx(mins), step
            assert mins == pytest.approx(sum(min(d, k) for k, _ in members)), step
            assert weighted == pytest.approx(sum(w * min(d, k) for k, w in members)), step
        assert sorted(sums.keys) == sums.keys

    @pytest.mark.parametrize("seed", [1, 2])
    def test_one_nodes_price_matches_the_whole_batchs_on_many_sites(self, seed: int) -> None:
        # Many sources and sites, pods reading one source from several nodes of one site and
        # of others: the per-source, per-site and per-node sums each carry a part.
        from bench import quality

        cluster, pods = quality.mixed(seed, 150)
        problem = evaluator.Problem(pods, cluster, CONFIG)
        assert batch.sharing(problem).n_sites > 2
        rng = random.Random(seed)
        a = batch.Assignment(problem)
        for p in rng.sample(range(len(pods)), len(pods)):
            fits = np.flatnonzero(np.isfinite(a.insert_costs(p)))
            if len(fits):
                a.add(p, int(rng.choice(fits.tolist())))
        for p in rng.sample(range(len(pods)), 60):
            i = int(a.where[p])
            if i >= 0:
                # Placed: its removal gain is what the total loses without it.
                without = a.copy()
                without.remove(p)
                assert a.total() - without.total() == pytest.approx(a.removal_gain(p))
                # Priced while placed, on every node: its own pair and transfer left out,
                # the whole-batch pass (masked columns) as one node's sums.
                whole = a.shared_costs(p)
                for j in range(len(whole)):
                    assert whole[j] == pytest.approx(a.shared_with(p, j), rel=1e-9, abs=1e-9)
                assert np.allclose(whole, without.shared_costs(p), rtol=1e-9, atol=1e-9)
            costs = a.insert_costs(p) if i < 0 else without.insert_costs(p)
            for j in np.flatnonzero(np.isfinite(costs)).tolist():
                priced = a.insert_cost(p, j) if i < 0 else without.insert_cost(p, j)
                assert priced == pytest.approx(costs[j], rel=1e-9, abs=1e-9)
