"""The leader gate's fencing: a lease write counts from when it was sent.

A renewal sent just before the process stalls (SIGSTOP) and read after it must not make the
replica believe its lease is fresh: another replica has held it since (tests/faults).
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.leaderelection.resourcelock import leaselock

from cloudedge.scheduler import leader


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(leader.time, "monotonic", fake)
    return fake


def stalled_write(clock: Clock, seconds: float) -> Any:
    def write(self: Any, name: str, namespace: str, record: Any) -> bool:
        clock.now += seconds  # sent, then the process stopped before reading the reply
        return True

    return write


@pytest.mark.parametrize(
    ("method", "owner", "sends"),
    [
        ("update", leaselock.LeaseLock, "update"),
        # create sends its own request (the Lease carries its owner from the start)
        ("create", leader._FencedLeaseLock, "_create"),
    ],
)
def test_a_renewal_read_after_a_stall_does_not_make_the_lease_fresh(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, method: str, owner: type, sends: str
) -> None:
    monkeypatch.setattr(owner, sends, stalled_write(clock, 16.0))
    gate = leader.LeaderGate(k8s.ApiClient(), identity="a")
    gate._leading = True
    lock = gate._lock
    assert lock is not None
    sent_at = clock.now
    assert getattr(lock, method)("lease", "default", object())
    assert lock.last_write == sent_at
    assert not gate.is_leader(), "16 s after the write was sent, past the 10 s renew deadline"


def test_a_prompt_renewal_keeps_the_lease_fresh(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leaselock.LeaseLock, "update", stalled_write(clock, 0.05))
    gate = leader.LeaderGate(k8s.ApiClient(), identity="a")
    gate._leading = True
    assert gate._lock is not None
    gate._lock.update("lease", "default", object())
    assert gate.is_leader()
