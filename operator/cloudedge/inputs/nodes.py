"""v1 Node -> :class:`cloudedge.model.Node`.

A node without ``cloudedge.io/tier`` is kept with ``tier=None`` so its failure is counted in
"0/N nodes are available"; a node with a malformed cloudedge label raises, and the caller
decides (the live view marks it unusable and emits an event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudedge import errors
from cloudedge.inputs import keys, objects, quantity, values
from cloudedge.model import types


def parse_node(obj: Mapping[str, Any], *, used: Mapping[str, float] | None = None) -> types.Node:
    """Build the model's view of a Node object (a dict as the API or YAML gives it)."""
    obj = {"kind": "Node", **obj}
    who = objects.describe(obj)
    meta = objects.mapping(obj, "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not values.DNS_SUBDOMAIN.match(name):
        raise errors.InputError(who, "metadata.name", name, "a DNS subdomain")
    labels = objects.string_map(obj, "metadata", "labels")
    annotations = objects.string_map(obj, "metadata", "annotations")

    tier = values.choice(labels, keys.NODE_TIER, types.Tier, obj=who)
    bandwidth = values.number(
        labels, keys.NODE_BANDWIDTH, obj=who, exclusive=True, default=keys.DEFAULT_BANDWIDTH_MBPS
    )
    site = values.name(labels, keys.NODE_SITE, obj=who, pattern=values.DNS_LABEL)
    site = site or labels.get(keys.ZONE_LABEL) or name

    status = objects.mapping(obj, "status")
    alloc = objects.mapping(obj, "status", "allocatable") or objects.mapping(
        obj, "status", "capacity"
    )
    if "cpu" not in alloc:
        raise errors.InputError(
            who, "status.allocatable.cpu", None, "a CPU quantity (allocatable or capacity)"
        )
    # Every resource the node offers is an axis (cpu, memory, pods, ephemeral-storage,
    # hugepages-*, extended resources such as nvidia.com/gpu): a pod requesting one a node
    # lacks is "Insufficient <name>" there, as in NodeResourcesFit.
    amounts = {
        str(name): quantity.amount(str(name), raw, obj=who, key=f"status.allocatable.{name}")
        for name, raw in alloc.items()
    }
    cpu = amounts["cpu"]
    amounts.setdefault("memory", 0.0)
    if "pods" not in amounts:
        amounts["pods"] = keys.DEFAULT_PODS
    rate = values.number(
        annotations, keys.NODE_COMPUTE_RATE, obj=who, exclusive=True, default=max(cpu, 1.0)
    )

    spec = objects.mapping(obj, "spec")
    taints = tuple(
        types.Taint(
            key=str(t.get("key", "")),
            value=str(t.get("value", "") or ""),
            effect=str(t.get("effect", "")),
        )
        for t in objects.sequence(obj, "spec", "taints")
        if isinstance(t, Mapping)
    )
    return types.Node(
        name=name,
        tier=tier,
        site=site,
        bandwidth_mbps=float(bandwidth or keys.DEFAULT_BANDWIDTH_MBPS),
        compute_rate=float(rate or 1.0),
        allocatable=types.ResourceList(amounts),
        used=types.resource_list(used or {}),
        ready=_ready(status),
        schedulable=not bool(spec.get("unschedulable", False)),
        labels=labels,
        taints=taints,
    )


def _ready(status: Mapping[str, Any]) -> bool:
    """The Ready condition; a Node document without conditions (offline YAML) counts as Ready."""
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return True
    for cond in conditions:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return True
