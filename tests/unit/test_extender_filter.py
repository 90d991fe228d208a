"""POST /filter: the nodes kube-scheduler may keep and why the others fail, in both node modes."""

from __future__ import annotations

from typing import Any

import pytest
from extender_support import (
    EDGE_ONLY,
    cache_args,
    list_args,
    make_view,
    node,
    pod,
    served,
    small_cluster,
)

from cloudedge import inputs, metrics, model
from cloudedge.cluster import view as view_mod
from cloudedge.model import filters

ALL = ["cloud-1", "cloud-2", "edge-1", "edge-2", "plain"]
TIER_EDGE = filters.tier_reason(model.Tier.EDGE)


def names_of(result: dict[str, Any]) -> list[str]:
    """The passing nodes, whichever of the two shapes the reply used."""
    if result["NodeNames"] is not None:
        return list(result["NodeNames"])
    return [n["metadata"]["name"] for n in result["Nodes"]["items"]]


def filter_both_ways(pod_obj: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """The filter reply for the small cluster, nodeCacheCapable and not."""
    nodes, pods = small_cluster()
    by_name = {n["metadata"]["name"]: n for n in nodes}
    with served(make_view(nodes, pods)) as srv:
        cached = srv.post("/filter", cache_args(pod_obj, names))
        listed = srv.post("/filter", list_args(pod_obj, [by_name[n] for n in names]))
    assert cached.status == listed.status == 200
    return [cached.doc, listed.doc]


@pytest.mark.parametrize("mode", [0, 1], ids=["node-cache", "node-list"])
def test_nodes_outside_the_required_tier_fail_as_unresolvable(mode: int) -> None:
    result = filter_both_ways(pod("p", annotations=EDGE_ONLY), ALL)[mode]
    assert names_of(result) == ["edge-1"]
    assert result["FailedAndUnresolvableNodes"] == {
        "cloud-1": TIER_EDGE,
        "cloud-2": TIER_EDGE,
        "plain": filters.REASON_NO_TIER,
    }
    assert result["Error"] == ""


@pytest.mark.parametrize("mode", [0, 1], ids=["node-cache", "node-list"])
def test_a_full_node_fails_as_resolvable_with_the_resource_named(mode: int) -> None:
    # edge-2's CPU is taken by a running pod: evicting it would help, so preemption may try.
    result = filter_both_ways(pod("p", annotations=EDGE_ONLY), ALL)[mode]
    assert result["FailedNodes"] == {"edge-2": "Insufficient cpu"}
    assert "edge-2" not in result["FailedAndUnresolvableNodes"]


@pytest.mark.parametrize("mode", [0, 1], ids=["node-cache", "node-list"])
def test_the_reply_has_the_shape_of_the_request(mode: int) -> None:
    result = filter_both_ways(pod("p", annotations=EDGE_ONLY), ALL)[mode]
    if mode == 0:
        assert result["Nodes"] is None
        assert result["NodeNames"] == ["edge-1"]
    else:
        assert result["NodeNames"] is None
        # The Node objects come back as they were sent.
        assert result["Nodes"]["items"] == [small_cluster()[0][2]]


def test_a_pod_too_big_for_any_empty_node_fails_as_unresolvable() -> None:
    result = filter_both_ways(pod("p", annotations=EDGE_ONLY, cpu="3"), ["edge-1", "edge-2"])[0]
    assert result["NodeNames"] == []
    assert set(result["FailedAndUnresolvableNodes"]) == {"edge-1", "edge-2"}
    assert result["FailedNodes"] == {}


def test_a_deadline_no_node_can_meet_fails_as_unresolvable() -> None:
    # 10 s of work at 2,000 units/s is 5 s of processing: a 100 ms deadline is hopeless.
    annotations = {"cloudedge.io/compute-cost": "10000", "cloudedge.io/max-latency-ms": "100"}
    result = filter_both_ways(pod("p", annotations=annotations), ["edge-1"])[0]
    assert result["NodeNames"] == []
    assert result["FailedAndUnresolvableNodes"] == {"edge-1": filters.deadline_reason(100)}


def test_a_cordoned_node_fails_as_resolvable() -> None:
    nodes = [node("edge-1"), node("edge-3", unschedulable=True)]
    with served(make_view(nodes)) as srv:
        result = srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["edge-1", "edge-3"]))
    assert result.doc["NodeNames"] == ["edge-1"]
    assert result.doc["FailedNodes"] == {"edge-3": filters.REASON_UNSCHEDULABLE}


@pytest.mark.parametrize("mode", [0, 1], ids=["node-cache", "node-list"])
def test_a_pod_without_cloudedge_annotations_passes_every_node(mode: int) -> None:
    # Even the untiered and the full node: kube-scheduler's own plugins judge this pod.
    result = filter_both_ways(pod("plain-pod", cpu="3"), ALL)[mode]
    assert names_of(result) == ALL
    assert result["FailedNodes"] == {}
    assert result["FailedAndUnresolvableNodes"] == {}
    assert result["Error"] == ""


def test_a_pod_without_cloudedge_annotations_passes_nodes_the_cache_does_not_know() -> None:
    with served(make_view([node("edge-1")])) as srv:
        reply = srv.post("/filter", cache_args(pod("plain-pod"), ["edge-1", "brand-new"]))
    assert reply.status == 200
    assert reply.doc["NodeNames"] == ["edge-1", "brand-new"]


def test_an_invalid_annotation_is_reported_in_the_error_field_with_key_and_value() -> None:
    bad = pod("p", annotations={"cloudedge.io/max-latency-ms": "soon"})
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/filter", cache_args(bad, ALL))
    assert reply.status == 200
    assert "cloudedge.io/max-latency-ms" in reply.doc["Error"]
    assert "soon" in reply.doc["Error"]
    assert "Pod default/p" in reply.doc["Error"]


