"""v1 Node objects become model nodes: cloudedge labels, defaults, capacity, readiness, taints."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cloudedge import errors
from cloudedge.inputs import parse_node
from cloudedge.model import types

GI = 2**30


def node(
    name: str = "n1",
    *,
    labels: dict[str, Any] | None = None,
    annotations: dict[str, Any] | None = None,
    allocatable: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A v1 Node as `kubectl get node -o yaml` shows it, with only what a test needs."""
    status: dict[str, Any] = {}
    if allocatable is None and capacity is None:
        allocatable = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    if allocatable is not None:
        status["allocatable"] = allocatable
    if capacity is not None:
        status["capacity"] = capacity
    if conditions is not None:
        status["conditions"] = conditions
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}},
        "spec": spec or {},
        "status": status,
    }


def assert_names_the_problem(
    err: errors.InputError, *, key: str, value: object, allowed: str
) -> None:
    """The message a user sees names the node, the key, the offending value and what is allowed."""
    message = str(err)
    assert err.key == key
    assert "Node n1" in message
    assert key in message
    # Long values are cut to 80 characters in the message; their start is always there.
    assert repr(value)[:60] in message
    assert allowed in message
    assert len(message) < 400


# Tier


@pytest.mark.parametrize(
    ("labels", "tier"),
    [
        pytest.param({"cloudedge.io/tier": "cloud"}, types.Tier.CLOUD, id="cloud"),
        pytest.param({"cloudedge.io/tier": "edge"}, types.Tier.EDGE, id="edge"),
        pytest.param({}, None, id="no-tier-label-is-not-a-candidate"),
        pytest.param({"tier": "cloud"}, None, id="unprefixed-tier-label-is-ignored"),
    ],
)
def test_node_tier_comes_from_the_tier_label(labels: dict[str, str], tier: types.Tier) -> None:
    assert parse_node(node(labels=labels)).tier is tier


# Bandwidth


def test_node_without_bandwidth_label_gets_one_gigabit() -> None:
    assert parse_node(node()).bandwidth_mbps == 1000.0


@pytest.mark.parametrize(
    ("raw", "mbps"),
    [
        pytest.param("100", 100.0, id="integer"),
        pytest.param("2.5", 2.5, id="fractional"),
        pytest.param("1e4", 10000.0, id="exponent"),
    ],
)
def test_node_bandwidth_comes_from_the_bandwidth_label(raw: str, mbps: float) -> None:
    parsed = parse_node(node(labels={"cloudedge.io/bandwidth-mbps": raw}))

    assert parsed.bandwidth_mbps == mbps


# Site


@pytest.mark.parametrize(
    ("labels", "site"),
    [
        pytest.param(
            {"cloudedge.io/site": "factory-3", "topology.kubernetes.io/zone": "zone-a"},
            "factory-3",
            id="site-label-wins-over-zone",
        ),
        pytest.param({"topology.kubernetes.io/zone": "zone-a"}, "zone-a", id="zone-when-no-site"),
        pytest.param({}, "n1", id="node-name-when-neither"),
    ],
)
def test_node_site_is_the_site_label_else_the_zone_else_the_node_name(
    labels: dict[str, str], site: str
) -> None:
    assert parse_node(node(labels=labels)).site == site


# Compute rate


@pytest.mark.parametrize(
    ("allocatable", "rate"),
    [
        pytest.param({"cpu": "4"}, 4000.0, id="four-cores"),
        pytest.param({"cpu": "3500m"}, 3500.0, id="millicores"),
        pytest.param({"cpu": 2}, 2000.0, id="yaml-int-cores"),
    ],
)
def test_node_compute_rate_defaults_to_allocatable_cpu_millicores(
    allocatable: dict[str, Any], rate: float
) -> None:
    assert parse_node(node(allocatable=allocatable)).compute_rate == rate


def test_node_compute_rate_comes_from_the_compute_rate_annotation() -> None:
    parsed = parse_node(node(annotations={"cloudedge.io/compute-rate": "1234.5"}))

    assert parsed.compute_rate == 1234.5


