"""The live view across a watch gap: what a relist must forget, and what it must keep."""

from __future__ import annotations

from test_cluster_view import CONFIG, cpu_used, model_pod, node, pod

from cloudedge.cluster.view import ClusterView


def relist(view: ClusterView, pods: list[dict[str, object]]) -> None:
    """What the pod reflector does: announce the list request, then replace."""
    view.pods_listing()
    view.replace_pods(pods)


def test_a_relist_releases_the_reservation_of_a_bound_pod_deleted_during_the_gap() -> None:
    # Bound by us, then deleted before the watch ever showed it bound: no event will come.
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    view.bound("p1")
    relist(view, [])
    assert cpu_used(view) == {"a": 0.0}
    assert view.reservations() == 0


def test_a_relist_requested_before_the_bind_succeeded_keeps_its_reservation() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    view.pods_listing()  # the list is requested...
    view.bound("p1")  # ...the Binding succeeds...
    view.replace_pods([])  # ...and the list, older than the pod, arrives
    assert cpu_used(view) == {"a": 600.0}


def test_a_relist_keeps_the_reservation_of_a_pod_still_waiting_for_its_bind() -> None:
    # The Binding is in flight: the pod is listed unbound, and its room must stay taken.
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    relist(view, [pod("p1", "600m", None, phase="Pending")])
    assert cpu_used(view) == {"a": 600.0}


def test_a_relist_counts_a_reserved_pod_listed_bound_once() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    view.decide(model_pod("p1", 600), CONFIG)
    view.bound("p1")
    relist(view, [pod("p1", "600m", "a")])
    assert cpu_used(view) == {"a": 600.0}
    assert view.reservations() == 0


def test_the_view_is_not_fresh_until_every_broken_watch_has_relisted() -> None:
    view = ClusterView()
    view.replace_nodes([node("a")])
    view.replace_pods([])
    assert view.fresh()
    view.mark_stale("nodes")
    view.mark_stale("pods")
    assert not view.fresh()
    relist(view, [])  # pods first: the nodes may still hide a cordon made in the gap
    assert not view.fresh()
    view.replace_nodes([node("a")])
    assert view.fresh()
