"""kopf wiring: the NetworkTopology custom resource's own status.

Pods are not kopf's: one reflector watches them for the view and the queue together
(:mod:`cloudedge.scheduler.stream`), because kopf's watch could not say which pods were
deleted while it was down, and measured slower on the same stream (docs/benchmarks.md, pod
stream). What kopf does well is operate on a custom resource: it writes ``status.sites`` of
every NetworkTopology, the count its ``kubectl get networktopologies -o wide`` column shows,
through the status subresource, only when the count changed (a status write is itself an
event, which must not cause another write).

Only ``on.event`` is used: kopf's create/update handlers keep their progress in annotations,
and the scheduler's role must not update the objects it reads.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from cloudedge import errors, inputs

log = logging.getLogger(__name__)

TOPOLOGY = ("cloudedge.io", "v1alpha1", "networktopologies")


def settings() -> kopf.OperatorSettings:
    """kopf settings: no peering (the Lease decides), no CRD scanning, quiet posting."""
    s = kopf.OperatorSettings()
    s.peering.standalone = True
    # kopf lists CustomResourceDefinitions to notice new kinds; we handle one kind, which it
    # discovers through its API group, and our least-privilege role cannot list CRDs.
    s.scanning.disabled = True
    s.posting.enabled = False  # our events are written by cluster.events, not by kopf
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.networking.request_timeout = 30
    return s


def sites(body: Any) -> int | None:
    """How many sites a NetworkTopology names (``spec.sites`` and both ends of every link);
    None when the scheduler refuses it (its InvalidTopology event says why)."""
    try:
        topology = inputs.parse_topology(body)
    except errors.InputError:
        return None
    named = set(topology.site_tiers) | {s for link in topology.links for s in (link.a, link.b)}
    return len(named)


def registry() -> kopf.OperatorRegistry:
    """The handlers: NetworkTopology ``status.sites``."""
    reg = kopf.OperatorRegistry()

    @kopf.on.login(registry=reg)
    def login(**kwargs: Any) -> Any:
        return kopf.login_with_kubeconfig(**kwargs) or kopf.login_with_service_account(**kwargs)

    @kopf.on.event(*TOPOLOGY, registry=reg)  # type: ignore[arg-type]
    def topology_status(event: dict[str, Any], body: Any, patch: Any, **_: Any) -> None:
        if event.get("type") == "DELETED":
            return
        count = sites(body)
        if count is not None and (body.get("status") or {}).get("sites") != count:
            patch.status["sites"] = count

    return reg