def test_compute_rate_given_as_a_label_is_not_read() -> None:
    # The contract makes compute-rate an annotation; a label of that name is just a label.
    parsed = parse_node(node(labels={"cloudedge.io/compute-rate": "7"}))

    assert parsed.compute_rate == 4000.0


# Capacity


def test_node_capacity_is_allocatable_cpu_memory_and_pods() -> None:
    parsed = parse_node(node(allocatable={"cpu": "3800m", "memory": "7Gi", "pods": "58"}))

    assert parsed.allocatable == {"cpu": 3800.0, "memory": 7 * GI, "pods": 58.0}


def test_node_allocatable_falls_back_to_capacity() -> None:
    parsed = parse_node(node(capacity={"cpu": "2", "memory": "4Gi", "pods": "20"}))

    assert parsed.allocatable == {"cpu": 2000.0, "memory": 4 * GI, "pods": 20.0}


def test_node_allocatable_is_preferred_over_capacity() -> None:
    parsed = parse_node(
        node(allocatable={"cpu": "3", "memory": "6Gi"}, capacity={"cpu": "4", "memory": "8Gi"})
    )

    assert (parsed.allocatable.cpu, parsed.allocatable.memory) == (3000.0, 6 * GI)


def test_every_resource_a_node_offers_is_a_named_amount() -> None:
    offered = {
        "cpu": "4",
        "memory": "8Gi",
        "pods": "110",
        "ephemeral-storage": "100Gi",
        "hugepages-2Mi": "1Gi",
        "nvidia.com/gpu": "2",
    }
    parsed = parse_node(node(allocatable=offered))

    assert parsed.allocatable == {
        "cpu": 4000.0,
        "memory": 8 * GI,
        "pods": 110.0,
        "ephemeral-storage": 100 * GI,
        "hugepages-2Mi": GI,
        "nvidia.com/gpu": 2.0,
    }


def test_a_bad_quantity_of_an_extended_resource_names_it() -> None:
    with pytest.raises(errors.InputError, match=r"status\.allocatable\.nvidia\.com/gpu"):
        parse_node(node(allocatable={"cpu": "1", "nvidia.com/gpu": "two"}))


def test_node_without_memory_and_pods_gets_no_memory_and_the_kubelet_default_pods() -> None:
    parsed = parse_node(node(allocatable={"cpu": "1"}))

    assert parsed.allocatable == {"cpu": 1000.0, "memory": 0.0, "pods": 110.0}


@pytest.mark.parametrize(
    ("allocatable", "capacity"),
    [
        pytest.param({"memory": "1Gi"}, None, id="allocatable-without-cpu"),
        pytest.param(None, {"memory": "1Gi"}, id="capacity-without-cpu"),
        pytest.param({}, {}, id="both-empty"),
    ],
)
def test_node_without_cpu_is_an_input_error(
    allocatable: dict[str, Any] | None, capacity: dict[str, Any] | None
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_node(node(allocatable=allocatable, capacity=capacity))

    assert caught.value.key == "status.allocatable.cpu"
    assert "a CPU quantity" in str(caught.value)


def test_node_without_any_status_is_an_input_error() -> None:
    obj = node()
    del obj["status"]

    with pytest.raises(errors.InputError, match=r"status\.allocatable\.cpu"):
        parse_node(obj)


@pytest.mark.parametrize(
    ("allocatable", "key", "value"),
    [
        pytest.param({"cpu": "abc"}, "status.allocatable.cpu", "abc", id="cpu-letters"),
        pytest.param({"cpu": "-1"}, "status.allocatable.cpu", "-1", id="cpu-negative"),
        pytest.param(
            {"cpu": "1", "memory": "lots"}, "status.allocatable.memory", "lots", id="memory-text"
        ),
        pytest.param({"cpu": "1", "pods": "-3"}, "status.allocatable.pods", "-3", id="pods-neg"),
    ],
)
def test_node_with_bad_allocatable_quantity_names_the_resource(
    allocatable: dict[str, Any], key: str, value: str
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_node(node(allocatable=allocatable))

    assert_names_the_problem(caught.value, key=key, value=value, allowed="a Kubernetes quantity")


def test_node_whose_cpu_overflows_a_float_is_an_input_error_not_a_crash() -> None:
    # 1e400 cores is a valid Decimal but an infinite float: the model's own ValueError must
    # not escape as if the scheduler were broken; the user gets the usual key/value message.
    with pytest.raises(errors.InputError):
        parse_node(node(allocatable={"cpu": "1e400"}))


def test_node_usage_is_passed_through() -> None:
    used = {"cpu": 500.0, "memory": GI, "pods": 3.0}
    assert parse_node(node(), used=used).used == used


def test_node_usage_defaults_to_zero() -> None:
    assert parse_node(node()).used == {}


# Readiness and schedulability


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        pytest.param(None, True, id="no-conditions-offline-yaml"),
        pytest.param([{"type": "Ready", "status": "True"}], True, id="ready-true"),
        pytest.param([{"type": "Ready", "status": "False"}], False, id="ready-false"),
        pytest.param([{"type": "Ready", "status": "Unknown"}], False, id="ready-unknown"),
        pytest.param(
            [{"type": "MemoryPressure", "status": "False"}], True, id="only-other-conditions"
        ),
        pytest.param(
            [{"type": "DiskPressure", "status": "True"}, {"type": "Ready", "status": "False"}],
            False,
            id="ready-false-after-another-condition",
        ),
    ],
)
def test_node_readiness_follows_the_ready_condition(
    conditions: list[dict[str, Any]] | None, ready: bool
) -> None:
    assert parse_node(node(conditions=conditions)).ready is ready


