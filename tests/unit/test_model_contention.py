"""The sharing reading seen by one pod about to be placed (``model.contention``): what the
greedy score charges for the pods a node or a link is shared with."""

from __future__ import annotations

import random

import numpy as np
import pytest
from model_builders import cloud, edge, pod

from cloudedge import model
from cloudedge.model import batch, contention, evaluator, terms

CONFIG = model.ModelConfig(congestion_model=model.CongestionModel.SHARING)
QUEUEING = model.ModelConfig(congestion_model=model.CongestionModel.QUEUEING)
BOTH = model.ModelConfig(congestion_model=model.CongestionModel.BOTH)
READINGS = pytest.mark.parametrize(
    "config", [CONFIG, QUEUEING, BOTH], ids=lambda c: c.congestion_model.value
)


def topology() -> model.Topology:
    return model.Topology(
        same_tier_latency_ms=5.0,
        cloud_edge_latency_ms=40.0,
        same_tier_bandwidth_mbps=200.0,
        cloud_edge_bandwidth_mbps=50.0,
    )


def test_a_pod_alone_shares_nothing() -> None:
    cluster = model.ClusterState([edge(), cloud()])
    assert contention.delays(pod("p", compute_cost=100.0), cluster) is None


def test_weighted_processor_sharing_of_two_pods_on_a_node() -> None:
    # edge-1: 2000 units/s. The resident requests 500m with 400 units of work, the new pod
    # 1000m with 200: the new pod has 2/3 of the node until it ends at 0.15 s (0.05 s later
    # than alone), the resident then has 300 units left and ends at 0.3 s (0.1 s later).
    cluster = model.ClusterState([edge(), edge("edge-2")])
    cluster.assign(pod("resident", cpu=500, compute_cost=400.0), 0)
    found = contention.delays(pod("new", cpu=1000, compute_cost=200.0), cluster)
    assert found is not None
    assert found.cpu_own.tolist() == pytest.approx([0.05, 0.0])
    assert found.cpu_others.tolist() == pytest.approx([0.1, 0.0])
    assert found.link.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # The resident also fetches from cloud-1: on edge-1 both cross the same three links,
        # edge-1's downlink (100 Mbit/s), cloud-1's uplink (10,000) and the cloud-edge link
        # (50), and both are paced by the slowest, where they share 4 MB: 8 * 4 / 50 s each,
        # not the sum over the three links. On edge-2 only the uplink is shared.
        ("cloud-1", [0.0, 8 * 4 / 50, 8 * 4 / 10000]),
        # The resident fetches from edge-2: the two meet on edge-1's downlink only.
        ("edge-2", [0.0, 8 * 4 / 100, 0.0]),
    ],
)
def test_transfers_share_the_slowest_link_they_cross_together(
    source: str, expected: list[float]
) -> None:
    # A resident on edge-1 fetches 10 MB; the new pod fetches 4 MB from cloud-1, whose data
    # is local on cloud-1 (nothing moves there).
    nodes = [cloud("cloud-1"), edge("edge-1"), edge("edge-2")]
    cluster = model.ClusterState(nodes, topology=topology())
    cluster.assign(pod("resident", data_source=source, data_size_mb=10.0), 1)
    found = contention.delays(pod("new", data_source="cloud-1", data_size_mb=4.0), cluster)
    assert found is not None
    assert found.link.tolist() == pytest.approx(expected)
    assert found.cpu_own.tolist() == [0.0, 0.0, 0.0]


def test_a_reader_of_local_data_moves_nothing_and_shares_no_link() -> None:
    nodes = [cloud("cloud-1"), edge("edge-1")]
    cluster = model.ClusterState(nodes, topology=topology())
    cluster.assign(pod("local", data_source="edge-1", data_size_mb=50.0), 1)
    remote = pod("remote", data_source="cloud-1", data_size_mb=5.0)
    assert contention.delays(remote, cluster) is None  # the resident computes and moves nothing


def test_released_pods_stop_counting_and_copies_are_independent() -> None:
    cluster = model.ClusterState([edge()])
    first = pod("first", compute_cost=100.0)
    cluster.assign(first, 0)
    clone = cluster.copy()
    clone.assign(pod("second", compute_cost=100.0), 0)
    assert (cluster.sharers.count, clone.sharers.count) == (1, 2)
    cluster.release(first, 0)
    assert cluster.sharers.count == 0
    assert contention.delays(pod("new", compute_cost=100.0), cluster) is None
    assert clone.sharers.count == 2


