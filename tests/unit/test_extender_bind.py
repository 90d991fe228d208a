"""POST /bind: a Binding with the pod's UID, idempotent, every refusal in the Error field.

The API server is faked at the HTTP client boundary (CoreV1Api); tests/e2e binds for real.
"""

from __future__ import annotations

from typing import Any

import pytest
from extender_support import (
    EDGE_ONLY,
    FakeCore,
    api_error,
    cache_args,
    make_view,
    pod,
    served,
    small_cluster,
)

from cloudedge import metrics


def bind_args(name: str = "p", node: str = "edge-1", uid: str = "uid-p") -> dict[str, Any]:
    return {"PodName": name, "PodNamespace": "default", "PodUID": uid, "Node": node}


BATCH = {"cloudedge.io/workload": "batch"}


def pending(*names: str) -> FakeCore:
    return FakeCore({("default", n): (f"uid-{n}", None) for n in names})


def annotated(name: str, cpu: str, annotations: dict[str, str] = BATCH) -> dict[str, Any]:
    """A pending annotated pod with a UID and a resourceVersion, as /filter receives it."""
    obj = pod(name, cpu=cpu, uid=f"uid-{name}", annotations=annotations)
    obj["metadata"]["resourceVersion"] = "7"
    return obj


def test_bind_creates_a_binding_with_the_pods_uid_to_the_named_node() -> None:
    core = pending("p")
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args())
    assert reply.status == 200
    assert reply.doc == {"Error": ""}
    assert core.bindings == [("default", "p", "uid-p", "edge-1")]
    assert core.pods[("default", "p")] == ("uid-p", "edge-1")


def test_a_retry_after_a_lost_reply_succeeds_without_moving_the_pod() -> None:
    core = pending("p")
    with served(make_view(*small_cluster()), core=core) as srv:
        first = srv.post("/bind", bind_args())
        again = srv.post("/bind", bind_args())
    assert first.doc == again.doc == {"Error": ""}
    assert core.pods[("default", "p")] == ("uid-p", "edge-1")


def test_a_pod_bound_to_another_node_is_an_error_naming_that_node() -> None:
    core = FakeCore({("default", "p"): ("uid-p", "cloud-1")})
    registry_metrics = metrics.Metrics()
    with served(make_view(*small_cluster()), core=core, registry_metrics=registry_metrics) as srv:
        reply = srv.post("/bind", bind_args(node="edge-1"))
    assert reply.status == 200
    assert "cloud-1" in reply.doc["Error"]
    assert core.pods[("default", "p")] == ("uid-p", "cloud-1")
    assert registry_metrics.registry.get_sample_value("cloudedge_binding_conflicts_total") == 1


def test_a_deleted_pod_is_an_error_saying_it_is_gone() -> None:
    with served(make_view(*small_cluster()), core=pending()) as srv:
        reply = srv.post("/bind", bind_args())
    assert reply.status == 200
    assert "gone" in reply.doc["Error"]


def test_a_recreated_pod_with_the_same_name_is_not_bound_by_a_stale_request() -> None:
    core = FakeCore({("default", "p"): ("uid-new", None)})
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args(uid="uid-old"))
    assert reply.doc["Error"] != ""
    assert core.pods[("default", "p")] == ("uid-new", None)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        pytest.param(403, "forbidden", id="forbidden"),
        pytest.param(500, "HTTP 500", id="server-error"),
    ],
)
def test_api_refusals_are_errors_with_the_api_message(status: int, words: str) -> None:
    core = pending("p")
    core.fail_with = api_error(status, "the API said no")
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args())
    assert reply.status == 200
    assert words in reply.doc["Error"]
    assert "the API said no" in reply.doc["Error"]


def test_a_connection_failure_is_an_error_not_a_crash() -> None:
    core = pending("p")
    core.fail_with = ConnectionResetError("peer went away")  # type: ignore[assignment]
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args())
        after = srv.request("GET", "/healthz")
    assert reply.status == 200
    assert "peer went away" in reply.doc["Error"]
    assert after.status == 200


def test_without_an_api_client_bind_answers_with_an_error() -> None:
    with served(make_view(*small_cluster()), core=None) as srv:
        reply = srv.post("/bind", bind_args())
    assert reply.status == 200
    assert "no API client" in reply.doc["Error"]


