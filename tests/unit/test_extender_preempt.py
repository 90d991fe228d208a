"""POST /preempt: victims come back unchanged, minus nodes where eviction can never help."""

from __future__ import annotations

from typing import Any

import pytest
from extender_support import EDGE_ONLY, make_view, node, pod, served, small_cluster


def meta(*uids: str, pdb: int = 0) -> dict[str, Any]:
    return {"Pods": [{"UID": u} for u in uids], "NumPDBViolations": pdb}


def full(*pods: dict[str, Any], pdb: int = 0) -> dict[str, Any]:
    return {"Pods": list(pods), "NumPDBViolations": pdb}


CANDIDATES = {
    "cloud-1": meta("a"),
    "edge-1": meta("b", "c", pdb=1),
    "edge-2": meta("uid-default-hog"),
    "plain": meta("d"),
}


def test_nodes_where_the_pod_can_never_run_are_dropped_the_rest_kept_unchanged() -> None:
    args = {"Pod": pod(annotations=EDGE_ONLY), "NodeNameToMetaVictims": CANDIDATES}
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/preempt", args)
    assert reply.status == 200
    # cloud-1 is the wrong tier and plain has no tier: evicting there would be for nothing.
    assert reply.doc == {
        "NodeNameToMetaVictims": {
            "edge-1": meta("b", "c", pdb=1),
            "edge-2": meta("uid-default-hog"),
        }
    }


def test_full_pod_victims_come_back_as_uids() -> None:
    # Without a node cache kube-scheduler sends whole pods; the reply only has MetaVictims.
    hog = pod("hog", cpu="2", node_name="edge-2")
    args = {
        "Pod": pod(annotations=EDGE_ONLY),
        "NodeNameToVictims": {"edge-2": full(hog, pdb=2), "cloud-1": full(pod("x"))},
    }
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/preempt", args)
    assert reply.doc == {"NodeNameToMetaVictims": {"edge-2": meta("uid-default-hog", pdb=2)}}


def test_without_a_node_cache_nodes_the_view_does_not_know_are_kept() -> None:
    args = {"Pod": pod(annotations=EDGE_ONLY), "NodeNameToVictims": {"far": full(pod("x"))}}
    with served(make_view([node("edge-1")])) as srv:
        reply = srv.post("/preempt", args)
    assert reply.doc == {"NodeNameToMetaVictims": {"far": meta("uid-default-x")}}


def test_with_a_node_cache_unknown_nodes_are_a_bad_request() -> None:
    args = {"Pod": pod(annotations=EDGE_ONLY), "NodeNameToMetaVictims": {"far": meta("x")}}
    with served(make_view([node("edge-1")])) as srv:
        reply = srv.post("/preempt", args)
    assert reply.status == 400
    assert "far" in reply.doc["Error"]


def test_a_pod_without_cloudedge_annotations_keeps_every_candidate() -> None:
    args = {"Pod": pod("plain-pod"), "NodeNameToMetaVictims": {**CANDIDATES, "unknown": meta("z")}}
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/preempt", args)
    assert reply.doc == {"NodeNameToMetaVictims": {**CANDIDATES, "unknown": meta("z")}}


def test_invalid_annotations_keep_every_candidate() -> None:
    bad = pod(annotations={"cloudedge.io/tier": "moon"})
    args = {"Pod": bad, "NodeNameToMetaVictims": CANDIDATES}
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/preempt", args)
    assert reply.status == 200
    assert reply.doc == {"NodeNameToMetaVictims": CANDIDATES}


def test_a_malformed_node_known_from_its_error_is_dropped() -> None:
    args = {"Pod": pod(annotations=EDGE_ONLY), "NodeNameToMetaVictims": {"edge-9": meta("x")}}
    with served(make_view([node("edge-1")]), bad_nodes={"edge-9": "bad label"}) as srv:
        reply = srv.post("/preempt", args)
    assert reply.doc == {"NodeNameToMetaVictims": {}}


@pytest.mark.parametrize(
    "args",
    [
        pytest.param({"Pod": {}}, id="no-victim-map"),
        pytest.param(
            {"Pod": {}, "NodeNameToMetaVictims": {}, "NodeNameToVictims": {}}, id="both-maps"
        ),
        pytest.param({"NodeNameToMetaVictims": {}}, id="no-pod"),
        pytest.param(
            {"Pod": {}, "NodeNameToMetaVictims": {"n": {"Pods": [{"UID": 3}]}}}, id="numeric-uid"
        ),
        pytest.param(
            {"Pod": {}, "NodeNameToMetaVictims": {"n": {"NumPDBViolations": 1.5}}},
            id="fractional-count",
        ),
        pytest.param(
            {"Pod": {}, "NodeNameToMetaVictims": {"n": {"NumPDBViolations": 2**63}}},
            id="count-beyond-int64",
        ),
    ],
)
def test_malformed_preemption_args_are_a_bad_request(args: dict[str, Any]) -> None:
    with served(make_view(*small_cluster())) as srv:
        reply = srv.post("/preempt", args)
    assert reply.status == 400
    assert reply.doc["Error"]
