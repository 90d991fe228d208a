"""Bindings under faults: what a 409 during an etcd failure means, and a /bind that came late.

Both were found by tests/faults (see docs/faults.md); the API server is faked here.
"""

from __future__ import annotations

import pytest
from extender_support import FakeCore, api_error, make_view, served, small_cluster

from cloudedge import errors
from cloudedge.cluster import binding
from cloudedge.extender import server

ETCD_DOWN = (
    'Operation cannot be fulfilled on pods/binding "p": rpc error: code = Unavailable '
    "desc = error reading from server: EOF"
)


def test_a_409_for_a_pod_still_unbound_is_worth_a_retry_not_a_conflict() -> None:
    core = FakeCore({("default", "p"): ("uid-p", None)})
    core.fail_with = api_error(409, ETCD_DOWN)
    with pytest.raises(errors.BindError) as caught:
        binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert caught.value.reason == "retry"


def test_a_409_for_a_pod_bound_elsewhere_is_a_conflict() -> None:
    core = FakeCore({("default", "p"): ("uid-p", "cloud-1")})
    with pytest.raises(errors.BindError) as caught:
        binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert caught.value.reason == "conflict"


def test_a_bind_request_that_waited_past_the_deadline_makes_no_binding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if the request had queued for a worker until kube-scheduler's httpTimeout passed.
    monkeypatch.setattr(server, "BIND_TIMEOUT_S", 0.1)
    core = FakeCore({("default", "p"): ("uid-p", None)})
    with served(make_view(*small_cluster()), core=core) as srv:
        reply = srv.post(
            "/bind",
            {"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "edge-1"},
        )
    assert reply.status == 200
    assert "not bound" in reply.doc["Error"]
    assert core.bindings == []
    assert core.pods[("default", "p")] == ("uid-p", None)


@pytest.mark.parametrize(
    ("state", "error"),
    [
        pytest.param("gated", binding.BindGated, id="gated"),
        pytest.param("deleting", binding.BindGone, id="being-deleted"),
    ],
)
def test_a_409_for_a_gated_or_deleting_pod_ends_the_attempt_without_a_retry(
    state: str, error: type[errors.BindError]
) -> None:
    core = FakeCore({("default", "p"): ("uid-p", None)})
    getattr(core, state).add(("default", "p"))
    with pytest.raises(error) as caught:
        binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert caught.value.reason == "gone", "not retried and not reported as a failure"


def test_a_409_for_a_pod_bound_elsewhere_is_a_typed_conflict_naming_the_node() -> None:
    core = FakeCore({("default", "p"): ("uid-p", "cloud-1")})
    with pytest.raises(binding.BindConflict) as caught:
        binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert caught.value.node == "cloud-1"


def test_a_409_from_a_failing_etcd_for_a_pod_found_on_this_node_is_this_requests_binding() -> None:
    # etcd stored the write and failed before it answered: the API server's reply is a 409
    # about the storage, and the pod is on the node this request named.
    core = FakeCore({("default", "p"): ("uid-p", "edge-1")})
    core.fail_with = api_error(409, ETCD_DOWN)
    outcome = binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert outcome is binding.Outcome.BOUND


def test_a_409_saying_already_assigned_to_this_node_is_an_earlier_binding() -> None:
    # Bound before this request (an earlier attempt, or another client with the same choice):
    # the API server says so, and this request made nothing.
    core = FakeCore({("default", "p"): ("uid-p", "edge-1")})
    outcome = binding.bind(core, namespace="default", name="p", uid="uid-p", node="edge-1")
    assert outcome is binding.Outcome.ALREADY_BOUND_SAME_NODE
