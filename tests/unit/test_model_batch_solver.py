"""The joint solver as the live batch mode relies on it: a small batch's answer depends on
neither the clock nor nodes it cannot use, and the solver prints nothing of its own."""

from __future__ import annotations

import gc
import random
import subprocess
import sys

import model_builders as mb
import pytest

from cloudedge import model, simulate
from cloudedge.model import batch, evaluator, strategies

CLI = (sys.executable, "-m", "cloudedge.cli")
CONFIG = model.ModelConfig()


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
    # The seed case: 9 of its 10 pods fit. Insertion placed both whole-node pods (9.9 s each)
    # and left a 500m pod whose data makes it 0.4 s alone on a cloud node pending; exchanging
    # it for one whole-node pod places as many and lowers the total by 9.5 s.
    sim = simulate.build(simulate.scenario_files("seed"))
    problem = evaluator.Problem(sim.pods, sim.cluster, sim.config)
    names = [p.key for p in sim.pods]
    before = {"default/task-1": None, "default/task-10": "cloud-node-2"}
    start = [
        None if (node := before.get(key, _SEED_BATCH.get(key))) is None else sim.cluster.index[node]
        for key in names
    ]
    a = batch.from_nodes(problem, start)
    assert (a.placed, round(a.total(), 3)) == (9, 89.7)
    assert batch.improve_exchanges(a, batch.Budget(0, exact=True))
    assert (a.placed, round(a.total(), 3)) == (9, 80.2)
    placed = {names[p] for p in range(len(names)) if a.where[p] >= 0}
    assert "default/task-1" in placed
    assert len(placed & {"default/task-9", "default/task-10"}) == 1
    # Nothing is left to exchange, and the solver finds the same from scratch.
    assert not batch.improve_exchanges(a, batch.Budget(0, exact=True))
    result = strategies.place_batch(sim.pods, sim.cluster, sim.config)
    graded = strategies.grade(result, sim.config)
    assert (graded.placed, round(graded.total_ect_s, 3)) == (9, 80.2)


_SEED_BATCH = {
    "default/task-2": "cloud-node-1",
    "default/task-3": "cloud-node-1",
    "default/task-4": "edge-node-1",
    "default/task-5": "edge-node-4",
    "default/task-6": "edge-node-3",
    "default/task-7": "edge-node-2",
    "default/task-8": "edge-node-5",
    "default/task-9": "cloud-node-3",
}
"""Where insertion put the seed's pods before exchanges existed (task-10 on cloud-node-2)."""