@pytest.mark.parametrize(
    ("spec", "schedulable"),
    [
        pytest.param({}, True, id="no-unschedulable-field"),
        pytest.param({"unschedulable": False}, True, id="unschedulable-false"),
        pytest.param({"unschedulable": True}, False, id="cordoned"),
    ],
)
def test_cordoned_node_is_not_schedulable(spec: dict[str, Any], schedulable: bool) -> None:
    assert parse_node(node(spec=spec)).schedulable is schedulable


# Taints and labels


def test_node_taints_are_parsed_with_key_value_and_effect() -> None:
    taints = [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
        {"key": "spot", "value": None, "effect": "PreferNoSchedule"},
    ]

    parsed = parse_node(node(spec={"taints": taints}))

    assert parsed.taints == (
        types.Taint(key="dedicated", value="gpu", effect="NoSchedule"),
        types.Taint(key="node.kubernetes.io/unreachable", value="", effect="NoExecute"),
        types.Taint(key="spot", value="", effect="PreferNoSchedule"),
    )


def test_node_without_taints_has_none() -> None:
    assert parse_node(node()).taints == ()


def test_node_taints_that_are_not_a_list_are_an_input_error() -> None:
    with pytest.raises(errors.InputError, match=r"spec\.taints"):
        parse_node(node(spec={"taints": {"key": "x"}}))


def test_node_labels_are_kept_for_selectors() -> None:
    labels = {"cloudedge.io/tier": "edge", "disktype": "ssd", "kubernetes.io/arch": "arm64"}

    assert parse_node(node(labels=labels)).labels == labels


def test_node_name_is_kept() -> None:
    assert parse_node(node("edge-7.example.com")).name == "edge-7.example.com"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Edge-1", id="uppercase"),
        pytest.param("edge_1", id="underscore"),
        pytest.param(7, id="yaml-int"),
    ],
)
def test_node_with_an_invalid_name_is_an_input_error(name: object) -> None:
    obj = node()
    obj["metadata"]["name"] = name

    with pytest.raises(errors.InputError) as caught:
        parse_node(obj)

    assert caught.value.key == "metadata.name"
    assert "a DNS subdomain" in str(caught.value)


def test_node_labels_that_are_not_a_mapping_are_an_input_error() -> None:
    obj = node()
    obj["metadata"]["labels"] = ["cloudedge.io/tier=edge"]

    with pytest.raises(errors.InputError, match=r"metadata\.labels"):
        parse_node(obj)


# Bad cloudedge labels and annotations: one case per key and kind of mistake.

TIER = "cloudedge.io/tier"
BANDWIDTH = "cloudedge.io/bandwidth-mbps"
SITE = "cloudedge.io/site"
RATE = "cloudedge.io/compute-rate"

