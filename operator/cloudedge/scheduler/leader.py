"""Leader election on a ``coordination.k8s.io`` Lease, with fencing before every bind.

The kubernetes client's thread-based elector (``kubernetes.leaderelection``) is reused for
acquiring and renewing the Lease, with kube-scheduler's timings (15 s lease, 10 s renew
deadline, 2 s retry). It only calls back when leadership is won or lost, and a process that
was stopped (SIGSTOP, a long GC pause) learns it lost the lease only after its next renew
attempt fails. So :meth:`LeaderGate.is_leader` also requires the last successful renewal to
be younger than the renew deadline, measured on our monotonic clock: a replica resumed after
a stall binds nothing, even before the elector notices. kopf's peering is not used: it is
not a lease and gives no such guarantee.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock import leaselock

log = logging.getLogger(__name__)

LEASE_DURATION_S = 15
RENEW_DEADLINE_S = 10
RETRY_PERIOD_S = 2


class _FencedLeaseLock(leaselock.LeaseLock):
    """A LeaseLock on our API client that records when our own writes succeed."""

    def __init__(self, api: k8s.ApiClient, name: str, namespace: str, identity: str) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = k8s.CoordinationV1Api(api)
        self.last_write = 0.0

    # A write counts from when it was sent, not from when its reply was read: a renewal sent
    # just before a stall (SIGSTOP) and read after it made a replica whose lease had long
    # passed to another think it was fresh for 10 more seconds (tests/faults, stalled leader).
    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        sent = time.monotonic()
        ok = bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]
        if ok:
            self.last_write = sent
        return ok

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        sent = time.monotonic()
        ok = bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]
        if ok:
            self.last_write = sent
        return ok


class LeaderGate:
    """Whether this replica may bind right now."""

    def __init__(
        self,
        api: k8s.ApiClient | None,
        *,
        namespace: str = "default",
        name: str = "cloud-edge-scheduler",
        identity: str | None = None,
        enabled: bool = True,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.enabled = enabled
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
        self.namespace = namespace
        self.name = name
        self._on_change = on_change
        self._leading = not enabled
        self._stop = threading.Event()
        self._lock: _FencedLeaseLock | None = None
        if enabled:
            if api is None:
                raise ValueError("leader election needs an API client")
            self._lock = _FencedLeaseLock(api, name, namespace, self.identity)

    def is_leader(self) -> bool:
        """True while leading and the lease was renewed within the renew deadline."""
        if not self.enabled:
            return True
        assert self._lock is not None
        fresh = time.monotonic() - self._lock.last_write < RENEW_DEADLINE_S
        return self._leading and fresh

    def start(self) -> None:
        """Campaign in a daemon thread, again after every loss, until :meth:`stop`."""
        if not self.enabled:
            return
        threading.Thread(target=self._campaign, name="leader-election", daemon=True).start()

    def stop(self) -> None:
        """Stop campaigning; stop binding at once."""
        self._stop.set()
        self._set(False)

    def _set(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        log.info("leadership %s (%s)", "acquired" if leading else "lost", self.identity)
        if self._on_change is not None:
            self._on_change(leading)

    def _campaign(self) -> None:
        assert self._lock is not None
        while not self._stop.is_set():
            config = electionconfig.Config(  # type: ignore[no-untyped-call]
                self._lock,
                lease_duration=LEASE_DURATION_S,
                renew_deadline=RENEW_DEADLINE_S,
                retry_period=RETRY_PERIOD_S,
                onstarted_leading=lambda: self._set(True),
                onstopped_leading=lambda: self._set(False),
            )
            try:
                leaderelection.LeaderElection(config).run()  # type: ignore[no-untyped-call]
            except Exception as err:  # API server unreachable mid-renewal: start over
                log.warning("leader election interrupted: %s", err)
            self._set(False)
            self._stop.wait(RETRY_PERIOD_S)
