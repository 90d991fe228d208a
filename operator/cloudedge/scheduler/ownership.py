"""Owners for the release's Leases, so that `helm uninstall` leaves none behind.

A Lease is created by whoever campaigns first: our elector (``scheduler/leader.py``) and, in the
extender modes, the chart's second kube-scheduler. Neither is a manifest of the release, so
`helm uninstall` does not delete them, and a stopping replica cannot delete its Lease either:
helm removes the Roles that allow it in the same breath as the pods. The Kubernetes garbage
collector removes an object whose owner is gone, so each Lease is given an ``ownerReference``
to the Deployment of the replicas that campaign for it: deleting the Deployment (uninstall)
deletes the Lease, and nothing else does.

Our own Lease carries the reference from its creation (:func:`owner_reference` is passed to
the elector); a Lease created by the upstream kube-scheduler, or by an older version of ours,
is adopted by a strategic-merge patch (merged by ``uid``: other owners are kept). Adoption is
retried until every Lease named is owned, then checked again now and then, because a handover
deletes and re-creates our Lease and kube-scheduler re-creates its own after a restart.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_exceptions

log = logging.getLogger(__name__)

RETRY_S = 5.0
"""Until every Lease is owned: a Lease not created yet, or an API server not answering."""
RECHECK_S = 60.0
"""Once every Lease is owned: a re-created Lease is adopted within this long."""


@dataclasses.dataclass(frozen=True)
class OwnedLease:
    """A Lease of the release and the Deployment whose replicas campaign for it."""

    lease: str
    deployment: str

    @classmethod
    def parse(cls, text: str) -> OwnedLease:
        """``LEASE`` (owned by the Deployment of the same name) or ``LEASE=DEPLOYMENT``."""
        lease, _, deployment = text.partition("=")
        lease, deployment = lease.strip(), deployment.strip() or lease.strip()
        if not lease or "/" in lease or "/" in deployment:
            raise ValueError(
                f"--owned-lease {text!r}: expected LEASE or LEASE=DEPLOYMENT, names without '/'"
            )
        return cls(lease=lease, deployment=deployment)


class LeaseOwnership:
    """Keeps an ownerReference to its Deployment on each Lease named, in one namespace."""

    def __init__(self, api: k8s.ApiClient, namespace: str, leases: Sequence[OwnedLease]) -> None:
        self.namespace = namespace
        self.leases = tuple(leases)
        self._apps = k8s.AppsV1Api(api)
        self._coordination = k8s.CoordinationV1Api(api)
        self._stop = threading.Event()
        self._forbidden: set[str] = set()

    def owner_reference(self, deployment: str) -> dict[str, Any] | None:
        """The reference to ``deployment``, or None when it cannot be read (outside a chart)."""
        try:
            obj = self._apps.read_namespaced_deployment(deployment, self.namespace)
        except k8s_exceptions.ApiException as err:
            self._report(f"deployment {deployment}", err)
            return None
        except Exception as err:  # API server unreachable: the next round tries again
            log.debug("cannot read deployment %s: %s", deployment, err)
            return None
        uid = obj.metadata.uid if obj.metadata is not None else None
        if not uid:
            return None
        # No blockOwnerDeletion: setting it needs rights on the Deployment's finalizers, and a
        # Lease has nothing to flush before its owner goes.
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment, "uid": uid}

    def adopt_once(self) -> bool:
        """Give every Lease that lacks it its owner; True when all of them are owned."""
        done = True
        for owned in self.leases:
            done = self._adopt(owned) and done
        return done

    def _adopt(self, owned: OwnedLease) -> bool:
        try:
            lease = self._coordination.read_namespaced_lease(owned.lease, self.namespace)
        except k8s_exceptions.ApiException as err:
            if err.status != 404:  # 404: nobody campaigned yet
                self._report(f"lease {owned.lease}", err)
            return False
        except Exception as err:
            log.debug("cannot read lease %s: %s", owned.lease, err)
            return False
        ref = self.owner_reference(owned.deployment)
        if ref is None:
            return False
        current = (lease.metadata.owner_references or []) if lease.metadata is not None else []
        if any(r.uid == ref["uid"] for r in current):
            return True
        try:
            self._coordination.patch_namespaced_lease(
                owned.lease,
                self.namespace,
                {"metadata": {"ownerReferences": [ref]}},
                _content_type="application/strategic-merge-patch+json",
            )
        except k8s_exceptions.ApiException as err:
            self._report(f"lease {owned.lease}", err)
            return False
        except Exception as err:
            log.debug("cannot patch lease %s: %s", owned.lease, err)
            return False
        log.info("lease %s is now owned by deployment %s", owned.lease, owned.deployment)
        return True

    def _report(self, what: str, err: k8s_exceptions.ApiException) -> None:
        """A 403 is a deployment without the chart's Role: said once, as a warning."""
        if err.status == 403:
            if what not in self._forbidden:
                self._forbidden.add(what)
                log.warning(
                    "may not read or patch %s (%s): it will outlive `helm uninstall`",
                    what,
                    err.reason,
                )
        else:
            log.debug("%s: %s %s", what, err.status, err.reason)

    def start(self) -> None:
        """Adopt in a daemon thread until :meth:`stop`."""
        if self.leases:
            threading.Thread(target=self._loop, name="lease-ownership", daemon=True).start()

    def stop(self) -> None:
        """Stop adopting (the thread ends at its next wake-up)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            done = self.adopt_once()
            self._stop.wait(RECHECK_S if done else RETRY_S)
