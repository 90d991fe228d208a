"""The live view: usage from every pod, reservations, relists that forget vanished pods."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloudedge import model
from cloudedge.cluster import view as view_mod
from cloudedge.cluster.view import ClusterView

CONFIG = model.ModelConfig()


def node(name: str, cpu: str = "1", tier: str = "edge") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"cloudedge.io/tier": tier}},
        "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}},
    }


def pod(uid: str, cpu: str, node_name: str | None = None, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, "name": uid, "namespace": "ns"},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
        },
        "status": {"phase": phase},
    }


def model_pod(uid: str, cpu: float) -> model.Pod:
    return model.Pod(
        name=uid, namespace="ns", uid=uid, requests={"cpu": cpu, "memory": 0.0, "pods": 1.0}
    )


def cpu_used(view: ClusterView) -> dict[str, float]:
    return {n: u.cpu for n, u in view.usage_by_node().items()}


def test_usage_counts_every_bound_pod_whoever_scheduled_it() -> None:
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_pods([pod("p1", "300m", "a"), pod("p2", "200m", "a"), pod("p3", "1", None)])
    assert cpu_used(view) == {"a": 500.0, "b": 0.0}


def test_finished_pods_free_their_node() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([pod("p1", "300m", "a")])
    view.upsert_pod(pod("p1", "300m", "a", phase="Succeeded"))
    assert cpu_used(view) == {"a": 0.0}


def test_a_reservation_counts_until_the_watch_shows_the_pod_bound() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    _, best = view.decide(model_pod("p1", 600), CONFIG)
    assert best is not None
    assert best.node == "a"
    assert cpu_used(view) == {"a": 600.0}
    _, second = view.decide(model_pod("p2", 600), CONFIG)
    assert second is None  # the reservation keeps the second pod off the node
    view.bound("p1")
    view.upsert_pod(pod("p1", "600m", "a"))
    assert cpu_used(view) == {"a": 600.0}  # counted once, as a pod now
    assert view.reservations() == 0


def test_a_failed_bind_gives_the_capacity_back() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    view.unreserve("p1")
    assert cpu_used(view) == {"a": 0.0}


def test_a_reservation_whose_bind_outcome_is_unknown_holds_the_room_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(view_mod.time, "monotonic", lambda: clock[0])
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    assert view.reserve(model_pod("p1", 600), "a") is None
    view.unsure("p1")
    assert view.reserve(model_pod("p2", 600), "a") == "a has no room left for it: cpu taken"
    clock[0] += view_mod.UNSURE_HOLD_S - 1
    assert cpu_used(view) == {"a": 600.0}, "still held while the watch may show it bound"
    clock[0] += 2
    assert view.reserve(model_pod("p2", 600), "a") is None, "a Binding never made lets go"
    assert cpu_used(view) == {"a": 600.0}
    assert view.reservations() == 1


def test_an_unsure_reservation_ends_when_the_watch_shows_the_pod_bound() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.reserve(model_pod("p1", 600), "a")
    view.unsure("p1")
    view.upsert_pod(pod("p1", "600m", "a"))
    assert view.reservations() == 0
    assert cpu_used(view) == {"a": 600.0}


def test_a_relist_forgets_pods_deleted_during_a_watch_gap() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([pod("p1", "300m", "a"), pod("p2", "300m", "a")])
    view.replace_pods([pod("p2", "300m", "a")])
    assert cpu_used(view) == {"a": 300.0}


def test_a_deleted_pod_releases_its_reservation() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    view.delete_pod(pod("p1", "600m"))
    assert cpu_used(view) == {"a": 0.0}


def test_a_node_with_a_bad_label_is_not_a_candidate_and_is_reported() -> None:
    seen: list[str] = []
    bad = node("bad")
    bad["metadata"]["labels"]["cloudedge.io/bandwidth-mbps"] = "-5"
    view = ClusterView(on_bad_node=lambda obj, err: seen.append(str(err)))
    view.replace_nodes([node("a"), bad])
    assert view.node_names() == ["a"]
    assert "cloudedge.io/bandwidth-mbps" in seen[0]


def test_node_heartbeats_do_not_trigger_a_rebuild_or_a_change() -> None:
    changes: list[str] = []
    view = ClusterView(on_change=changes.append)
    view.replace_nodes([node("a")])
    changes.clear()
    beat = node("a")
    beat["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    view.upsert_node(beat)
    assert changes == []


def test_an_evaluation_is_reused_only_while_pod_config_and_cluster_are_unchanged() -> None:
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_pods([])
    p = model_pod("p1", 600)
    first = view.evaluate(p, CONFIG)
    assert view.evaluate(p, CONFIG) is first, "filter then prioritize of one pod: one evaluation"
    assert view.evaluate(model_pod("p1", 600), CONFIG) is not first, "another pod object"
    assert view.evaluate(p, model.ModelConfig()) is not first, "another configuration"
    view.upsert_pod(pod("q", "700m", "a"))
    after_usage = view.evaluate(p, CONFIG)
    assert after_usage is not first
    assert not after_usage.feasible[0], "a's new usage leaves no room: the answer is fresh"
    view.replace_nodes([node("a"), node("b"), node("c")])
    assert len(view.evaluate(p, CONFIG).feasible) == 3, "new nodes: a new state, a new answer"


def test_usage_and_placed_agree_on_every_bound_and_reserved_pod() -> None:
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_pods([pod("p1", "300m", "a"), pod("p2", "200m", "b"), pod("p3", "1", None)])
    _, reserved = view.decide(model_pod("r1", 400), CONFIG)
    assert reserved is not None
    usage, placed, topology = view.usage_and_placed()
    assert sorted((p.uid, n) for p, n in placed) == sorted(
        [("p1", "a"), ("p2", "b"), ("r1", reserved.node)]
    )
    for name in ("a", "b"):
        on_node = sum(p.requests.cpu for p, n in placed if n == name)
        assert usage[name].cpu == pytest.approx(on_node)
    assert topology is view.state().topology


def test_claim_users_are_the_bound_and_reserved_pods_that_mount_the_claim() -> None:
    def mounting(uid: str, claim_name: str, node_name: str | None) -> dict[str, Any]:
        obj = pod(uid, "100m", node_name)
        obj["spec"]["volumes"] = [{"name": "v", "persistentVolumeClaim": {"claimName": claim_name}}]
        return obj

    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([mounting("bound", "data", "a"), mounting("pending", "data", None)])
    assert view.claim_users(["ns/data"], other_than="new") == ["ns/bound"]
    assert view.claim_users(["ns/data"], other_than="bound") == []
    assert view.claim_users(["ns/other"], other_than="new") == []
    reserved = dataclasses.replace(model_pod("r1", 100), claims=("ns/other",))
    view.decide(reserved, CONFIG)
    assert view.claim_users(["ns/other"], other_than="new") == ["ns/r1"]
    view.upsert_pod(mounting("bound", "data", "a") | {"status": {"phase": "Succeeded"}})
    assert view.claim_users(["ns/data"], other_than="new") == []


def _placed(view: ClusterView) -> dict[str, tuple[str, model.Pod]]:
    _, placed, _ = view.usage_and_placed()
    return {p.uid: (n, p) for p, n in placed}


def test_a_status_update_keeps_the_pod_as_parsed_and_the_state_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_pods([pod("p1", "300m", "a")])
    state = view.state()
    version = state.version
    first = _placed(view)["p1"][1]
    incoming = model_pod("x", 100)
    evaluation = view.evaluate(incoming, CONFIG)
    parses: list[str] = []
    real = view_mod.pod_inputs.parse_placed
    monkeypatch.setattr(
        view_mod.pod_inputs,
        "parse_placed",
        lambda obj, **kw: parses.append(obj["metadata"]["uid"]) or real(obj, **kw),
    )
    running = pod("p1", "300m", "a")
    running["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    running["metadata"]["resourceVersion"] = "2"
    view.upsert_pod(running)
    assert parses == [], "only the status changed: nothing to parse again"
    assert view.state() is state
    assert state.version == version
    assert _placed(view)["p1"][1] is first
    assert view.evaluate(incoming, CONFIG) is evaluation, "the extender's cache still holds"
    assert cpu_used(view) == {"a": 300.0, "b": 0.0}


@pytest.mark.parametrize(
    "change",
    ["labels", "annotations", "requests", "node"],
)
def test_an_update_of_what_the_model_reads_is_parsed_again(change: str) -> None:
    view = ClusterView()
    view.replace_nodes([node("a"), node("b")])
    view.replace_pods([pod("p1", "300m", "a")])
    version = view.state().version
    updated = pod("p1", "300m", "a")
    if change == "labels":
        updated["metadata"]["labels"] = {"app": "camera"}
    elif change == "annotations":
        updated["metadata"]["annotations"] = {"cloudedge.io/compute-cost": "500"}
    elif change == "requests":
        updated = pod("p1", "600m", "a")
    else:
        updated = pod("p1", "300m", "b")
    view.upsert_pod(updated)
    where, parsed = _placed(view)["p1"]
    assert view.state().version > version
    assert (where, parsed.labels, parsed.compute_cost) == (
        "b" if change == "node" else "a",
        {"app": "camera"} if change == "labels" else {},
        500.0 if change == "annotations" else 0.0,
    )
    expected = {"requests": {"a": 600.0, "b": 0.0}, "node": {"a": 0.0, "b": 300.0}}
    assert cpu_used(view) == expected.get(change, {"a": 300.0, "b": 0.0})


def test_a_pod_that_finishes_with_nothing_else_changed_frees_its_node() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([pod("p1", "300m", "a")])
    view.upsert_pod(pod("p1", "300m", "a", phase="Running"))
    view.upsert_pod(pod("p1", "300m", "a", phase="Failed"))
    assert cpu_used(view) == {"a": 0.0}
    assert _placed(view) == {}
