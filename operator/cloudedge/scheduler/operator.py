"""kopf wiring: which pods kopf watches and what it does with them.

kopf watches only the pods this scheduler must place, filtered by the API server
(``spec.schedulerName=cloud-edge-scheduler,spec.nodeName=``): kopf's own handler filters run
client-side after every pod of the cluster has been sent. Only ``on.event`` is used: kopf's
create/update handlers store progress by patching every object they see, and a scheduler must
not write to pods it merely looks at. When a pod is bound it stops matching the selector and
the API server sends DELETED, which removes it from the queue.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from cloudedge import SCHEDULER_NAME
from cloudedge.scheduler import core

log = logging.getLogger(__name__)

PENDING_SELECTOR = f"spec.schedulerName={SCHEDULER_NAME},spec.nodeName="


def settings() -> kopf.OperatorSettings:
    """kopf settings: server-side selector, no peering (the Lease decides), quiet posting."""
    s = kopf.OperatorSettings()
    s.watching.field_selectors["", "v1", "pods"] = PENDING_SELECTOR
    s.peering.standalone = True
    # kopf lists CustomResourceDefinitions to notice new kinds; we watch one built-in kind and
    # our least-privilege role (rightly) cannot list CRDs.
    s.scanning.disabled = True
    s.posting.enabled = False  # our events are written by cluster.events, not by kopf
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.networking.request_timeout = 30
    return s


def registry(scheduler: core.Scheduler) -> kopf.OperatorRegistry:
    """Handlers feeding ``scheduler``'s queue from the pending-pod watch."""
    reg = kopf.OperatorRegistry()

    @kopf.on.login(registry=reg)
    def login(**kwargs: Any) -> Any:
        return kopf.login_with_kubeconfig(**kwargs) or kopf.login_with_service_account(**kwargs)

    @kopf.on.event("", "v1", "pods", registry=reg)  # type: ignore[arg-type]
    def pending_pod(event: dict[str, Any], body: Any, **_: Any) -> None:
        raw = event.get("object") or {}
        uid = str((raw.get("metadata") or {}).get("uid") or "")
        if event.get("type") == "DELETED":
            scheduler.pod_gone(uid, node=(raw.get("spec") or {}).get("nodeName") or None)
            return
        spec = raw.get("spec") or {}
        if spec.get("nodeName") or spec.get("schedulerName") != SCHEDULER_NAME:
            return  # never ours, whatever a misconfigured selector lets through
        if spec.get("schedulingGates"):
            # Not ready for scheduling: not queued and no events until the last gate is lifted,
            # as kube-scheduler's PreEnqueue (SchedulingGates plugin); lifting the gates is an
            # update, which queues the pod then.
            scheduler.pod_gone(uid)
            return
        scheduler.pod_pending(raw)

    return reg
