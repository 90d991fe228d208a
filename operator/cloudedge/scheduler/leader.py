"""Leader election on a ``coordination.k8s.io`` Lease, with fencing before every bind.

The kubernetes client's thread-based elector (``kubernetes.leaderelection``) is reused for
acquiring and renewing the Lease, with kube-scheduler's timings (15 s lease, 10 s renew
deadline, 2 s retry). It only calls back when leadership is won or lost, and a process that
was stopped (SIGSTOP, a long GC pause) learns it lost the lease only after its next renew
attempt fails. So :meth:`LeaderGate.is_leader` also requires the last successful renewal to
be younger than the renew deadline, measured on our monotonic clock: a replica resumed after
a stall binds nothing, even before the elector notices. kopf's peering is not used: it is
not a lease and gives no such guarantee.

A replica that stops (SIGTERM: a rolling update, a scale-down, a deleted pod) releases the Lease
it holds, as controller-runtime managers do with ``LeaderElectionReleaseOnCancel``, so that a
standby takes over within one retry period (2 s) instead of waiting out the 15 s lease. Release
here deletes the Lease, on the precondition that it is unchanged since read as ours: a standby
creates a missing Lease at once (the elector's 404 path), and `helm uninstall` leaves no Lease
behind.
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
from kubernetes.client import exceptions as k8s_exceptions
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock import leaselock

log = logging.getLogger(__name__)

LEASE_DURATION_S = 15
RENEW_DEADLINE_S = 10
RETRY_PERIOD_S = 2
# Read-then-delete of the Lease on release can race the elector's last renewal (409 Conflict);
# a few tries settle it, and a release that fails still leaves the lease to expire on its own.
RELEASE_ATTEMPTS = 3
RELEASE_TIMEOUT_S = 5.0
"""Per request of the release: the stop must not hang on an API server that does not answer."""


class _FencedLeaseLock(leaselock.LeaseLock):
    """A LeaseLock on our API client that records when our own writes succeed."""

    def __init__(
        self,
        api: k8s.ApiClient,
        name: str,
        namespace: str,
        identity: str,
        owner: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        super().__init__(name, namespace, identity)  # type: ignore[no-untyped-call]
        self.api_instance = k8s.CoordinationV1Api(api)
        self.owner = owner
        self.last_write = 0.0
        # Set when the replica stops: the elector thread must not renew (or re-acquire) the
        # Lease after it was released.
        self.fenced = False
        # Set before this replica's first create or update is sent (the reply may be lost, the
        # write not): until then the Lease holds nothing of ours and a stop need not read it.
        self.tried_write = False

    # A write counts from when it was sent, not from when its reply was read: a renewal sent
    # just before a stall (SIGSTOP) and read after it made a replica whose lease had long
    # passed to another think it was fresh for 10 more seconds (tests/faults, stalled leader).
    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        if self.fenced:
            return False
        self.tried_write = True
        sent = time.monotonic()
        ok = self._create(name, namespace, election_record)
        if ok:
            self.last_write = sent
        return ok

    def _create(self, name: str, namespace: str, election_record: Any) -> bool:
        """``LeaseLock.create``, with the Lease's owner (scheduler/ownership.py) set from the
        start, so that a Lease made by a standby after a handover is removed with the
        Deployment, like the first one."""
        ref = self.owner() if self.owner is not None else None
        owners = None
        if ref is not None:
            owners = [
                k8s.V1OwnerReference(
                    api_version=ref["apiVersion"],
                    kind=ref["kind"],
                    name=ref["name"],
                    uid=ref["uid"],
                )
            ]
        metadata = k8s.V1ObjectMeta(name=name, owner_references=owners)
        spec = self.get_lease_spec(election_record)  # type: ignore[no-untyped-call]
        body = k8s.V1Lease(metadata=metadata, spec=spec)
        try:
            self.lease_reference = self.api_instance.create_namespaced_lease(namespace, body)
        except k8s_exceptions.ApiException as err:
            log.info("lease %s not created: %s", name, err.reason)
            return False
        return True

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        if self.fenced:
            return False
        self.tried_write = True
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
        owner: Callable[[], dict[str, Any] | None] | None = None,
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
            self._lock = _FencedLeaseLock(api, name, namespace, self.identity, owner)

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
        """Stop campaigning and binding at once, and release the Lease if this replica holds it.

        A replica that never wrote the Lease (stopped while it started, or a standby whose
        every try found it held) has nothing to release and makes no request.
        """
        self._stop.set()
        self._set(False)
        if self._lock is not None:
            self._lock.fenced = True
            if self._lock.tried_write:
                self._release()

    def _release(self) -> None:
        """Delete the Lease if it is still ours, so that a standby acquires it at once."""
        assert self._lock is not None
        api = self._lock.api_instance
        for _ in range(RELEASE_ATTEMPTS):
            try:
                lease = api.read_namespaced_lease(
                    self.name, self.namespace, _request_timeout=RELEASE_TIMEOUT_S
                )
                if (
                    lease.spec is None
                    or lease.metadata is None
                    or lease.spec.holder_identity != self.identity
                ):
                    return  # never held, or already taken over: nothing of ours to release
                # A compare-and-delete: a write by anyone since the read fails it with 409
                # instead of deleting a Lease that has moved on.
                preconditions = k8s.V1Preconditions(
                    resource_version=lease.metadata.resource_version, uid=lease.metadata.uid
                )
                api.delete_namespaced_lease(
                    self.name,
                    self.namespace,
                    body=k8s.V1DeleteOptions(preconditions=preconditions),
                    _request_timeout=RELEASE_TIMEOUT_S,
                )
                log.info("leadership released (%s)", self.identity)
                return
            except k8s_exceptions.ApiException as err:
                if err.status == 404:
                    return
                if err.status != 409:
                    log.warning("could not release the lease, it will expire: %s", err.reason)
                    return
            except Exception as err:  # API server unreachable: the lease expires on its own
                log.warning("could not release the lease, it will expire: %s", err)
                return

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