def test_a_pod_already_placed_does_not_share_with_itself() -> None:
    cluster = model.ClusterState([edge()])
    placed = pod("placed", compute_cost=100.0)
    cluster.assign(placed, 0)
    found = contention.delays(placed, cluster)
    assert found is not None
    assert found.cpu_own.tolist() == [0.0]


def test_many_rows_survive_growth_and_removal_in_any_order() -> None:
    rng = random.Random(7)
    cluster = model.ClusterState([edge(f"edge-{k}", cpu=10**6) for k in range(4)])
    placed = {}
    for k in range(300):
        p = pod(f"p{k}", cpu=10, compute_cost=float(rng.randint(1, 100)))
        node = rng.randrange(4)
        cluster.assign(p, node)
        placed[p.name] = (p, node)
        if rng.random() < 0.4:
            gone = rng.choice(sorted(placed))
            cluster.release(*placed.pop(gone))
    sharers = cluster.sharers
    assert sharers.count == len(placed)
    rows = {sharers.ids[k]: k for k in range(sharers.count)}
    assert rows == sharers.row
    for p, node in placed.values():
        assert sharers.node[rows[p.placement_id]] == node
        assert sharers.work[rows[p.placement_id]] == p.compute_cost


@READINGS
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_score_charges_what_the_joint_solver_adds_for_the_pod(
    seed: int, config: model.ModelConfig
) -> None:
    # Whatever the pods already placed, what the score charges on a node (the pod alone, its
    # own delays, the delays it causes) is what the joint solver's objective grows by when
    # the pod joins them there: greedy and batch price a placement alike, in every reading.
    rng = random.Random(seed)
    nodes = [cloud("cloud-1"), cloud("cloud-2"), edge("edge-1"), edge("edge-2"), edge("edge-3")]
    cluster = model.ClusterState(nodes, topology=topology())
    sources = ["cloud-1", "edge-1", "edge-2", None]

    def random_pod(name: str) -> model.Pod:
        source = rng.choice(sources)
        return pod(
            name,
            cpu=rng.choice([100, 250, 500, 1000]),
            compute_cost=float(rng.choice([0, 50, 400, 2000])),
            data_source=source,
            data_size_mb=0.0 if source is None else float(rng.choice([1, 10, 40])),
        )

    residents = [random_pod(f"r{k}") for k in range(8)]
    where = [rng.randrange(len(nodes)) for _ in residents]
    for p, i in zip(residents, where, strict=True):
        cluster.assign(p, i)
    new = random_pod("new")
    ev = model.evaluate(new, cluster, config)
    found = contention.delays(new, cluster)
    reading = config.congestion_model
    charged = ev.values["transfer"] + ev.values["processing"]
    if reading.queues:  # its own M/M/1 wait
        charged = charged + ev.values["waiting"]
    if reading.shares and found is not None:  # its own processing and transfer, shared
        charged = charged + found.cpu_own + found.link
    if "congestion" in ev.values:  # what it adds to the pods already there
        charged = charged + ev.values["congestion"]
    base = model.ClusterState(nodes, topology=topology())
    problem = evaluator.Problem([*residents, new], base, config)
    without = batch.from_nodes(problem, [*where, None]).total()
    compared = 0
    for i in np.flatnonzero(ev.feasible).tolist():
        joined = batch.from_nodes(problem, [*where, i])
        assert int(joined.where[-1]) == i
        added = joined.total() - without
        assert added == pytest.approx(float(charged[i]), rel=1e-9, abs=1e-9), i
        compared += 1
    assert compared >= 2


def test_the_score_keeps_a_pod_that_fills_its_data_node_next_to_its_data() -> None:
    # One pod requests the whole edge node holding its 100 MB: alone there, it waits for
    # nothing and moves nothing (1 s of processing). The M/M/1 reading charges it 99 service
    # times for its own request and sends it to the cloud, 8 s of transfer away.
    nodes = [edge("edge-1", cpu=2000), cloud("cloud-1")]
    cluster = model.ClusterState(nodes, topology=topology())
    heavy = pod("heavy", cpu=2000, compute_cost=2000.0, data_source="edge-1", data_size_mb=100.0)
    assert model.place([heavy], cluster, CONFIG).placements[0].node == "edge-1"
    assert model.place([heavy], cluster, QUEUEING).placements[0].node == "cloud-1"


