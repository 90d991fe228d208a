"""``NetworkTopology`` (cloudedge.io/v1alpha1) -> :class:`cloudedge.model.Topology`.

The CRD schema rejects what a schema can (types, negative numbers, unknown fields); this
parser checks what it cannot: a link from a site to itself, the same pair given twice with
different numbers, a site declared with two tiers. ``unknown_sites`` finds links to sites
that neither a node nor the resource itself declares.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from cloudedge import errors
from cloudedge.inputs import objects, values
from cloudedge.model import types

API_VERSION = "cloudedge.io/v1alpha1"
KIND = "NetworkTopology"
DEFAULT_NAME = "default"
"""The topology the live scheduler prefers when several exist."""


def _number(
    raw: Mapping[str, Any], key: str, *, who: str, where: str, positive: bool
) -> float | None:
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    allowed = "a finite number > 0" if positive else "a finite number >= 0"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.TopologyError(who, f"{where}.{key}", value, allowed)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise errors.TopologyError(who, f"{where}.{key}", value, allowed)
    if number > values.MAX_NUMBER:
        raise errors.TopologyError(who, f"{where}.{key}", value, f"at most {values.MAX_NUMBER:g}")
    return number


def _site(value: Any, *, who: str, where: str) -> str:
    if not isinstance(value, str) or not values.DNS_SUBDOMAIN.match(value):
        raise errors.TopologyError(who, where, value, "a site name (DNS label) or node name")
    return value


def parse_topology(obj: Mapping[str, Any]) -> types.Topology:
    """Validate a NetworkTopology object and return the model's topology."""
    obj = {"kind": KIND, **obj}
    who = objects.describe(obj)
    objects.mapping(obj, "spec", "defaults")
    base = types.Topology()
    kwargs: dict[str, Any] = {}
    for field, attr_lat, attr_bw in (
        ("sameSite", "same_site_latency_ms", None),
        ("sameTier", "same_tier_latency_ms", "same_tier_bandwidth_mbps"),
        ("cloudEdge", "cloud_edge_latency_ms", "cloud_edge_bandwidth_mbps"),
    ):
        block = objects.mapping(obj, "spec", "defaults", field)
        where = f"spec.defaults.{field}"
        lat = _number(block, "latencyMs", who=who, where=where, positive=False)
        kwargs[attr_lat] = getattr(base, attr_lat) if lat is None else lat
        if attr_bw is not None:
            kwargs[attr_bw] = _number(block, "bandwidthMbps", who=who, where=where, positive=True)

    site_tiers: dict[str, types.Tier] = {}
    for k, entry in enumerate(objects.sequence(obj, "spec", "sites")):
        where = f"spec.sites[{k}]"
        if not isinstance(entry, Mapping):
            raise errors.TopologyError(who, where, entry, "{name, tier}")
        site = _site(entry.get("name"), who=who, where=where + ".name")
        raw_tier = entry.get("tier")
        if raw_tier not in {t.value for t in types.Tier}:
            raise errors.TopologyError(who, where + ".tier", raw_tier, "cloud or edge")
        tier = types.Tier(raw_tier)
        if site in site_tiers and site_tiers[site] is not tier:
            raise errors.TopologyError(
                who, where, site, f"one tier per site (already {site_tiers[site].value})"
            )
        site_tiers[site] = tier

    links: dict[frozenset[str], types.Link] = {}
    for k, entry in enumerate(objects.sequence(obj, "spec", "links")):
        where = f"spec.links[{k}]"
        if not isinstance(entry, Mapping):
            raise errors.TopologyError(who, where, entry, "{from, to, latencyMs, bandwidthMbps}")
        a = _site(entry.get("from"), who=who, where=where + ".from")
        b = _site(entry.get("to"), who=who, where=where + ".to")
        if a == b:
            raise errors.TopologyError(
                who, where, a, "two different sites (same-site latency is spec.defaults.sameSite)"
            )
        latency = _number(entry, "latencyMs", who=who, where=where, positive=False)
        if latency is None:
            raise errors.TopologyError(who, where + ".latencyMs", None, "a number >= 0")
        bandwidth = _number(entry, "bandwidthMbps", who=who, where=where, positive=True)
        link = types.Link(a=a, b=b, latency_ms=latency, bandwidth_mbps=bandwidth)
        pair = frozenset((a, b))
        previous = links.get(pair)
        if previous is not None and (previous.latency_ms, previous.bandwidth_mbps) != (
            latency,
            bandwidth,
        ):
            raise errors.TopologyError(
                who, where, f"{a}<->{b}", "links are symmetric: one entry per pair of sites"
            )
        links[pair] = link
    return types.Topology(links=tuple(links.values()), site_tiers=site_tiers, **kwargs)


def unknown_sites(topology: types.Topology, known: Iterable[str]) -> list[str]:
    """Sites named by links that no node and no ``spec.sites`` entry declares, sorted."""
    declared = set(known) | set(topology.site_tiers)
    named = {s for link in topology.links for s in (link.a, link.b)}
    return sorted(named - declared)
