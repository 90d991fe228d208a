"""NetworkTopology resources become the model's topology, or a TopologyError naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from cloudedge import errors
from cloudedge.inputs import parse_topology
from cloudedge.inputs import topology as topology_inputs
from cloudedge.model import ClusterState, types


def network(spec: dict[str, Any] | None = None, *, name: str = "default") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cloudedge.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": name},
    }
    if spec is not None:
        obj["spec"] = spec
    return obj


def link(a: str, b: str, latency: object = 10, bandwidth: object = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"from": a, "to": b, "latencyMs": latency}
    if bandwidth is not None:
        entry["bandwidthMbps"] = bandwidth
    return entry


# Defaults


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(network(), id="no-spec"),
        pytest.param(network({}), id="empty-spec"),
        pytest.param(network({"defaults": {}, "sites": [], "links": []}), id="empty-sections"),
        pytest.param(network({"defaults": None, "links": None}), id="null-sections"),
    ],
)
def test_topology_without_settings_has_the_documented_defaults(obj: dict[str, Any]) -> None:
    parsed = parse_topology(obj)

    assert parsed == types.Topology()
    assert (parsed.same_site_latency_ms, parsed.same_tier_latency_ms) == (0.5, 5.0)
    assert parsed.cloud_edge_latency_ms == 40.0
    assert parsed.same_tier_bandwidth_mbps is None
    assert parsed.cloud_edge_bandwidth_mbps is None


def test_topology_defaults_are_read_from_spec_defaults() -> None:
    spec = {
        "defaults": {
            "sameSite": {"latencyMs": 0.2},
            "sameTier": {"latencyMs": 3, "bandwidthMbps": 500},
            "cloudEdge": {"latencyMs": 60, "bandwidthMbps": 100},
        }
    }

    parsed = parse_topology(network(spec))

    assert parsed.same_site_latency_ms == 0.2
    assert (parsed.same_tier_latency_ms, parsed.same_tier_bandwidth_mbps) == (3.0, 500.0)
    assert (parsed.cloud_edge_latency_ms, parsed.cloud_edge_bandwidth_mbps) == (60.0, 100.0)


def test_topology_partial_defaults_keep_the_others() -> None:
    parsed = parse_topology(network({"defaults": {"cloudEdge": {"latencyMs": 80}}}))

    assert parsed == types.Topology(cloud_edge_latency_ms=80.0)


def test_zero_latency_is_allowed() -> None:
    parsed = parse_topology(network({"defaults": {"sameSite": {"latencyMs": 0}}}))

    assert parsed.same_site_latency_ms == 0.0


# Sites and links


def test_topology_sites_declare_their_tier() -> None:
    spec = {"sites": [{"name": "camera-1", "tier": "edge"}, {"name": "dc-1", "tier": "cloud"}]}

    parsed = parse_topology(network(spec))

    assert parsed.site_tiers == {"camera-1": types.Tier.EDGE, "dc-1": types.Tier.CLOUD}


def test_the_same_site_declared_twice_with_the_same_tier_is_fine() -> None:
    spec = {"sites": [{"name": "dc-1", "tier": "cloud"}, {"name": "dc-1", "tier": "cloud"}]}

    assert parse_topology(network(spec)).site_tiers == {"dc-1": types.Tier.CLOUD}


def test_topology_links_carry_latency_and_optional_bandwidth() -> None:
    spec = {"links": [link("dc-1", "camera-1", 35, 200), link("dc-1", "dc-2", 2.5)]}

    parsed = parse_topology(network(spec))

    assert parsed.links == (
        types.Link(a="dc-1", b="camera-1", latency_ms=35.0, bandwidth_mbps=200.0),
        types.Link(a="dc-1", b="dc-2", latency_ms=2.5, bandwidth_mbps=None),
    )


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(link("dc-1", "camera-1", 35, 200), id="same-direction"),
        pytest.param(link("camera-1", "dc-1", 35, 200), id="reverse-direction"),
    ],
)
def test_the_same_link_given_twice_with_the_same_numbers_is_one_link(
    second: dict[str, Any],
) -> None:
    spec = {"links": [link("dc-1", "camera-1", 35, 200), second]}

    (only,) = parse_topology(network(spec)).links

    assert (only.latency_ms, only.bandwidth_mbps) == (35.0, 200.0)


def test_an_explicit_link_applies_in_both_directions() -> None:
    # One entry per pair: data flowing camera -> dc and dc -> camera sees the same link.
    topo = parse_topology(network({"links": [link("dc-1", "camera-1", 35, 200)]}))
    nodes = [
        types.Node(
            "cloud-1", types.Tier.CLOUD, "dc-1", 1000.0, 1000.0, {"cpu": 1000.0, "pods": 10.0}
        ),
        types.Node(
            "edge-1", types.Tier.EDGE, "camera-1", 1000.0, 1000.0, {"cpu": 1000.0, "pods": 10.0}
        ),
    ]
    state = ClusterState(nodes, topology=topo)

    from_camera = state.source_view("camera-1")
    from_dc = state.source_view("dc-1")

    assert from_camera.latency_s[0] == pytest.approx(0.035)
    assert from_dc.latency_s[1] == pytest.approx(0.035)
    assert from_camera.link_bw[0] == from_dc.link_bw[1] == 200.0


@pytest.mark.parametrize(
    ("spec", "known", "unknown"),
    [
        pytest.param({}, [], [], id="no-links"),
        pytest.param(
            {"links": [link("dc-1", "camera-1")]}, ["dc-1", "camera-1"], [], id="all-have-nodes"
        ),
        pytest.param(
            {"links": [link("dc-1", "camera-1"), link("dc-1", "ghost")]},
            ["dc-1"],
            ["camera-1", "ghost"],
            id="sorted-undeclared-endpoints",
        ),
        pytest.param(
            {"sites": [{"name": "camera-1", "tier": "edge"}], "links": [link("dc-1", "camera-1")]},
            ["dc-1"],
            [],
            id="declared-in-spec-sites",
        ),
        pytest.param(
            {"sites": [{"name": "lonely", "tier": "edge"}]}, [], [], id="site-without-link"
        ),
    ],
)
def test_unknown_sites_lists_link_endpoints_that_nothing_declares(
    spec: dict[str, Any], known: list[str], unknown: list[str]
) -> None:
    parsed = parse_topology(network(spec))

    assert topology_inputs.unknown_sites(parsed, known) == unknown


# Contradictions and bad values: one case per key and kind of mistake.

NON_NEGATIVE = "a finite number >= 0"
POSITIVE = "a finite number > 0"


@pytest.mark.parametrize(
    ("spec", "key", "allowed"),
    [
        pytest.param(
            {"links": [link("a", "b", -1)]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-negative-latency",
        ),
        pytest.param(
            {"links": [link("a", "b", "fast")]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-latency-text",
        ),
        pytest.param(
            {"links": [link("a", "b", "10")]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-latency-quoted-number",
        ),
        pytest.param(
            {"links": [link("a", "b", True)]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-latency-bool",
        ),
        pytest.param(
            {"links": [link("a", "b", float("nan"))]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-latency-nan",
        ),
        pytest.param(
            {"links": [link("a", "b", float("inf"))]},
            "spec.links[0].latencyMs",
            NON_NEGATIVE,
            id="link-latency-inf",
        ),
        pytest.param(
            {"links": [link("a", "b", 1e300)]},
            "spec.links[0].latencyMs",
            "at most 1e+15",
            id="link-latency-huge",
        ),
        pytest.param(
            {"links": [{"from": "a", "to": "b"}]},
            "spec.links[0].latencyMs",
            "a number >= 0",
            id="link-without-latency",
        ),
        pytest.param(
            {"links": [link("a", "b", 1, 0)]},
            "spec.links[0].bandwidthMbps",
            POSITIVE,
            id="link-zero-bandwidth",
        ),
        pytest.param(
            {"links": [link("a", "b", 1, -10)]},
            "spec.links[0].bandwidthMbps",
            POSITIVE,
            id="link-negative-bandwidth",
        ),
        pytest.param(
            {"links": [link("a", "b", 1, "1Gbps")]},
            "spec.links[0].bandwidthMbps",
            POSITIVE,
            id="link-bandwidth-text",
        ),
        pytest.param(
            {"links": [link("a", "b"), link("b", "c"), link("c", "c")]},
            "spec.links[2]",
            "two different sites",
            id="link-from-a-site-to-itself",
        ),
        pytest.param(
            {"links": [link("a", "b", 10), link("a", "b", 20)]},
            "spec.links[1]",
            "links are symmetric: one entry per pair of sites",
            id="same-pair-twice-different-latency",
        ),
        pytest.param(
            {"links": [link("a", "b", 10, 100), link("b", "a", 10, 200)]},
            "spec.links[1]",
            "links are symmetric: one entry per pair of sites",
            id="reverse-pair-different-bandwidth",
        ),
        pytest.param(
            {"links": [link("Site A", "b")]},
            "spec.links[0].from",
            "a site name",
            id="link-from-not-a-dns-name",
        ),
        pytest.param(
            {"links": [{"from": "a", "latencyMs": 1}]},
            "spec.links[0].to",
            "a site name",
            id="link-without-to",
        ),
        pytest.param(
            {"links": ["a<->b"]},
            "spec.links[0]",
            "{from, to, latencyMs, bandwidthMbps}",
            id="link-not-a-mapping",
        ),
        pytest.param(
            {"sites": [{"name": "dc-1", "tier": "cloud"}, {"name": "dc-1", "tier": "edge"}]},
            "spec.sites[1]",
            "one tier per site (already cloud)",
            id="site-with-two-tiers",
        ),
        pytest.param(
            {"sites": [{"name": "Camera_1", "tier": "edge"}]},
            "spec.sites[0].name",
            "a site name",
            id="site-name-not-a-dns-name",
        ),
        pytest.param(
            {"sites": ["camera-1"]}, "spec.sites[0]", "{name, tier}", id="site-not-a-mapping"
        ),
        pytest.param(
            {"sites": [{"name": "camera-1", "tier": "fog"}]},
            "spec.sites[0].tier",
            "cloud",
            id="site-unknown-tier",
        ),
        pytest.param(
            {"sites": [{"name": "camera-1"}]},
            "spec.sites[0].tier",
            "cloud",
            id="site-without-tier",
        ),
        pytest.param(
            {"defaults": {"sameSite": {"latencyMs": -0.5}}},
            "spec.defaults.sameSite.latencyMs",
            NON_NEGATIVE,
            id="default-same-site-negative-latency",
        ),
        pytest.param(
            {"defaults": {"sameTier": {"latencyMs": "5ms"}}},
            "spec.defaults.sameTier.latencyMs",
            NON_NEGATIVE,
            id="default-same-tier-latency-text",
        ),
        pytest.param(
            {"defaults": {"sameTier": {"bandwidthMbps": 0}}},
            "spec.defaults.sameTier.bandwidthMbps",
            POSITIVE,
            id="default-same-tier-zero-bandwidth",
        ),
        pytest.param(
            {"defaults": {"cloudEdge": {"bandwidthMbps": -1}}},
            "spec.defaults.cloudEdge.bandwidthMbps",
            POSITIVE,
            id="default-cloud-edge-negative-bandwidth",
        ),
    ],
)
def test_inconsistent_or_bad_topology_is_a_topology_error_naming_the_key(
    spec: dict[str, Any], key: str, allowed: str
) -> None:
    with pytest.raises(errors.TopologyError) as caught:
        parse_topology(network(spec))

    err = caught.value
    assert err.key == key
    message = str(err)
    assert message.startswith("NetworkTopology default: ")
    assert key in message
    assert allowed in message


def test_a_topology_error_is_an_input_error() -> None:
    with pytest.raises(errors.InputError):
        parse_topology(network({"links": [link("a", "a")]}))


def test_contradicting_links_name_the_pair_of_sites() -> None:
    spec = {"links": [link("dc-1", "camera-1", 10), link("camera-1", "dc-1", 99)]}

    with pytest.raises(errors.TopologyError, match="camera-1<->dc-1"):
        parse_topology(network(spec))


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        pytest.param({"links": {"from": "a", "to": "b"}}, "spec.links", id="links-not-a-list"),
        pytest.param({"sites": "camera-1"}, "spec.sites", id="sites-not-a-list"),
        pytest.param({"defaults": "fast"}, "spec.defaults", id="defaults-not-a-mapping"),
        pytest.param(
            {"defaults": {"sameSite": 5}}, "spec.defaults.sameSite", id="default-not-a-mapping"
        ),
        pytest.param("everything", "spec", id="spec-not-a-mapping"),
    ],
)
def test_topology_section_of_the_wrong_shape_names_the_resource_and_the_full_key(
    spec: Any, key: str
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_topology(network(spec))

    assert caught.value.key == key
    assert str(caught.value).startswith("NetworkTopology default: " + key + "=")