def test_nodes_the_cache_does_not_know_are_a_bad_request_naming_them() -> None:
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["edge-1", "ghost"]))
    assert reply.status == 400
    assert reply.content_type == "application/json"
    assert "ghost" in reply.doc["Error"]
    assert "edge-1" not in reply.doc["Error"]


def test_before_the_first_list_unknown_nodes_say_the_cache_is_not_synced() -> None:
    with served(view_mod.ClusterView()) as srv:
        reply = srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["edge-1"]))
    assert reply.status == 400
    assert "not finished its first list" in reply.doc["Error"]


def test_a_node_with_a_malformed_cloudedge_label_fails_as_unresolvable_with_its_error() -> None:
    # The view drops such a node; whoever owns the view records why, and the filter says so.
    message = "Node edge-9: cloudedge.io/tier='fog' is invalid: one of cloud, edge"
    with served(make_view([node("edge-1")]), bad_nodes={"edge-9": message}) as srv:
        reply = srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["edge-1", "edge-9"]))
    assert reply.status == 200
    assert reply.doc["NodeNames"] == ["edge-1"]
    assert reply.doc["FailedAndUnresolvableNodes"] == {"edge-9": message}


def test_without_a_node_cache_a_malformed_node_object_fails_as_unresolvable() -> None:
    nodes = [node("edge-1"), node("edge-9", tier="fog")]
    with served(make_view([])) as srv:
        reply = srv.post("/filter", list_args(pod(annotations=EDGE_ONLY), nodes))
    assert reply.status == 200
    assert names_of(reply.doc) == ["edge-1"]
    assert "cloudedge.io/tier" in reply.doc["FailedAndUnresolvableNodes"]["edge-9"]


def test_without_a_node_cache_only_malformed_node_objects_fail_each_with_its_error() -> None:
    # No node is left to judge: the model's state is empty, and the reply still names both.
    nodes = [node("edge-8", tier="fog"), node("edge-9", tier="mist")]
    with served(make_view([])) as srv:
        reply = srv.post("/filter", list_args(pod(annotations=EDGE_ONLY), nodes))
    assert reply.status == 200
    assert names_of(reply.doc) == []
    failed = reply.doc["FailedAndUnresolvableNodes"]
    assert set(failed) == {"edge-8", "edge-9"}
    assert "fog" in failed["edge-8"]
    assert "mist" in failed["edge-9"]


def test_without_a_node_cache_the_given_node_objects_are_judged_not_the_cached_ones() -> None:
    # The cache still says edge-1 is an edge node; the objects kube-scheduler sent say cloud.
    with served(make_view([node("edge-1")])) as srv:
        reply = srv.post(
            "/filter", list_args(pod(annotations=EDGE_ONLY), [node("edge-1", tier="cloud")])
        )
    assert reply.doc["FailedAndUnresolvableNodes"] == {"edge-1": TIER_EDGE}


def test_without_a_node_cache_usage_of_unknown_nodes_counts_as_zero() -> None:
    # The view knows no pod on edge-5, so the 1.5 CPU pod fits its 2 CPUs.
    with served(make_view([])) as srv:
        reply = srv.post(
            "/filter", list_args(pod(annotations=EDGE_ONLY, cpu="1500m"), [node("e5")])
        )
    assert names_of(reply.doc) == ["e5"]


def test_an_empty_node_list_from_go_passes_nothing_and_fails_nothing() -> None:
    # Go marshals an empty NodeList's nil Items as null.
    args = {"Pod": pod(annotations=EDGE_ONLY), "Nodes": {"metadata": {}, "items": None}}
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/filter", args)
    assert reply.status == 200
    assert reply.doc["Nodes"] == {"metadata": {}, "items": []}


def test_every_filter_request_is_counted_by_status_and_timed() -> None:
    registry_metrics = metrics.Metrics()
    with served(make_view(*small_cluster()), registry_metrics=registry_metrics) as srv:
        srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ALL))
        srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["ghost"]))
        srv.request("POST", "/filter", body=b"{")
    registry = registry_metrics.registry
    count = registry.get_sample_value
    assert count("cloudedge_extender_requests_total", {"verb": "filter", "code": "200"}) == 1
    assert count("cloudedge_extender_requests_total", {"verb": "filter", "code": "400"}) == 2
    timed = count("cloudedge_extender_request_duration_seconds_count", {"verb": "filter"})
    assert timed == 3


def test_a_pod_is_parsed_once_for_its_filter_and_prioritize_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parsed: list[str] = []
    real = inputs.parse_pod

    def counting(obj: Any) -> model.Pod:
        parsed.append(obj["metadata"]["name"])
        return real(obj)

    monkeypatch.setattr(inputs, "parse_pod", counting)
    the_pod = pod("p", annotations=EDGE_ONLY)
    the_pod["metadata"]["resourceVersion"] = "42"
    with served(make_view(*small_cluster())) as srv:
        srv.post("/filter", cache_args(the_pod, ALL))
        srv.post("/prioritize", cache_args(the_pod, ["edge-1"]))
        the_pod["metadata"]["resourceVersion"] = "43"  # changed: parsed again
        srv.post("/filter", cache_args(the_pod, ALL))
    assert parsed == ["p", "p"]


def test_an_invalid_pod_is_reported_again_on_every_call() -> None:
    bad = pod("p", annotations={"cloudedge.io/tier": "moon"})
    bad["metadata"]["resourceVersion"] = "7"
    with served(make_view(*small_cluster())) as srv:
        first = srv.post("/filter", cache_args(bad, ALL))
        second = srv.post("/filter", cache_args(bad, ALL))
    assert first.doc["Error"] == second.doc["Error"] != ""