TIER_ALLOWED = "one of cloud, edge"
POSITIVE_ALLOWED = "a finite number > 0"
DNS_ALLOWED = "a DNS label: lowercase letters, digits and '-'"


@pytest.mark.parametrize(
    ("where", "key", "value", "allowed"),
    [
        pytest.param("labels", TIER, "fog", TIER_ALLOWED, id="tier-unknown"),
        pytest.param("labels", TIER, "", TIER_ALLOWED, id="tier-empty"),
        pytest.param("labels", TIER, "Cloud", TIER_ALLOWED, id="tier-capitalised"),
        pytest.param("labels", BANDWIDTH, "0", POSITIVE_ALLOWED, id="bandwidth-zero"),
        pytest.param("labels", BANDWIDTH, "-100", POSITIVE_ALLOWED, id="bandwidth-negative"),
        pytest.param("labels", BANDWIDTH, "NaN", POSITIVE_ALLOWED, id="bandwidth-nan"),
        pytest.param("labels", BANDWIDTH, "inf", POSITIVE_ALLOWED, id="bandwidth-inf"),
        pytest.param("labels", BANDWIDTH, "abc", POSITIVE_ALLOWED, id="bandwidth-text"),
        pytest.param("labels", BANDWIDTH, "1e300", POSITIVE_ALLOWED, id="bandwidth-1e300"),
        pytest.param("labels", BANDWIDTH, "9" * 10240, POSITIVE_ALLOWED, id="bandwidth-10kB"),
        pytest.param("labels", BANDWIDTH, "", POSITIVE_ALLOWED, id="bandwidth-empty"),
        pytest.param("labels", SITE, "edge_a", DNS_ALLOWED, id="site-not-a-dns-label"),
        pytest.param("labels", SITE, "Edge-A", DNS_ALLOWED, id="site-uppercase"),
        pytest.param("labels", SITE, "a" * 64, DNS_ALLOWED, id="site-64-chars-too-long"),
        pytest.param("labels", SITE, "-edge", DNS_ALLOWED, id="site-leading-dash"),
        pytest.param("labels", SITE, "edge.a", DNS_ALLOWED, id="site-with-a-dot"),
        pytest.param("labels", SITE, "", DNS_ALLOWED, id="site-empty"),
        pytest.param("labels", SITE, "edge-a\n", DNS_ALLOWED, id="site-trailing-newline"),
        pytest.param("annotations", RATE, "0", POSITIVE_ALLOWED, id="compute-rate-zero"),
        pytest.param("annotations", RATE, "-5", POSITIVE_ALLOWED, id="compute-rate-negative"),
        pytest.param("annotations", RATE, "NaN", POSITIVE_ALLOWED, id="compute-rate-nan"),
        pytest.param("annotations", RATE, "fast", POSITIVE_ALLOWED, id="compute-rate-text"),
    ],
)
def test_bad_node_label_or_annotation_names_key_value_and_what_is_allowed(
    where: str, key: str, value: str, allowed: str
) -> None:
    obj = node(labels={key: value}) if where == "labels" else node(annotations={key: value})

    with pytest.raises(errors.InputError) as caught:
        parse_node(obj)

    assert_names_the_problem(caught.value, key=key, value=value, allowed=allowed)


def test_longest_valid_site_label_is_accepted() -> None:
    assert parse_node(node(labels={SITE: "a" * 63})).site == "a" * 63


@pytest.mark.parametrize(
    ("where", "key"),
    [
        pytest.param("labels", BANDWIDTH, id="bandwidth-label"),
        pytest.param("annotations", RATE, id="compute-rate-annotation"),
    ],
)
def test_unquoted_yaml_number_on_a_node_is_rejected_with_a_hint_to_quote_it(
    where: str, key: str
) -> None:
    # What `kubectl apply` would also refuse: label and annotation values are strings.
    metadata = yaml.safe_load(f"name: n1\n{where}:\n  {key}: 100\n")
    obj = node()
    obj["metadata"] = metadata

    with pytest.raises(errors.InputError) as caught:
        parse_node(obj)

    assert_names_the_problem(caught.value, key=key, value=100, allowed="quote numbers in YAML")
