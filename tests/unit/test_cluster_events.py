"""EventRecorder's handling of refused writes, with a stub API at the client-method boundary."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from cloudedge.cluster import events

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}


def _refusal(status: int, cause: str | None) -> ApiException:
    err = ApiException(status=status, reason="Forbidden")
    details = {"causes": [{"reason": cause, "field": "metadata.namespace"}]} if cause else {}
    err.body = json.dumps({"kind": "Status", "code": status, "details": details})
    return err


class RefusingApi:
    """Answers every event write with ``error``; counts the attempts."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> None:
        self.calls += 1
        raise self.error


def test_an_event_into_a_namespace_being_deleted_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = RefusingApi(_refusal(403, "NamespaceTerminating"))
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger=events.__name__):
        recorder.pod_event(POD, reason="FailedScheduling", message="m", warning=True)
    assert api.calls == 1, "a terminating namespace is not retried"
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "being deleted" in caplog.records[0].getMessage()


def test_a_missing_permission_is_still_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    api = RefusingApi(_refusal(403, None))
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger=events.__name__):
        recorder.pod_event(POD, reason="Scheduled", message="m")
    assert api.calls == 1
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "not recorded" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_refusal(403, "NamespaceTerminating"), True),
        (_refusal(403, "FieldValueForbidden"), False),
        (_refusal(409, "NamespaceTerminating"), False),
        (ApiException(status=403), False),
        (ValueError("x"), False),
    ],
)
def test_namespace_terminating_reads_the_status_cause(error: Exception, expected: bool) -> None:
    assert events.namespace_terminating(error) is expected


class LostReplyApi:
    """Stores the first write and then fails it as a lost reply would (a 504 after the API
    server timed out on etcd, which committed later); refuses a stored name with 409."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> None:
        name = body["metadata"]["name"]
        if name in self.names:
            raise ApiException(status=409, reason="AlreadyExists")
        self.names.append(name)
        if len(self.names) == 1:
            raise ApiException(status=504, reason="Timeout")


def test_a_retried_event_whose_first_write_was_stored_is_recorded_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = LostReplyApi()
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    monkeypatch.setattr(recorder._closed, "wait", lambda _: False)  # no backoff sleep
    with caplog.at_level(logging.DEBUG, logger=events.__name__):
        recorder.pod_event(POD, reason="Scheduled", message="m")
    assert len(api.names) == 1, "the retry reused the name, so no second event was stored"
    assert api.names[0].startswith("p.")
    assert not caplog.records, "a 409 on the retry is the first write confirmed, not an error"


def test_a_name_clash_on_the_first_attempt_is_still_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = RefusingApi(ApiException(status=409, reason="AlreadyExists"))
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger=events.__name__):
        recorder.pod_event(POD, reason="Scheduled", message="m")
    assert api.calls == 1
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_event_names_fit_the_name_limit_and_differ() -> None:
    involved = {"name": "x" * 253}
    first, second = events.event_name(involved), events.event_name(involved)
    assert len(first) <= events.MAX_NAME
    assert first.startswith("x" * 200)
    assert first != second


class Reply:
    """A ``_preload_content=False`` reply, read and released by ``client.drain``."""

    data = b"{}"

    def release_conn(self) -> None:
        pass


class SeriesApi:
    """Stores events by name; counts creates and patches; answers a patch of a missing event
    with 404, as the API server does once an event's TTL has passed."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.creates = 0
        self.patches = 0

    def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> Reply:
        self.creates += 1
        self.stored[body["metadata"]["name"]] = dict(body)
        return Reply()

    def patch_namespaced_event(self, name: str, namespace: str, body: Any, **_: Any) -> Reply:
        self.patches += 1
        if name not in self.stored:
            raise ApiException(status=404, reason="Not Found")
        self.stored[name].update(body)
        return Reply()


def test_a_repeated_event_updates_its_count_instead_of_adding_an_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(events.time, "monotonic", lambda: now[0])
    api = SeriesApi()
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    for _ in range(3):
        recorder.pod_event(POD, reason="FailedScheduling", message="0/3 nodes", warning=True)
        now[0] += 10
    (only,) = api.stored.values()
    assert (api.creates, api.patches, only["count"]) == (1, 2, 3)
    # Another message, reason or pod is another event.
    recorder.pod_event(POD, reason="FailedScheduling", message="0/4 nodes", warning=True)
    recorder.pod_event(POD, reason="Scheduled", message="0/3 nodes")
    other = {"metadata": {"name": "q", "namespace": "ns", "uid": "u2"}}
    recorder.pod_event(other, reason="FailedScheduling", message="0/3 nodes", warning=True)
    assert (api.creates, api.patches) == (4, 2)
    # Past the window, a repeat starts a new series.
    now[0] += events.SERIES_WINDOW_S
    recorder.pod_event(POD, reason="FailedScheduling", message="0/3 nodes", warning=True)
    assert (api.creates, api.patches) == (5, 2)
    # An event gone from the API server (its TTL) is recorded anew.
    api.stored.clear()
    recorder.pod_event(POD, reason="FailedScheduling", message="0/3 nodes", warning=True)
    assert (api.creates, api.patches) == (6, 3)
    assert [e["count"] for e in api.stored.values()] == [1]


def test_the_events_remembered_for_updating_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "SERIES_CACHE", 2)
    api = SeriesApi()
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    for message in ("a", "b", "c", "a"):
        recorder.pod_event(POD, reason="FailedScheduling", message=message, warning=True)
    assert (api.creates, api.patches) == (4, 0), "the oldest, a, was forgotten"


class StatusApi:
    """Records every status patch of a pod."""

    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    def patch_namespaced_pod_status(self, name: str, namespace: str, body: Any, **_: Any) -> Reply:
        self.patches.append(body)
        return Reply()


def _with_condition(status: str, reason: str, message: str) -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    return {**POD, "status": {"conditions": [{"type": "Ready"}, condition]}}


def test_the_unschedulable_condition_is_patched_only_when_it_changes() -> None:
    api = StatusApi()
    recorder = events.EventRecorder(api, instance="i")  # type: ignore[arg-type]
    # Not yet unschedulable: a transition, stamped now.
    assert recorder.unschedulable(POD, message="0/3 nodes")
    assert recorder.unschedulable(_with_condition("True", "", ""), message="0/3 nodes")
    stamps = [p["status"]["conditions"][0]["lastTransitionTime"] for p in api.patches]
    assert len(stamps) == 2
    assert "2026-01-01T00:00:00Z" not in stamps
    # Already so, with the same message: nothing to send, as kube-scheduler.
    same = _with_condition("False", "Unschedulable", "0/3 nodes")
    assert recorder.unschedulable(same, message="0/3 nodes")
    assert len(api.patches) == 2
    # A new message: sent, and the status did not change, so neither does the transition time.
    assert recorder.unschedulable(same, message="0/4 nodes")
    (condition,) = api.patches[-1]["status"]["conditions"]
    assert condition["message"] == "0/4 nodes"
    assert condition["lastTransitionTime"] == "2026-01-01T00:00:00Z"