def test_the_ect_and_the_deadline_keep_the_queueing_reading() -> None:
    # The congestion model changes what the score compares, not the ECT the deadline reads.
    cluster = model.ClusterState([edge(), cloud()])
    cluster.assign(pod("resident", cpu=1000, compute_cost=1000.0), 0)
    p = pod("new", cpu=500, compute_cost=500.0, max_latency_ms=400.0)
    sharing = model.evaluate(p, cluster, CONFIG)
    queueing = model.evaluate(p, cluster, QUEUEING)
    np.testing.assert_allclose(sharing.ect, queueing.ect)
    assert sharing.feasible.tolist() == queueing.feasible.tolist()
    wait = terms.WaitingTime()
    assert wait.compute(p, cluster).tolist() == pytest.approx(sharing.values["waiting"].tolist())


@READINGS
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_joint_solver_prices_the_pods_already_placed_as_if_in_its_batch(
    seed: int, config: model.ModelConfig
) -> None:
    # A batch placed after others (live batch mode) sees what it shares with them: its total
    # with the earlier pods on the starting cluster is what the one batch of all of them
    # totals, minus what the earlier pods cost among themselves.
    rng = random.Random(seed)
    # Edge nodes roomy enough for all ten pods: every pod goes where it was put.
    nodes = [cloud("cloud-1"), cloud("cloud-2")]
    nodes += [edge(f"edge-{k}", cpu=8000, compute_rate=2000.0) for k in (1, 2, 3)]
    sources = ["cloud-1", "edge-1", "edge-2", None]

    def random_pod(name: str) -> model.Pod:
        source = rng.choice(sources)
        return pod(
            name,
            cpu=rng.choice([100, 250, 500]),
            compute_cost=float(rng.choice([0, 50, 400, 2000])),
            data_source=source,
            data_size_mb=0.0 if source is None else float(rng.choice([1, 10, 40])),
        )

    earlier = [random_pod(f"r{k}") for k in range(6)]
    batch_pods = [random_pod(f"b{k}") for k in range(4)]
    where = [rng.randrange(len(nodes)) for _ in earlier]
    chosen = [rng.randrange(len(nodes)) for _ in batch_pods]
    empty = model.ClusterState(nodes, topology=topology())
    placed = model.ClusterState(nodes, topology=topology())
    for p, i in zip(earlier, where, strict=True):
        placed.assign(p, i)
    everything = evaluator.Problem([*earlier, *batch_pods], empty, config)
    only_earlier = evaluator.Problem(earlier, empty, config)
    after = evaluator.Problem(batch_pods, placed, config)
    a_all = batch.from_nodes(everything, [*where, *chosen])
    a_earlier = batch.from_nodes(only_earlier, where)
    a_after = batch.from_nodes(after, chosen)
    assert a_all.where.tolist() == [*where, *chosen]
    assert a_after.where.tolist() == chosen
    assert a_after.total() == pytest.approx(a_all.total() - a_earlier.total(), rel=1e-9)


def test_a_batch_keeps_off_a_node_whose_cpu_a_placed_pod_is_using() -> None:
    # edge-a computes 10% faster than edge-b, but a pod placed there earlier has 4000 units
    # of work: sharing its CPU costs both more than the 10%.
    nodes = [
        edge("edge-a", cpu=2000, compute_rate=2200.0),
        edge("edge-b", cpu=2000, compute_rate=2000.0),
    ]
    cluster = model.ClusterState(nodes)
    cluster.assign(pod("busy", cpu=500, compute_cost=4000.0), 0)
    new = pod("new", cpu=500, compute_cost=1000.0)
    assert model.place([new], cluster, CONFIG, strategy="batch").placements[0].node == "edge-b"
    empty = model.ClusterState(nodes)
    assert model.place([new], empty, CONFIG, strategy="batch").placements[0].node == "edge-a"
