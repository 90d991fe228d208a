"""Every formula of the model against values computed by hand (see docs/model.md)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from model_builders import GI, cloud, edge, pod

from cloudedge import model
from cloudedge.model import terms


def transfer(p: model.Pod, cluster: model.ClusterState, **kw: object) -> list[float]:
    return [float(x) for x in terms.TransferTime(**kw).compute(p, cluster)]  # type: ignore[arg-type]


class TestTransferTime:
    def test_is_zero_without_a_data_source(self) -> None:
        cluster = model.ClusterState([cloud(), edge()])
        assert transfer(pod(), cluster) == [0.0, 0.0]

    def test_is_zero_on_the_node_that_holds_the_data(self) -> None:
        cluster = model.ClusterState([cloud(), edge()])
        p = pod(data_source="edge-1", data_size_mb=10)
        assert transfer(p, cluster)[1] == 0.0

    def test_crosses_from_edge_to_cloud_at_the_bottleneck_rate(self) -> None:
        # 10 MB = 80 Mb over min(100, 10000) Mbps = 0.8 s, plus the 40 ms cloud-edge latency.
        cluster = model.ClusterState([cloud(), edge()])
        p = pod(data_source="edge-1", data_size_mb=10)
        assert transfer(p, cluster)[0] == pytest.approx(0.84)

    def test_seed_sum_variant_divides_by_the_sum_of_both_bandwidths(self) -> None:
        cluster = model.ClusterState([cloud(), edge()])
        p = pod(data_source="edge-1", data_size_mb=10)
        got = transfer(p, cluster, model=model.BandwidthModel.SEED_SUM)
        assert got[0] == pytest.approx(0.04 + 80 / (100 + 10000))

    def test_within_a_site_costs_the_same_site_latency(self) -> None:
        cluster = model.ClusterState([edge("edge-1", site="s"), edge("edge-2", site="s")])
        p = pod(data_source="edge-1", data_size_mb=10)
        assert transfer(p, cluster) == pytest.approx([0.0, 0.0005 + 0.8])

    def test_between_sites_of_one_tier_costs_the_same_tier_latency(self) -> None:
        cluster = model.ClusterState([cloud("c1", site="a"), cloud("c2", site="b")])
        p = pod(data_source="c1", data_size_mb=0)
        assert transfer(p, cluster) == pytest.approx([0.0, 0.005])

    def test_an_explicit_link_overrides_latency_and_caps_bandwidth(self) -> None:
        topo = model.Topology(links=(model.Link("cloud", "site-edge-1", 10.0, 50.0),))
        cluster = model.ClusterState([cloud(), edge()], topology=topo)
        p = pod(data_source="edge-1", data_size_mb=10)
        assert transfer(p, cluster)[0] == pytest.approx(0.01 + 80 / 50)

    def test_a_site_without_nodes_is_an_edge_site_limited_only_by_the_receiver(self) -> None:
        cluster = model.ClusterState([cloud(), edge()])
        p = pod(data_source="camera-a", data_size_mb=10)
        assert transfer(p, cluster) == pytest.approx([0.04 + 80 / 10000, 0.005 + 80 / 100])

    def test_declared_site_tier_changes_the_relation(self) -> None:
        topo = model.Topology(site_tiers={"dc-2": model.Tier.CLOUD})
        cluster = model.ClusterState([cloud(), edge()], topology=topo)
        p = pod(data_source="dc-2", data_size_mb=0)
        assert transfer(p, cluster) == pytest.approx([0.005, 0.04])


class TestProcessingTime:
    def test_is_work_over_compute_rate(self) -> None:
        cluster = model.ClusterState([cloud(cpu=8000), edge(cpu=2000)])
        got = terms.ProcessingTime().compute(pod(compute_cost=1000), cluster)
        assert got.tolist() == pytest.approx([0.125, 0.5])


@pytest.mark.parametrize("bandwidth", list(model.BandwidthModel), ids=str)
def test_a_batch_of_pods_gets_each_pods_own_values_from_every_term(
    bandwidth: model.BandwidthModel,
) -> None:
    # compute_many feeds the batch solver; it must be compute row by row, bit for bit.
    topo = model.Topology(links=(model.Link("cloud", "site-edge-1", 10.0, 50.0),))
    cluster = model.ClusterState(
        [cloud(), cloud("c2", site="b"), edge(), edge("edge-2", site="s", cpu=500)], topology=topo
    )
    pods = [
        pod("none", compute_cost=0),
        pod("local", data_source="edge-1", data_size_mb=10, compute_cost=300),
        pod("empty", data_source="c2", data_size_mb=0),
        pod("nowhere", data_source="camera-a", data_size_mb=2.5, compute_cost=1e6),
        pod("again", data_source="edge-1", data_size_mb=0.125),
    ]
    config = model.ModelConfig(bandwidth_model=bandwidth)
    checked = []
    for term in terms.build_terms(config):
        many = term.compute_many(pods, cluster)
        rows = [term.compute(p, cluster) for p in pods]
        alone = np.array([np.zeros(len(cluster)) if r is None else r for r in rows])
        np.testing.assert_array_equal(many, alone)
        checked.append(term.name)
    assert {"transfer", "processing", "waiting"} <= set(checked)


class TestWaitingTime:
    @pytest.mark.parametrize(
        ("used_cpu", "req_cpu", "cost", "expected"),
        [
            pytest.param(250, 250, 0.0, 0.1, id="half-full-default-service"),
            pytest.param(250, 250, 200.0, 0.2, id="half-full-own-service-time"),
            pytest.param(0, 0, 0.0, 0.0, id="idle-node-no-wait"),
            pytest.param(500, 500, 0.0, 0.1 * 0.99 / 0.01, id="full-node-capped"),
        ],
    )
    def test_follows_the_mm1_queue(
        self, used_cpu: float, req_cpu: float, cost: float, expected: float
    ) -> None:
        node = edge(cpu=1000, mem=GI, used={"cpu": used_cpu, "memory": 0.0, "pods": 0.0})
        cluster = model.ClusterState([node])
        got = terms.WaitingTime().compute(pod(cpu=req_cpu, compute_cost=cost), cluster)
        assert float(got[0]) == pytest.approx(expected)

    def test_uses_the_busier_of_cpu_and_memory(self) -> None:
        node = edge(cpu=1000, mem=4 * GI, used={"cpu": 0.0, "memory": 2 * GI, "pods": 0.0})
        cluster = model.ClusterState([node])
        got = terms.WaitingTime().compute(pod(cpu=100, mem=GI), cluster)
        assert float(got[0]) == pytest.approx(0.1 * 0.75 / 0.25)

    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"default_service_seconds": 0}, id="zero-service"),
            pytest.param({"default_service_seconds": math.inf}, id="infinite-service"),
            pytest.param({"max_utilization": 1.0}, id="cap-at-one"),
        ],
    )
    def test_rejects_invalid_arguments(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError, match="must be"):
            terms.WaitingTime(**kwargs)


QUEUEING = model.CongestionModel.QUEUEING


class TestCongestion:
    """The wait a placement adds to the pods already on the node (a cost term), by the
    ``queueing`` congestion model (the sharing one: ``TestSharing``)."""

    @pytest.mark.parametrize("reading", list(model.CongestionModel))
    def test_does_not_apply_while_no_pod_is_placed_anywhere(
        self, reading: model.CongestionModel
    ) -> None:
        cluster = model.ClusterState([edge(), edge("edge-2")])
        assert terms.Congestion(congestion=reading).compute(pod(), cluster) is None

    def test_is_the_queued_service_times_the_rise_of_the_mm1_factor(self) -> None:
        # edge-1 (2 CPU, rate 2000/s) holds a 400-unit pod (0.2 s of service) and a pod without
        # a compute cost (0.1 s by default), 1000m in all: rho 0.5 -> 0.75 with 500m more, the
        # factor rho/(1-rho) 1 -> 3, so the two wait 0.3 * 2 = 0.6 s longer. edge-2 holds none.
        cluster = model.ClusterState([edge(), edge("edge-2")])
        cluster.assign(pod("a", cpu=500, compute_cost=400.0), 0)
        cluster.assign(pod("b", cpu=500), 0)
        got = terms.Congestion(congestion=QUEUEING).compute(pod("new", cpu=500), cluster)
        assert got is not None
        assert [float(x) for x in got] == pytest.approx([0.6, 0.0])

    def test_stops_counting_a_pod_once_it_is_released(self) -> None:
        cluster = model.ClusterState([edge()])
        resident = pod("a", cpu=500, compute_cost=400.0)
        cluster.assign(resident, 0)
        cluster.release(resident, 0)
        assert cluster.resident_service(0.1).tolist() == [0.0]
        assert terms.Congestion(congestion=QUEUEING).compute(pod("new", cpu=500), cluster) is None

    def test_a_state_built_with_placed_pods_counts_them(self) -> None:
        used = {"cpu": 500.0, "memory": 0.0, "pods": 1.0}
        resident = pod("a", cpu=500, compute_cost=400.0)
        cluster = model.ClusterState([edge(used=used)], placed=[(resident, "edge-1")])
        assert cluster.resident_service(0.1).tolist() == pytest.approx([0.2])

    def test_charges_nothing_for_pods_without_cloudedge_annotations(self) -> None:
        # A node's daemons (kube-proxy) and other applications load it through their
        # requests, but their queueing is unknown: nothing is charged for them.
        daemon = dataclasses.replace(pod("kube-proxy", cpu=100), annotated=False)
        cluster = model.ClusterState([edge()], placed=[(daemon, "edge-1")])
        assert cluster.resident_service(0.1).tolist() == [0.0]
        assert terms.Congestion(congestion=QUEUEING).compute(pod("new", cpu=500), cluster) is None

    def test_is_weighed_in_the_score_but_not_part_of_the_ect(self) -> None:
        # Two equal edge nodes at the same usage; edge-1's 1000m is one heavy pod (2 s of
        # service), edge-2's two light ones (0.1 s each). On its own ECT the new pod cannot tell
        # them apart; the pods it would slow down can, and it goes where they are light.
        used = {"cpu": 1000.0, "memory": 0.0, "pods": 2.0}
        placed = [
            (pod("heavy", cpu=1000, compute_cost=4000.0), "edge-1"),
            (pod("light-1", cpu=500), "edge-2"),
            (pod("light-2", cpu=500), "edge-2"),
        ]
        nodes = [edge(used=used), edge("edge-2", used=used)]
        cluster = model.ClusterState(nodes, placed=placed)
        config = model.ModelConfig(congestion_model=QUEUEING)
        ev = model.evaluate(pod("new", cpu=500, compute_cost=200.0), cluster, config)
        assert "congestion" in ev.values
        assert ev.ect[0] == pytest.approx(ev.ect[1])
        own = ev.values["transfer"] + ev.values["waiting"] + ev.values["processing"]
        np.testing.assert_allclose(ev.ect, own)
        assert ev.values["congestion"].tolist() == pytest.approx([2.0 * 2, 0.2 * 2])
        assert ev.best() == 1

    @pytest.mark.parametrize("reading", list(model.CongestionModel))
    def test_leaves_the_score_alone_when_it_charges_nothing(
        self, reading: model.CongestionModel
    ) -> None:
        # A resident pod on a third node only: the congestion is 0 on the two that compete,
        # and their scores are those of the same cluster without the term.
        nodes = [edge(), edge("edge-2", cpu=4000, compute_rate=4000.0), edge("edge-3")]
        cluster = model.ClusterState(nodes)
        cluster.assign(pod("elsewhere", cpu=100, compute_cost=100.0), 2)
        p = pod("new", cpu=500, compute_cost=200.0)
        config = model.ModelConfig(congestion_model=reading)
        with_term = model.evaluate(p, cluster, config)
        active = tuple(t for t in terms.build_terms(config) if t.name != "congestion")
        without = model.evaluate(p, cluster, config, term_set=active)
        assert with_term.values["congestion"][:2].tolist() == [0.0, 0.0]
        assert with_term.scores[:2].tolist() == pytest.approx(without.scores[:2].tolist())


class TestCapacityFit:
    def test_is_the_mean_leftover_of_cpu_and_memory_after_placement(self) -> None:
        node = edge(cpu=1000, mem=4 * GI, used={"cpu": 250, "memory": GI, "pods": 0.0})
        cluster = model.ClusterState([node])
        got = terms.CapacityFit().compute(pod(cpu=250, mem=0), cluster)
        # cpu 0.5 used, memory 0.25 used -> leftover 1 - 0.375.
        assert float(got[0]) == pytest.approx(0.625)


EQUAL = (0.25, 0.25, 0.25)


def time_good(raw: np.ndarray, feasible: list[bool], weights: tuple[float, ...]) -> list[float]:
    """Time goodness of rows (transfer, waiting, processing) with these weights."""
    parts = [(w, raw[:, k].astype(float)) for k, w in enumerate(weights)]
    got = terms.time_goodness(parts, np.array(feasible), len(raw))
    return [float(v) for v in got]


class TestTimeGoodness:
    def test_identical_nodes_get_identical_values(self) -> None:
        raw = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
        assert time_good(raw, [True, True], EQUAL) == [1.0, 1.0]

    def test_zero_times_everywhere_are_all_best(self) -> None:
        assert time_good(np.zeros((2, 3)), [True, True], EQUAL) == [1.0, 1.0]

    def test_time_is_the_ratio_of_the_best_weighted_time_to_the_nodes(self) -> None:
        # Weighted times (equal weights): 1/3 s and 2/3 s; the floor is 1 ms.
        raw = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 1.0]])
        best = 1 / 3 + terms.TIME_FLOOR_S
        got = time_good(raw, [True, True], EQUAL)
        assert got == pytest.approx([1.0, best / (2 / 3 + terms.TIME_FLOOR_S)])

    def test_a_slow_outlier_does_not_squeeze_the_good_nodes(self) -> None:
        raw = np.array([[1.0, 0, 0], [2.0, 0, 0], [5000.0, 0, 0]])
        got = time_good(raw, [True, True, True], (1.0, 0, 0))
        assert got[1] == pytest.approx(1.001 / 2.001)

    def test_infeasible_nodes_do_not_set_the_best_time(self) -> None:
        raw = np.array([[2.0, 0, 0], [0.0, 0, 0]])
        assert time_good(raw, [True, False], (1.0, 0, 0))[0] == 1.0

    def test_weights_choose_which_delays_count(self) -> None:
        # Node 0 is slow to reach, node 1 slow to compute: a transfer-only profile prefers 1.
        raw = np.array([[1.0, 0, 0.0], [0.0, 0, 1.0]])
        got = time_good(raw, [True, True], (1.0, 0, 0))
        assert got == pytest.approx([0.001 / 1.001, 1.0])

    def test_no_time_weight_at_all_scores_every_node_the_same(self) -> None:
        raw = np.array([[1.0, 0, 0.0], [0.0, 0, 1.0]])
        assert time_good(raw, [True, True], (0.0, 0.0, 0.0)) == [1.0, 1.0]


class TestCapacityGoodness:
    def test_is_one_minus_the_leftover_share_absolute_not_relative(self) -> None:
        leftover = np.array([0.5, 0.0, 1.0])
        got = terms.CapacityFit().goodness(leftover, np.array([True, True, False]))
        assert got.tolist() == [0.5, 1.0, 0.0]


class TestScore:
    CLOUD_WAIT = 0.125 * (1 / 8) / (7 / 8)

    @pytest.mark.parametrize(
        ("reading", "weighted", "edge_score"),
        [
            # The score compares the wait by sharing: none, on idle nodes.
            pytest.param(
                model.CongestionModel.SHARING, [0.6 * 0.125 / 0.9, 0.6 * 0.5 / 0.9], 21.421,
                id="sharing",
            ),
            # congestionModel: queueing (the seed's reading) weighs the M/M/1 wait.
            pytest.param(
                QUEUEING,
                [(0.2 * CLOUD_WAIT + 0.6 * 0.125) / 0.9, (0.2 * 0.5 + 0.6 * 0.5) / 0.9],
                17.290,
                id="queueing",
            ),
            # congestionModel: both (the default): the M/M/1 wait plus the shared CPU's
            # delay, which is 0 here (nothing is placed): the queueing numbers.
            pytest.param(
                model.CongestionModel.BOTH,
                [(0.2 * CLOUD_WAIT + 0.6 * 0.125) / 0.9, (0.2 * 0.5 + 0.6 * 0.5) / 0.9],
                17.290,
                id="both",
            ),
        ],
    )  # fmt: skip
    def test_is_the_weighted_sum_of_time_and_capacity_goodness_out_of_100(
        self, reading: model.CongestionModel, weighted: list[float], edge_score: float
    ) -> None:
        # The worked example of docs/model.md: idle cloud and edge, a compute-heavy pod. The
        # ECT has the M/M/1 wait whatever the congestion model.
        cluster = model.ClusterState([cloud(), edge()])
        p = pod(cpu=1000, compute_cost=1000, workload=model.Workload.COMPUTE_INTENSIVE)
        ev = model.evaluate(p, cluster, model.ModelConfig(congestion_model=reading))
        assert ev.ect.tolist() == pytest.approx([0.125 + self.CLOUD_WAIT, 1.0])
        edge_time = (weighted[0] + 0.001) / (weighted[1] + 0.001)
        # No deadline and no data on the edge node: it keeps 1 - 0.3 * 1000/2000 of its score.
        reserve = 1 - 0.3 * 1000 / 2000
        expected = [
            100 * (0.9 * 1.0 + 0.1 * 0.0625),
            100 * (0.9 * edge_time + 0.1 * 0.25) * reserve,
        ]
        assert ev.scores.tolist() == pytest.approx(expected)
        assert ev.scores.tolist() == pytest.approx([90.625, edge_score], abs=1e-3)
        assert ev.best() == 0


class TestNoStranding:
    def test_a_pod_that_can_run_anywhere_leaves_the_edge_room_to_local_pods(self) -> None:
        # The edge node is slightly better for a pod with no data and no deadline (the cloud
        # node's CPU is shared with a busy pod), but two camera pods tied to it by data and
        # deadline arrive next: without the reserve the roaming pod takes half the node and
        # the second camera misses its deadline.
        busy = pod("busy", cpu=3500, compute_cost=4000.0)
        cluster = model.ClusterState(
            [edge("edge-cam", cpu=1000), cloud("cloud-1", used={"cpu": 3500.0, "pods": 1.0})],
            placed=[(busy, "cloud-1")],
        )
        roaming = pod("roam", cpu=500, compute_cost=100.0)
        cams = [
            pod(f"cam-{k}", cpu=250, data_source="edge-cam", data_size_mb=5, compute_cost=50,
                max_latency_ms=300)
            for k in range(2)
        ]  # fmt: skip
        off = dataclasses.replace(model.ModelConfig(), locality_reserve=0.0)
        without = model.place([roaming, *cams], cluster, off)
        with_reserve = model.place([roaming, *cams], cluster, model.ModelConfig())
        assert [p.node for p in without.placements] == ["edge-cam", "edge-cam", None]
        assert [p.node for p in with_reserve.placements] == ["cloud-1", "edge-cam", "edge-cam"]

    @pytest.mark.parametrize(
        "kw",
        [{"max_latency_ms": 500.0}, {"data_source": "edge-1", "data_size_mb": 1.0}],
        ids=["deadline-bound", "data-local"],
    )
    def test_pods_tied_to_the_edge_node_keep_their_full_score(self, kw: dict[str, Any]) -> None:
        cluster = model.ClusterState([edge("edge-1", cpu=1000)])
        p = pod(cpu=500, compute_cost=50, **kw)
        off = dataclasses.replace(model.ModelConfig(), locality_reserve=0.0)
        on = model.evaluate(p, cluster, model.ModelConfig()).scores
        assert on.tolist() == model.evaluate(p, cluster, off).scores.tolist()

    def test_infeasible_nodes_score_zero(self) -> None:
        cluster = model.ClusterState([cloud(), edge()])
        ev = model.evaluate(pod(tier=model.Tier.CLOUD), cluster, model.ModelConfig())
        assert ev.scores[1] == 0.0
        assert ev.scores[0] > 0.0

    def test_breakdown_names_every_term(self) -> None:
        cluster = model.ClusterState([cloud()])
        ev = model.evaluate(pod(compute_cost=80), cluster, model.ModelConfig())
        text = ev.node_terms(0).describe()
        for word in ("transfer=", "waiting=", "processing=", "leftover=", "ect=", "score="):
            assert word in text