def test_pods_without_cloudedge_annotations_are_bound_as_asked_too() -> None:
    # kube-scheduler hands every pod of a profile to the binding extender: bind is not a filter.
    core = pending("plain-pod")
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args("plain-pod", "cloud-2", "uid-plain-pod"))
    assert reply.doc == {"Error": ""}
    assert core.pods[("default", "plain-pod")] == ("uid-plain-pod", "cloud-2")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param({"PodNamespace": "default", "PodUID": "u", "Node": "n"}, id="no-name"),
        pytest.param({"PodName": "p", "PodUID": "u", "Node": "n"}, id="no-namespace"),
        pytest.param({"PodName": "p", "PodNamespace": "default", "Node": "n"}, id="no-uid"),
        pytest.param({"PodName": "p", "PodNamespace": "default", "PodUID": "u"}, id="no-node"),
        pytest.param(
            {"PodName": "p", "PodNamespace": "default", "PodUID": "u", "Node": ""}, id="empty-node"
        ),
        pytest.param(
            {"PodName": 7, "PodNamespace": "default", "PodUID": "u", "Node": "n"}, id="number-name"
        ),
    ],
)
def test_incomplete_binding_args_are_a_bad_request_and_bind_nothing(args: dict[str, Any]) -> None:
    core = pending("p")
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", args)
    assert reply.status == 400
    assert reply.doc["Error"]
    assert core.bindings == []


def test_an_empty_uid_binds_without_a_precondition() -> None:
    # Go's zero value for a UID: kube-scheduler never sends it, a hand-written client may.
    core = pending("p")
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post("/bind", bind_args(uid=""))
    assert reply.doc == {"Error": ""}
    assert core.bindings == [("default", "p", "", "edge-1")]


def test_a_bind_through_the_extender_counts_the_pod_in_the_view_the_binder_shares() -> None:
    # --mode both: the binder decides on the same view; until the watch shows this pod bound,
    # its room must already be taken there.
    view = make_view(*small_cluster())
    obj = annotated("p", "1500m")
    core = pending("p")
    with served(view, core=core) as srv:
        srv.post("/filter", cache_args(obj, ["edge-1"]))
        reply = srv.post("/bind", bind_args())
    assert reply.doc == {"Error": ""}
    assert view.reservations() == 1
    assert view.usage_by_node()["edge-1"].cpu == 1500.0


def test_a_refused_bind_through_the_extender_leaves_no_reservation() -> None:
    view = make_view(*small_cluster())
    obj = annotated("p", "1500m")
    core = FakeCore({("default", "p"): ("uid-p", "cloud-1")})
    with served(view, core=core) as srv:
        srv.post("/filter", cache_args(obj, ["edge-1"]))
        srv.post("/bind", bind_args())
    assert view.reservations() == 0
    assert view.usage_by_node()["edge-1"].cpu == 0.0


def test_a_bind_to_a_node_the_view_counts_full_is_refused_and_binds_nothing() -> None:
    # kube-scheduler forgot a pod whose /bind reply was lost while its Binding landed; it then
    # asks to bind another pod into the same room. edge-2's 2 CPUs are taken (by "hog").
    view = make_view(*small_cluster())
    obj = annotated("p", "500m")
    core = pending("p")
    with served(view, core=core) as srv:
        srv.post("/filter", cache_args(obj, ["edge-2"]))
        reply = srv.post("/bind", bind_args(node="edge-2"))
    assert reply.status == 200
    assert "edge-2 has no room left for it: cpu" in reply.doc["Error"]
    assert core.bindings == []
    assert view.reservations() == 0
    assert view.usage_by_node()["edge-2"].cpu == 2000.0


def test_a_second_pod_into_room_reserved_by_an_earlier_bind_is_refused() -> None:
    view = make_view(*small_cluster())
    core = pending("a", "b")
    with served(view, core=core) as srv:
        for name in ("a", "b"):
            srv.post("/filter", cache_args(annotated(name, "1500m", EDGE_ONLY), ["edge-1"]))
        first = srv.post("/bind", bind_args("a", uid="uid-a"))
        second = srv.post("/bind", bind_args("b", uid="uid-b"))
        retried = srv.post("/bind", bind_args("a", uid="uid-a"))
    assert first.doc == retried.doc == {"Error": ""}, "the pod holding the room binds again"
    assert "no room left" in second.doc["Error"]
    assert core.pods[("default", "b")] == ("uid-b", None)
    assert core.pods[("default", "a")] == ("uid-a", "edge-1")
    assert view.usage_by_node()["edge-1"].cpu == 1500.0


def test_a_bind_that_timed_out_keeps_its_room_counted() -> None:
    # The Binding may have been made with its reply lost; kube-scheduler forgets the pod's
    # place and may send another pod there before the watch shows the first one bound.
    view = make_view(*small_cluster())
    core = pending("a", "b")
    core.fail_with = api_error(504, "Timeout: request did not complete within 60s")
    with served(view, core=core) as srv:
        for name in ("a", "b"):
            srv.post("/filter", cache_args(annotated(name, "1500m", EDGE_ONLY), ["edge-1"]))
        first = srv.post("/bind", bind_args("a", uid="uid-a"))
        core.fail_with = None
        second = srv.post("/bind", bind_args("b", uid="uid-b"))
    assert "504" in first.doc["Error"]
    assert "no room left" in second.doc["Error"]
    assert view.usage_by_node()["edge-1"].cpu == 1500.0
