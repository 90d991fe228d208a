"""kube-scheduler's preference scores as terms: each against a result computed by hand with
kube's formulas (raw score, then NormalizeScore over the feasible nodes, integers as kube keeps
them), and never above a filter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from model_builders import cloud, pod

from cloudedge import model
from cloudedge.model import preferences, types

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"


def node(name: str, zone: str, **kw: object) -> model.Node:
    return cloud(
        name, labels={ZONE: zone, HOST: name, "disk": "ssd" if zone == "a" else "hdd"}, **kw
    )


def goodness(term_name: str, p: model.Pod, cluster: model.ClusterState) -> list[float] | None:
    ev = model.evaluate(p, cluster, model.ModelConfig())
    found = ev.goodness.get(term_name)
    return None if found is None else [round(float(v), 2) for v in found]


def prefer(weight: int, key: str, value: str) -> types.PreferredNodeTerm:
    req = types.SelectorRequirement(key, "In", (value,))
    return types.PreferredNodeTerm(weight, types.SelectorTerm(match_expressions=(req,)))


def pod_term(app: str, key: str, namespace: str = "default") -> types.PodAffinityTerm:
    return types.PodAffinityTerm(
        topology_key=key,
        selector=types.LabelSelector(match_labels={"app": app}),
        namespaces=frozenset({namespace}),
    )


THREE = [node("n1", "a"), node("n2", "a"), node("n3", "b")]


class TestNodeAffinity:
    def test_is_the_sum_of_matching_weights_over_the_best(self) -> None:
        # Raw: n1, n2 (zone a, ssd) 10 + 30 = 40; n3 (zone b) 5. Normalized 100 * s // 40.
        p = pod(
            preferred_node_affinity=(
                prefer(10, ZONE, "a"),
                prefer(30, "disk", "ssd"),
                prefer(5, ZONE, "b"),
            )
        )
        assert goodness("node-affinity", p, model.ClusterState(THREE)) == [1.0, 1.0, 0.12]

    def test_a_pod_without_preferences_is_not_scored_by_it(self) -> None:
        assert goodness("node-affinity", pod(), model.ClusterState(THREE)) is None

    def test_the_preferred_node_wins_between_nodes_the_model_cannot_tell_apart(self) -> None:
        p = pod(preferred_node_affinity=(prefer(1, ZONE, "b"),))
        ev = model.evaluate(p, model.ClusterState(THREE), model.ModelConfig())
        assert ev.best() == 2

    def test_never_overrides_a_filter(self) -> None:
        p = pod(preferred_node_affinity=(prefer(100, ZONE, "b"),), node_selector={ZONE: "a"})
        ev = model.evaluate(p, model.ClusterState(THREE), model.ModelConfig())
        assert not ev.feasible[2]
        assert ev.scores[2] == 0.0
        assert ev.best() in (0, 1)


class TestTaintToleration:
    CLUSTER = (
        node("n1", "a", taints=(types.Taint("x", "", "PreferNoSchedule"),)),
        node(
            "n2",
            "a",
            taints=(
                types.Taint("x", "", "PreferNoSchedule"),
                types.Taint("y", "", "PreferNoSchedule"),
            ),
        ),
        node("n3", "b"),
    )

    def test_counts_intolerable_prefer_no_schedule_taints_reversed(self) -> None:
        # Raw 1, 2, 0; max 2: 100 - 100 * s // 2 = 50, 0, 100.
        assert goodness("taint-toleration", pod(), model.ClusterState(self.CLUSTER)) == [
            0.5,
            0.0,
            1.0,
        ]

    def test_tolerated_taints_do_not_count(self) -> None:
        p = pod(tolerations=(types.Toleration(key="x", operator="Exists"),))
        # Raw 0, 1, 0: 100, 0, 100.
        assert goodness("taint-toleration", p, model.ClusterState(self.CLUSTER)) == [1.0, 0.0, 1.0]

    def test_a_toleration_for_another_effect_does_not_count(self) -> None:
        p = pod(tolerations=(types.Toleration(key="x", operator="Exists", effect="NoSchedule"),))
        assert goodness("taint-toleration", p, model.ClusterState(self.CLUSTER)) == [0.5, 0.0, 1.0]

    def test_a_cluster_without_such_taints_is_not_scored_by_it(self) -> None:
        assert goodness("taint-toleration", pod(), model.ClusterState(THREE)) is None


def placed(name: str, labels: dict[str, str], **kw: object) -> types.Pod:
    return pod(name, cpu=0, labels=labels, **kw)


class TestInterPodAffinity:
    def test_preferred_affinity_and_anti_affinity_weigh_matching_pods_per_domain(self) -> None:
        # db on n1 (zone a), cache on n3 (zone b). Affinity to db by zone, weight 10: n1, n2
        # +10; anti-affinity to cache by host, weight 4: n3 -4. Raw 10, 10, -4; min -4,
        # max 10: 100 * (s + 4) / 14 -> 100, 100, 0.
        cluster = model.ClusterState(
            THREE,
            placed=[(placed("db", {"app": "db"}), "n1"), (placed("cache", {"app": "cache"}), "n3")],
        )
        p = pod(
            preferred_affinity=(types.WeightedPodTerm(10, pod_term("db", ZONE)),),
            preferred_anti_affinity=(types.WeightedPodTerm(4, pod_term("cache", HOST)),),
        )
        assert goodness("inter-pod-affinity", p, cluster) == [1.0, 1.0, 0.0]

    def test_counts_every_matching_pod(self) -> None:
        # Two db pods on n1, one on n3, affinity by host weight 3: raw 6, 0, 3 -> 100, 0, 50.
        cluster = model.ClusterState(
            THREE,
            placed=[
                (placed("db1", {"app": "db"}), "n1"),
                (placed("db2", {"app": "db"}), "n1"),
                (placed("db3", {"app": "db"}), "n3"),
            ],
        )
        p = pod(preferred_affinity=(types.WeightedPodTerm(3, pod_term("db", HOST)),))
        assert goodness("inter-pod-affinity", p, cluster) == [1.0, 0.0, 0.5]

    def test_placed_pods_terms_count_for_the_incoming_pod_symmetrically(self) -> None:
        # A placed pod on n3 prefers app=web away from its host (weight 7); another on n1
        # requires app=web in its zone (hardPodAffinityWeight 1). Raw 1, 1, -7; min -7,
        # max 1: 100 * (s + 7) / 8 -> 100, 100, 0.
        avoider = placed(
            "avoider",
            {},
            preferred_anti_affinity=(types.WeightedPodTerm(7, pod_term("web", HOST)),),
        )
        needs = placed("needs", {}, affinity=(pod_term("web", ZONE),))
        cluster = model.ClusterState(THREE, placed=[(avoider, "n3"), (needs, "n1")])
        web = pod(labels={"app": "web"})
        assert goodness("inter-pod-affinity", web, cluster) == [1.0, 1.0, 0.0]

    def test_all_equal_scores_zero_everywhere(self) -> None:
        p = pod(preferred_affinity=(types.WeightedPodTerm(3, pod_term("none", HOST)),))
        assert goodness("inter-pod-affinity", p, model.ClusterState(THREE)) == [0.0, 0.0, 0.0]

    def test_nothing_to_score_without_terms_on_either_side(self) -> None:
        cluster = model.ClusterState(THREE, placed=[(placed("db", {"app": "db"}), "n1")])
        assert goodness("inter-pod-affinity", pod(), cluster) is None


class TestTopologySpread:
    @staticmethod
    def soft(max_skew: int = 1, key: str = ZONE) -> types.SpreadConstraint:
        return types.SpreadConstraint(
            max_skew=max_skew,
            topology_key=key,
            selector=types.LabelSelector(match_labels={"app": "web"}),
            hard=False,
        )

    def test_scores_by_skew_as_kube_does(self) -> None:
        # Zone a holds 2 web pods (n1, n2), zone b 0. Two zones: weight log(2 + 2).
        # Raw a: round(2 * log 4) = 3 (n1, n2), b: 0. max 3, min 0: 100 * (3 + 0 - s) // 3.
        cluster = model.ClusterState(
            THREE,
            placed=[(placed("w1", {"app": "web"}), "n1"), (placed("w2", {"app": "web"}), "n2")],
        )
        p = pod(labels={"app": "web"}, spread=(self.soft(),))
        raw_a = math.floor(2 * math.log(4) + 0.5)
        assert raw_a == 3
        assert goodness("topology-spread", p, cluster) == [0.0, 0.0, 1.0]

    def test_max_skew_waters_the_differences_down(self) -> None:
        # maxSkew 3 adds 2 to every raw score: a 3 + 2 = 5, b 2. 100 * (5 + 2 - s) // 5.
        cluster = model.ClusterState(
            THREE,
            placed=[(placed("w1", {"app": "web"}), "n1"), (placed("w2", {"app": "web"}), "n2")],
        )
        p = pod(labels={"app": "web"}, spread=(self.soft(max_skew=3),))
        assert goodness("topology-spread", p, cluster) == [0.4, 0.4, 1.0]

    def test_nodes_without_the_key_score_zero_and_do_not_count(self) -> None:
        keyless = cloud("n4")
        cluster = model.ClusterState([*THREE, keyless])
        p = pod(labels={"app": "web"}, spread=(self.soft(),))
        # No pods anywhere: max 0 -> 100 for every scored node; n4 is not scored.
        assert goodness("topology-spread", p, cluster) == [1.0, 1.0, 1.0, 0.0]

    def test_hard_constraints_are_filters_not_this_score(self) -> None:
        hard = types.SpreadConstraint(1, ZONE, types.LabelSelector(match_labels={"app": "web"}))
        assert goodness("topology-spread", pod(spread=(hard,)), model.ClusterState(THREE)) is None


def test_default_normalize_matches_kubes_integer_arithmetic() -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0])
    feasible = np.array([True, True, True, True])
    got = preferences.default_normalize(values, feasible, reverse=False)
    assert got.tolist() == [0.0, 0.33, 0.66, 1.0]
    got = preferences.default_normalize(values, feasible, reverse=True)
    assert got.tolist() == [1.0, 0.67, 0.34, 0.0]


def test_a_preference_is_listed_in_the_event_text_and_weighs_into_the_score() -> None:
    p = pod(preferred_node_affinity=(prefer(1, ZONE, "b"),))
    ev = model.evaluate(p, model.ClusterState(THREE), model.ModelConfig())
    assert "node-affinity=1.000" in ev.node_terms(2).describe()
    assert "node-affinity=0.000" in ev.node_terms(0).describe()
    assert ev.scores[2] > ev.scores[0]


@pytest.mark.parametrize("workload", list(types.Workload), ids=lambda w: w.value)
def test_a_pod_without_preferences_scores_as_before(workload: types.Workload) -> None:
    # The preference terms leave a pod without preferences alone: only the seed's terms.
    ev = model.evaluate(pod(workload=workload), model.ClusterState(THREE), model.ModelConfig())
    assert [t.name for t in ev.terms] == ["transfer", "waiting", "processing", "capacity"]
