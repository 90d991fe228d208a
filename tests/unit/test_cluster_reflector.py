"""The reflector's loop when it is closed: it ends quietly (cluster/reflector.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from kubernetes import client as k8s

from cloudedge.cluster import reflector


def _ignore(_: Any) -> None:
    return None


def make_reflector(
    lister: Any,
    stop: threading.Event,
    *,
    name: str = "pods",
    on_stale: Callable[[], None] | None = None,
) -> reflector.Reflector:
    """A reflector of ``lister`` whose callbacks ignore what it lists."""
    return reflector.Reflector(
        k8s.ApiClient(),
        lister,
        name=name,
        on_replace=_ignore,
        on_upsert=_ignore,
        on_delete=_ignore,
        stop=stop,
        on_stale=on_stale,
    )


def run_to_its_end(r: reflector.Reflector, *, timeout: float) -> None:
    """Run the reflector's loop in a thread until it ends (it must, within ``timeout``)."""
    thread = threading.Thread(target=r.run, daemon=True)
    thread.start()
    thread.join(timeout=timeout)
    assert not thread.is_alive(), "the reflector did not stop"


def broken_stream(stop: threading.Event, calls: list[str]) -> Any:
    """A lister whose stream breaks, as a watch's connection does when the process stops."""

    def lister(**_: Any) -> Any:
        calls.append("list")
        stop.set()  # closed while this request was in flight
        raise ConnectionError("Response ended prematurely")

    return lister


def test_a_closed_reflector_whose_stream_breaks_ends_without_a_warning_or_a_stale_view(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    calls: list[str] = []
    stale: list[bool] = []

    r = make_reflector(broken_stream(stop, calls), stop, on_stale=lambda: stale.append(True))
    with caplog.at_level(logging.INFO, logger="cloudedge.cluster.reflector"):
        run_to_its_end(r, timeout=5)
    assert calls == ["list"]
    assert stale == []
    assert [rec.message for rec in caplog.records if rec.levelno >= logging.WARNING] == []


class _Reply:
    """A ``_preload_content=False`` reply holding a list of one pod."""

    data = b'{"metadata": {"resourceVersion": "7"}, "items": [{"metadata": {"name": "p"}}]}'

    def release_conn(self) -> None:
        return None


def test_a_list_that_returns_after_the_close_is_dropped_unapplied_and_unlogged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stop during the start closes the reflectors while their first lists are in flight:
    the view and the queue those lists feed are being shut down."""
    stop = threading.Event()
    replaced: list[list[Any]] = []

    def lister(**_: Any) -> Any:
        stop.set()  # closed while this request was in flight; its reply still comes
        return _Reply()

    r = reflector.Reflector(
        k8s.ApiClient(),
        lister,
        name="pods",
        on_replace=replaced.append,
        on_upsert=_ignore,
        on_delete=_ignore,
        stop=stop,
    )
    with caplog.at_level(logging.INFO, logger="cloudedge.cluster.reflector"):
        run_to_its_end(r, timeout=5)
    assert replaced == []
    assert r.relists == 0
    assert [rec.message for rec in caplog.records] == []


def test_an_open_reflector_whose_stream_breaks_reports_it_and_relists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    calls: list[Mapping[str, Any]] = []
    stale: list[bool] = []

    def lister(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if len(calls) == 2:
            stop.set()  # the second attempt is the relist: end the test there
        raise ConnectionError("connection refused")

    r = make_reflector(lister, stop, on_stale=lambda: stale.append(True))
    with caplog.at_level(logging.INFO, logger="cloudedge.cluster.reflector"):
        run_to_its_end(r, timeout=10)
    assert len(calls) == 2
    assert stale == [True]
    warnings = [rec.message for rec in caplog.records if rec.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "pods watch failed: connection refused" in warnings[0]


def test_the_same_failure_again_is_a_warning_once_then_debug_until_it_changes(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CRD not installed answers 404 to every list: one warning that says so, not one per
    retry; a different failure is a warning again."""
    monkeypatch.setattr(reflector, "BACKOFF_START_S", 0.001)
    monkeypatch.setattr(reflector, "BACKOFF_MAX_S", 0.001)
    stop = threading.Event()
    calls: list[int] = []

    def lister(**_: Any) -> Any:
        calls.append(1)
        if len(calls) == 6:
            stop.set()
            raise ConnectionError("connection refused")
        raise k8s.exceptions.ApiException(status=404, reason="Not Found")

    r = make_reflector(lister, stop, name="networktopologies")
    with caplog.at_level(logging.DEBUG, logger="cloudedge.cluster.reflector"):
        run_to_its_end(r, timeout=10)
    assert len(calls) == 6
    failed = [rec for rec in caplog.records if "watch failed" in rec.message]
    assert [rec.levelno for rec in failed] == [logging.WARNING] + [logging.DEBUG] * 4
    assert "is its CRD installed?" in failed[0].message
    assert "(5 in a row)" in failed[-1].message
