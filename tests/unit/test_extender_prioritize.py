"""POST /prioritize: the model's 0..100 score as kube-scheduler's 0..10, in both node modes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from extender_support import (
    EDGE_ONLY,
    Served,
    cache_args,
    list_args,
    make_view,
    node,
    pod,
    served,
    small_cluster,
)

from cloudedge import inputs, model
from cloudedge.cluster import view as view_mod

# A latency-sensitive pod reading 50 MB that sits on edge-a: the nodes differ in every term.
NEAR_DATA = {
    "cloudedge.io/workload": "latency-sensitive",
    "cloudedge.io/data-source": "edge-a",
    "cloudedge.io/data-size-mb": "50",
    "cloudedge.io/compute-cost": "400",
}


def mixed_cluster() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    nodes = [
        node("cloud-a", tier="cloud", cpu="8", labels={"cloudedge.io/bandwidth-mbps": "10000"}),
        node("edge-a", labels={"cloudedge.io/bandwidth-mbps": "100"}),
        node("edge-b", labels={"cloudedge.io/bandwidth-mbps": "100"}),
        node("plain", tier=None),
    ]
    pods = [pod("busy", cpu="1500m", node_name="edge-b")]
    return nodes, pods


def expected_scores(
    view: view_mod.ClusterView, pod_obj: dict[str, Any], names: list[str]
) -> dict[str, int]:
    ev = view.evaluate(inputs.parse_pod(pod_obj), model.ModelConfig())
    return {n: math.floor(ev.scores[ev.node_names.index(n)] / 10 + 0.5) for n in names}


@pytest.mark.parametrize("mode", ["node-cache", "node-list"])
def test_scores_are_the_model_scores_divided_by_ten_and_rounded(mode: str) -> None:
    nodes, pods = mixed_cluster()
    view = make_view(nodes, pods)
    names = ["cloud-a", "edge-a", "edge-b", "plain"]
    the_pod = pod("p", annotations=NEAR_DATA)
    args = cache_args(the_pod, names) if mode == "node-cache" else list_args(the_pod, nodes)
    with served(view) as srv:
        reply = srv.post("/prioritize", args)
    assert reply.status == 200
    assert reply.doc == expected_priorities(view, the_pod, names)


def test_the_node_next_to_the_data_scores_highest_and_untiered_nodes_zero() -> None:
    view = make_view(*mixed_cluster())
    with served(view) as srv:
        reply = srv.post(
            "/prioritize",
            cache_args(pod("p", annotations=NEAR_DATA), ["cloud-a", "edge-a", "plain"]),
        )
    scores = {h["Host"]: h["Score"] for h in reply.doc}
    assert scores["edge-a"] == max(scores.values())
    assert scores["edge-a"] > scores["cloud-a"]
    assert scores["plain"] == 0


def test_scores_follow_the_order_of_the_request() -> None:
    view = make_view(*mixed_cluster())
    order = ["plain", "edge-b", "cloud-a", "edge-a"]
    with served(view) as srv:
        reply = srv.post("/prioritize", cache_args(pod("p", annotations=NEAR_DATA), order))
    assert [h["Host"] for h in reply.doc] == order


@pytest.mark.parametrize("mode", ["node-cache", "node-list"])
def test_a_pod_without_cloudedge_annotations_scores_every_node_zero(mode: str) -> None:
    nodes, pods = mixed_cluster()
    names = [n["metadata"]["name"] for n in nodes]
    the_pod = pod("plain-pod")
    args = (
        cache_args(the_pod, [*names, "unknown"])
        if mode == "node-cache"
        else list_args(the_pod, nodes)
    )
    with served(make_view(nodes, pods)) as srv:
        reply = srv.post("/prioritize", args)
    assert reply.status == 200
    assert {h["Score"] for h in reply.doc} == {0}


def test_invalid_annotations_score_every_node_zero_rather_than_fail() -> None:
    # kube-scheduler ignores failed prioritize calls; /filter already carried the error.
    bad = pod("p", annotations={"cloudedge.io/workload": "gaming"})
    with served(make_view(*mixed_cluster())) as srv:
        reply = srv.post("/prioritize", cache_args(bad, ["edge-a", "edge-b"]))
    assert reply.status == 200
    assert reply.doc == [{"Host": "edge-a", "Score": 0}, {"Host": "edge-b", "Score": 0}]


def test_unknown_nodes_in_cache_mode_are_a_bad_request() -> None:
    with served(make_view(*mixed_cluster())) as srv:
        reply = srv.post("/prioritize", cache_args(pod(annotations=EDGE_ONLY), ["edge-a", "x"]))
    assert reply.status == 400
    assert "'x'" in reply.doc["Error"]


@pytest.mark.parametrize(
    ("model_score", "wire_score"),
    [
        pytest.param(-20.0, 0, id="negative-is-0"),
        pytest.param(4.9, 0, id="4.9-rounds-down"),
        pytest.param(5.0, 1, id="5-rounds-half-up"),
        pytest.param(94.9, 9, id="94.9-is-9"),
        pytest.param(95.0, 10, id="95-is-10"),
        pytest.param(100.0, 10, id="100-is-10"),
        pytest.param(250.0, 10, id="above-100-is-10"),
        pytest.param(math.inf, 10, id="infinite-is-10"),
        pytest.param(math.nan, 0, id="nan-is-0"),
    ],
)
def test_scores_are_clamped_to_zero_to_ten(
    monkeypatch: pytest.MonkeyPatch, model_score: float, wire_score: int
) -> None:
    view = make_view(*small_cluster())
    real = view.evaluate

    def forced(p: model.Pod, config: model.ModelConfig) -> model.Evaluation:
        ev = real(p, config)
        return dataclasses.replace(ev, scores=np.full(len(ev.node_names), model_score))

    monkeypatch.setattr(view, "evaluate", forced)
    with served(view) as srv:
        reply = srv.post("/prioritize", cache_args(pod(annotations=EDGE_ONLY), ["edge-1"]))
    assert reply.doc == [{"Host": "edge-1", "Score": wire_score}]


def expected_priorities(
    view: view_mod.ClusterView, pod_obj: dict[str, Any], names: list[str]
) -> list[dict[str, Any]]:
    """The HostPriorityList prioritize must answer for ``names``, in their order."""
    return [{"Host": n, "Score": s} for n, s in expected_scores(view, pod_obj, names).items()]


def passed_by_filter(srv: Served, pod_obj: dict[str, Any], nodes: list[dict[str, Any]]) -> Any:
    """Filter every node of ``nodes`` for the pod: the names that passed (some, not all)."""
    names = [n["metadata"]["name"] for n in nodes]
    passed = srv.post("/filter", cache_args(pod_obj, names)).doc["NodeNames"]
    assert 0 < len(passed) < len(names)
    return passed


def test_prioritize_after_filter_scores_the_passed_nodes_like_a_fresh_extender() -> None:
    # Filter remembers the rows of the nodes that passed for the prioritize call that follows;
    # the scores must be those of an extender that never saw the filter.
    nodes, pods = mixed_cluster()
    the_pod = pod("p", annotations=NEAR_DATA)
    view = make_view(nodes, pods)
    with served(view) as srv:
        passed = passed_by_filter(srv, the_pod, nodes)
        after_filter = srv.post("/prioritize", cache_args(the_pod, passed)).doc
    with served(make_view(nodes, pods)) as fresh:
        alone = fresh.post("/prioritize", cache_args(the_pod, passed)).doc
    assert after_filter == alone
    assert after_filter == expected_priorities(view, the_pod, passed)


def test_prioritize_after_filter_follows_a_node_list_that_changed_in_between() -> None:
    # A node joins between the two calls: the view's rows move, and the rows remembered at
    # filter time must not be read against the new state.
    nodes, pods = mixed_cluster()
    the_pod = pod("p", annotations=NEAR_DATA)
    view = make_view(nodes, pods)
    with served(view) as srv:
        passed = passed_by_filter(srv, the_pod, nodes)
        view.replace_nodes([node("edge-0", labels={"cloudedge.io/bandwidth-mbps": "100"}), *nodes])
        reply = srv.post("/prioritize", cache_args(the_pod, passed)).doc
    assert reply == expected_priorities(view, the_pod, passed)


def test_preferences_are_left_to_kube_schedulers_own_score_plugins() -> None:
    # Two identical edge nodes; the pod prefers edge-b. kube-scheduler's NodeAffinity plugin
    # scores that preference before it calls us: the extender must not count it a second time.
    nodes = [node("edge-a"), node("edge-b")]
    the_pod = pod("p", annotations={"cloudedge.io/workload": "batch"})
    host_is_b = {"key": "kubernetes.io/hostname", "operator": "In", "values": ["edge-b"]}
    preference = {"matchExpressions": [host_is_b]}
    the_pod["spec"]["affinity"] = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": preference}
            ]
        }
    }
    view = make_view(nodes, [])
    with served(view) as srv:
        reply = srv.post("/prioritize", cache_args(the_pod, ["edge-a", "edge-b"]))
    scores = {h["Host"]: h["Score"] for h in reply.doc}
    assert scores["edge-a"] == scores["edge-b"] > 0
    # The binder, which has no kube-scheduler in front of it, does count it.
    ev = view.evaluate(inputs.parse_pod(the_pod), model.ModelConfig())
    assert ev.best() == 1


@pytest.mark.parametrize("mode", ["node-cache", "node-list"])
def test_both_modes_charge_the_wait_added_to_the_pods_on_the_node(mode: str) -> None:
    # Two equal edge nodes, each a quarter full. edge-a's quarter is one pod with 50 s of
    # work; edge-b's is one without a compute cost. The new pod's own estimated completion
    # is the same on both; what it and the pod already there do to each other as they share
    # the CPU (the waiting term's score and the congestion term) is not, and the view's pods
    # reach the score whether kube-scheduler sends names or objects.
    nodes = [node("edge-a"), node("edge-b")]
    heavy = {"cloudedge.io/workload": "batch", "cloudedge.io/compute-cost": "100000"}
    pods = [
        pod("heavy", cpu="500m", node_name="edge-a", annotations=heavy),
        pod("light", cpu="500m", node_name="edge-b"),
    ]
    view = make_view(nodes, pods)
    the_pod = pod(
        "p", annotations={"cloudedge.io/workload": "batch", "cloudedge.io/compute-cost": "2000"}
    )
    names = ["edge-a", "edge-b"]
    args = cache_args(the_pod, names) if mode == "node-cache" else list_args(the_pod, nodes)
    with served(view) as srv:
        reply = srv.post("/prioritize", args)
    scores = {h["Host"]: h["Score"] for h in reply.doc}
    assert scores["edge-a"] < scores["edge-b"]
    assert reply.doc == expected_priorities(view, the_pod, names)
