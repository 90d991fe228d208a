"""v1 Pod objects become model pods: requests, cloudedge annotations and node constraints."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cloudedge import errors
from cloudedge.inputs import has_cloudedge_annotations, parse_pod
from cloudedge.inputs.pods import parse_placed
from cloudedge.model import types

MI = 2**20
GI = 2**30


def pod(
    name: str = "web",
    *,
    namespace: str | None = "shop",
    annotations: dict[str, Any] | None = None,
    containers: list[Any] | None = None,
    init_containers: list[Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A v1 Pod with one request-less container unless the test says otherwise."""
    metadata: dict[str, Any] = {"name": name, "annotations": annotations or {}}
    if namespace is not None:
        metadata["namespace"] = namespace
    body: dict[str, Any] = {"containers": containers if containers is not None else [{}]}
    if init_containers is not None:
        body["initContainers"] = init_containers
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def container(
    requests: dict[str, Any] | None = None, limits: dict[str, Any] | None = None
) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "image": "busybox", "resources": resources}


def assert_names_the_problem(
    err: errors.InputError, *, key: str, value: object, allowed: str
) -> None:
    """The message a user sees names the pod, the key, the offending value and what is allowed."""
    message = str(err)
    assert err.key == key
    assert "Pod shop/web" in message
    assert key in message
    # Long values are cut to 80 characters in the message; their start is always there.
    assert repr(value)[:60] in message
    assert allowed in message
    assert len(message) < 400


# Requests


@pytest.mark.parametrize(
    ("spec", "requests"),
    [
        pytest.param({"containers": [{}]}, {"pods": 1.0}, id="no-resources-is-one-pod-only"),
        pytest.param({"containers": []}, {"pods": 1.0}, id="no-containers"),
        pytest.param(
            {"containers": [container({"cpu": "500m", "memory": "256Mi"})]},
            {"cpu": 500.0, "memory": 256 * MI, "pods": 1.0},
            id="one-container",
        ),
        pytest.param(
            {
                "containers": [
                    container({"cpu": "500m", "memory": "256Mi"}),
                    container({"cpu": "250m", "memory": "128Mi"}),
                ]
            },
            {"cpu": 750.0, "memory": 384 * MI, "pods": 1.0},
            id="containers-are-summed",
        ),
        pytest.param(
            {"containers": [container(limits={"cpu": "1", "memory": "1Gi"})]},
            {"cpu": 1000.0, "memory": GI, "pods": 1.0},
            id="limits-when-requests-are-absent",
        ),
        pytest.param(
            {"containers": [container({"cpu": "200m"}, limits={"cpu": "1", "memory": "1Gi"})]},
            {"cpu": 200.0, "memory": GI, "pods": 1.0},
            id="limits-fill-only-the-missing-resource",
        ),
        pytest.param(
            {
                "containers": [container({"cpu": "500m", "memory": "256Mi"})],
                "initContainers": [container({"cpu": "2", "memory": "64Mi"})],
            },
            {"cpu": 2000.0, "memory": 256 * MI, "pods": 1.0},
            id="larger-init-container-wins-per-resource",
        ),
        pytest.param(
            {
                "containers": [container({"cpu": "500m", "memory": "256Mi"})],
                "initContainers": [
                    container({"cpu": "100m", "memory": "1Gi"}),
                    container({"cpu": "300m", "memory": "2Gi"}),
                ],
            },
            {"cpu": 500.0, "memory": 2 * GI, "pods": 1.0},
            id="init-containers-are-a-max-not-a-sum",
        ),
        pytest.param(
            {
                "containers": [container({"cpu": "500m", "memory": "256Mi"})],
                "initContainers": [container({"cpu": "2"})],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            },
            {"cpu": 2250.0, "memory": 376 * MI, "pods": 1.0},
            id="overhead-is-added-after-the-init-max",
        ),
        pytest.param(
            {"containers": [container({"cpu": 1, "memory": 1024})]},
            {"cpu": 1000.0, "memory": 1024.0, "pods": 1.0},
            id="yaml-number-quantities",
        ),
        pytest.param(
            {
                "containers": [container({"cpu": "500m", "memory": "256Mi"})],
                "initContainers": [
                    {**container({"cpu": "200m", "memory": "64Mi"}), "restartPolicy": "Always"},
                    container({"cpu": "600m", "memory": "32Mi"}),
                ],
            },
            # The sidecar runs beside the containers (700m, 320Mi); the init container after
            # it needs its own plus the sidecar's (800m, 96Mi): the pod needs the larger.
            {"cpu": 800.0, "memory": 320 * MI, "pods": 1.0},
            id="native-sidecars-add-to-the-containers-and-to-later-init-containers",
        ),
        pytest.param(
            {
                "containers": [
                    container({"cpu": "1", "ephemeral-storage": "1Gi"}, {"nvidia.com/gpu": "1"}),
                    container({"hugepages-2Mi": "4Mi", "nvidia.com/gpu": "2"}),
                ],
            },
            {
                "cpu": 1000.0,
                "ephemeral-storage": GI,
                "nvidia.com/gpu": 3.0,
                "hugepages-2Mi": 4 * MI,
                "pods": 1.0,
            },
            id="every-named-resource-is-summed-limits-standing-in-for-requests",
        ),
        pytest.param(
            {
                "containers": [container({"cpu": "100m", "memory": "64Mi"})],
                "resources": {"requests": {"cpu": "2", "memory": "1Gi"}},
                "overhead": {"cpu": "100m", "ephemeral-storage": "1Mi"},
            },
            {"cpu": 2100.0, "memory": GI, "ephemeral-storage": MI, "pods": 1.0},
            id="pod-level-resources-replace-the-sum-and-overhead-adds",
        ),
    ],
)
def test_pod_requests_follow_the_kubernetes_rules(
    spec: dict[str, Any], requests: dict[str, float]
) -> None:
    obj = pod()
    obj["spec"] = spec

    parsed = parse_pod(obj).requests
    assert {name: parsed.amount(name) for name in parsed.positive()} == pytest.approx(
        {name: value for name, value in requests.items() if value}
    )


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        pytest.param(
            {"containers": [container(), container({"cpu": "lots"})]},
            "spec.containers[1].resources.requests.cpu",
            id="second-container-cpu",
        ),
        pytest.param(
            {"containers": [container({"memory": "-1Gi"})]},
            "spec.containers[0].resources.requests.memory",
            id="negative-memory",
        ),
        pytest.param(
            {"containers": [container(limits={"cpu": "x"})]},
            "spec.containers[0].resources.requests.cpu",
            id="bad-limit-used-as-request",
        ),
        pytest.param(
            {"containers": [], "initContainers": [container({"cpu": "1.5.3"})]},
            "spec.initContainers[0].resources.requests.cpu",
            id="init-container-cpu",
        ),
        pytest.param(
            {"containers": [], "overhead": {"cpu": "abc"}}, "spec.overhead.cpu", id="overhead-cpu"
        ),
        pytest.param(
            {"containers": [], "overhead": {"memory": "abc"}},
            "spec.overhead.memory",
            id="overhead-memory",
        ),
        pytest.param({"containers": ["busybox"]}, "spec.containers[0]", id="container-not-a-map"),
        pytest.param({"containers": {"name": "c"}}, "spec.containers", id="containers-not-a-list"),
        pytest.param(
            {"containers": [{"resources": ["cpu"]}]},
            "spec.containers[0].resources",
            id="resources-not-a-map",
        ),
        pytest.param(
            {"containers": [{"resources": {"requests": ["cpu"]}}]},
            "spec.containers[0].resources",
            id="requests-not-a-map",
        ),
    ],
)
def test_pod_with_bad_resources_names_the_container_and_resource(
    spec: dict[str, Any], key: str
) -> None:
    obj = pod()
    obj["spec"] = spec

    with pytest.raises(errors.InputError) as caught:
        parse_pod(obj)

    assert caught.value.key == key
    assert key in str(caught.value)
    assert "Pod shop/web" in str(caught.value)


# Identity


def test_pod_name_namespace_and_uid_are_kept() -> None:
    obj = pod()
    obj["metadata"]["uid"] = "0b5c-42"

    parsed = parse_pod(obj)

    assert (parsed.name, parsed.namespace, parsed.uid, parsed.key) == (
        "web",
        "shop",
        "0b5c-42",
        "shop/web",
    )


def test_pod_without_namespace_is_in_the_default_namespace() -> None:
    assert parse_pod(pod(namespace=None)).namespace == "default"


def test_pod_without_name_uses_its_generate_name() -> None:
    obj = pod()
    obj["metadata"]["name"] = None
    obj["metadata"]["generateName"] = "web-"

    assert parse_pod(obj).name == "web-"


def test_pod_without_any_name_is_an_input_error() -> None:
    obj = pod()
    del obj["metadata"]["name"]

    with pytest.raises(errors.InputError, match=r"metadata\.name"):
        parse_pod(obj)


# Annotations


def test_pod_without_annotations_gets_the_documented_defaults() -> None:
    parsed = parse_pod(pod())

    assert parsed.workload is types.Workload.BATCH
    assert parsed.compute_cost == 0.0
    assert parsed.data_source is None
    assert parsed.data_size_mb == 0.0
    assert parsed.max_latency_ms is None
    assert parsed.tier is None
    assert parsed.annotated is False


@pytest.mark.parametrize(
    "workload",
    [pytest.param(w, id=w.value) for w in types.Workload],
)
def test_pod_workload_annotation_selects_the_workload(workload: types.Workload) -> None:
    parsed = parse_pod(pod(annotations={"cloudedge.io/workload": workload.value}))

    assert parsed.workload is workload


def test_pod_cloudedge_annotations_are_all_read() -> None:
    annotations = {
        "cloudedge.io/workload": "data-intensive",
        "cloudedge.io/compute-cost": "2500",
        "cloudedge.io/data-source": "camera-site-1",
        "cloudedge.io/data-size-mb": "12.5",
        "cloudedge.io/max-latency-ms": "150",
        "cloudedge.io/tier": "edge",
    }

    parsed = parse_pod(pod(annotations=annotations))

    assert parsed.workload is types.Workload.DATA_INTENSIVE
    assert parsed.compute_cost == 2500.0
    assert parsed.data_source == "camera-site-1"
    assert parsed.data_size_mb == 12.5
    assert parsed.max_latency_ms == 150.0
    assert parsed.tier is types.Tier.EDGE
    assert parsed.annotated is True


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        pytest.param("cloudedge.io/compute-cost", "0", "compute_cost", 0.0, id="zero-cost"),
        pytest.param("cloudedge.io/data-size-mb", "0", "data_size_mb", 0.0, id="zero-data"),
        pytest.param(
            "cloudedge.io/data-source",
            "edge-1.example.com",
            "data_source",
            "edge-1.example.com",
            id="data-source-dotted-node-name",
        ),
        pytest.param(
            "cloudedge.io/max-latency-ms", "0.5", "max_latency_ms", 0.5, id="sub-ms-deadline"
        ),
        pytest.param("cloudedge.io/compute-cost", " 7 ", "compute_cost", 7.0, id="padded-number"),
    ],
)
def test_pod_annotation_edge_values_are_accepted(
    key: str, value: str, field: str, expected: object
) -> None:
    assert getattr(parse_pod(pod(annotations={key: value})), field) == expected


@pytest.mark.parametrize(
    ("annotations", "annotated"),
    [
        pytest.param({}, False, id="no-annotations"),
        pytest.param({"team": "shop", "prometheus.io/scrape": "true"}, False, id="foreign-only"),
        pytest.param({"cloudedge.io/workload": "batch"}, True, id="workload"),
        pytest.param({"cloudedge.io/tier": "cloud"}, True, id="tier"),
        pytest.param({"cloudedge.io/future-key": "x"}, True, id="unknown-cloudedge-key"),
    ],
)
def test_pod_is_annotated_only_with_a_cloudedge_annotation(
    annotations: dict[str, str], annotated: bool
) -> None:
    obj = pod(annotations=annotations)

    assert parse_pod(obj).annotated is annotated
    assert has_cloudedge_annotations(obj) is annotated


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({}, False, id="empty-object"),
        pytest.param({"metadata": {}}, False, id="no-annotations"),
        pytest.param({"metadata": {"annotations": None}}, False, id="null-annotations"),
        pytest.param(
            {"metadata": {"annotations": {"cloudedge.io/data-size-mb": 5}}},
            True,
            id="unquoted-value-still-counts",
        ),
        pytest.param(
            {"metadata": {"annotations": {"example.com/cloudedge.io": "x"}}},
            False,
            id="prefix-must-be-at-the-start",
        ),
    ],
)
def test_has_cloudedge_annotations_looks_only_at_annotation_keys(
    obj: dict[str, Any], expected: bool
) -> None:
    assert has_cloudedge_annotations(obj) is expected


# Bad annotations: one case per key and kind of mistake.

WORKLOAD = "cloudedge.io/workload"
COST = "cloudedge.io/compute-cost"
SOURCE = "cloudedge.io/data-source"
SIZE = "cloudedge.io/data-size-mb"
LATENCY = "cloudedge.io/max-latency-ms"
TIER = "cloudedge.io/tier"

WORKLOAD_ALLOWED = "one of latency-sensitive, compute-intensive, data-intensive, batch"
NON_NEGATIVE = "a finite number >= 0"
POSITIVE = "a finite number > 0"
NODE_OR_SITE = "a node name or DNS label"
TIER_ALLOWED = "one of cloud, edge"


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        pytest.param(WORKLOAD, "realtime", WORKLOAD_ALLOWED, id="workload-unknown"),
        pytest.param(WORKLOAD, "", WORKLOAD_ALLOWED, id="workload-empty"),
        pytest.param(WORKLOAD, "Batch", WORKLOAD_ALLOWED, id="workload-capitalised"),
        pytest.param(COST, "-1", NON_NEGATIVE, id="compute-cost-negative"),
        pytest.param(COST, "NaN", NON_NEGATIVE, id="compute-cost-nan"),
        pytest.param(COST, "inf", NON_NEGATIVE, id="compute-cost-inf"),
        pytest.param(COST, "ten", NON_NEGATIVE, id="compute-cost-text"),
        pytest.param(COST, "1e300", NON_NEGATIVE, id="compute-cost-huge"),
        pytest.param(COST, "", NON_NEGATIVE, id="compute-cost-empty"),
        pytest.param(SOURCE, "Camera_1", NODE_OR_SITE, id="data-source-not-a-dns-name"),
        pytest.param(SOURCE, "", NODE_OR_SITE, id="data-source-empty"),
        pytest.param(SOURCE, "a" * 10240, NODE_OR_SITE, id="data-source-10kB"),
        pytest.param(SOURCE, "edge-1\n", NODE_OR_SITE, id="data-source-trailing-newline"),
        pytest.param(SIZE, "-1", NON_NEGATIVE, id="data-size-negative"),
        pytest.param(SIZE, "NaN", NON_NEGATIVE, id="data-size-nan"),
        pytest.param(SIZE, "12MB", NON_NEGATIVE, id="data-size-with-unit"),
        pytest.param(LATENCY, "0", POSITIVE, id="max-latency-zero"),
        pytest.param(LATENCY, "-5", POSITIVE, id="max-latency-negative"),
        pytest.param(LATENCY, "NaN", POSITIVE, id="max-latency-nan"),
        pytest.param(LATENCY, "inf", POSITIVE, id="max-latency-inf"),
        pytest.param(LATENCY, "100ms", POSITIVE, id="max-latency-with-unit"),
        pytest.param(TIER, "fog", TIER_ALLOWED, id="tier-unknown"),
        pytest.param(TIER, "", TIER_ALLOWED, id="tier-empty"),
    ],
)
def test_bad_pod_annotation_names_key_value_and_what_is_allowed(
    key: str, value: str, allowed: str
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_pod(pod(annotations={key: value}))

    assert_names_the_problem(caught.value, key=key, value=value, allowed=allowed)


@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        pytest.param(COST, "100", 100, id="compute-cost-int"),
        pytest.param(SIZE, "2.5", 2.5, id="data-size-float"),
        pytest.param(LATENCY, "50", 50, id="max-latency-int"),
        pytest.param(WORKLOAD, "null", None, id="workload-null"),
        pytest.param(TIER, "true", True, id="tier-yaml-bool"),
    ],
)
def test_unquoted_yaml_annotation_is_rejected_with_a_hint_to_quote_it(
    key: str, raw: str, value: object
) -> None:
    obj = pod()
    obj["metadata"]["annotations"] = yaml.safe_load(f"{key}: {raw}")

    with pytest.raises(errors.InputError) as caught:
        parse_pod(obj)

    assert_names_the_problem(caught.value, key=key, value=value, allowed="quote numbers in YAML")


# Node selector, required node affinity, tolerations


def test_pod_node_selector_is_kept() -> None:
    selector = {"disktype": "ssd", "kubernetes.io/arch": "arm64"}

    assert parse_pod(pod(nodeSelector=selector)).node_selector == selector


def test_pod_node_selector_with_unquoted_number_is_rejected() -> None:
    with pytest.raises(errors.InputError, match="quote numbers in YAML"):
        parse_pod(pod(nodeSelector={"gpus": 2}))


def required_affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
        }
    }


NODE_LABELS = {"disktype": "ssd", "gpus": "4", "cloudedge.io/tier": "edge"}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        pytest.param(
            {"key": "disktype", "operator": "In", "values": ["ssd", "nvme"]}, True, id="in-matches"
        ),
        pytest.param(
            {"key": "disktype", "operator": "In", "values": ["hdd"]}, False, id="in-other-value"
        ),
        pytest.param(
            {"key": "zone", "operator": "In", "values": ["a"]}, False, id="in-missing-label"
        ),
        pytest.param(
            {"key": "disktype", "operator": "NotIn", "values": ["hdd"]},
            True,
            id="notin-other-value",
        ),
        pytest.param(
            {"key": "disktype", "operator": "NotIn", "values": ["ssd"]},
            False,
            id="notin-same-value",
        ),
        pytest.param(
            {"key": "zone", "operator": "NotIn", "values": ["a"]}, True, id="notin-missing-label"
        ),
        pytest.param({"key": "gpus", "operator": "Exists"}, True, id="exists"),
        pytest.param({"key": "zone", "operator": "Exists"}, False, id="exists-missing"),
        pytest.param({"key": "zone", "operator": "DoesNotExist"}, True, id="does-not-exist"),
        pytest.param(
            {"key": "gpus", "operator": "DoesNotExist"}, False, id="does-not-exist-present"
        ),
        pytest.param({"key": "gpus", "operator": "Gt", "values": ["2"]}, True, id="gt"),
        pytest.param(
            {"key": "gpus", "operator": "Gt", "values": [4]}, False, id="gt-equal-yaml-int"
        ),
        pytest.param({"key": "gpus", "operator": "Lt", "values": ["8"]}, True, id="lt"),
        pytest.param({"key": "gpus", "operator": "Lt", "values": ["3"]}, False, id="lt-bigger"),
    ],
)
def test_required_node_affinity_expressions_are_parsed_and_evaluated(
    expression: dict[str, Any], matches: bool
) -> None:
    obj = pod(affinity=required_affinity({"matchExpressions": [expression]}))

    (term,) = parse_pod(obj).affinity_terms

    (requirement,) = term.match_expressions
    assert requirement.key == expression["key"]
    assert requirement.operator == expression["operator"]
    assert requirement.values == tuple(str(v) for v in expression.get("values", []))
    assert term.matches(NODE_LABELS, node_name="edge-1") is matches


@pytest.mark.parametrize(
    ("node_name", "matches"),
    [
        pytest.param("edge-1", True, id="named-node"),
        pytest.param("edge-2", False, id="other-node"),
    ],
)
def test_required_node_affinity_match_fields_select_by_node_name(
    node_name: str, matches: bool
) -> None:
    field = {"key": "metadata.name", "operator": "In", "values": ["edge-1"]}
    obj = pod(affinity=required_affinity({"matchFields": [field]}))

    (term,) = parse_pod(obj).affinity_terms

    assert term.match_fields == (types.SelectorRequirement("metadata.name", "In", ("edge-1",)),)
    assert term.match_expressions == ()
    assert term.matches({}, node_name=node_name) is matches


def test_required_node_affinity_keeps_every_term_in_order() -> None:
    first = {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}
    second = {
        "matchExpressions": [{"key": "zone", "operator": "Exists"}],
        "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["cloud-1"]}],
    }

    terms = parse_pod(pod(affinity=required_affinity(first, second))).affinity_terms

    assert terms == (
        types.SelectorTerm(
            match_expressions=(types.SelectorRequirement("disktype", "In", ("ssd",)),)
        ),
        types.SelectorTerm(
            match_expressions=(types.SelectorRequirement("zone", "Exists", ()),),
            match_fields=(types.SelectorRequirement("metadata.name", "NotIn", ("cloud-1",)),),
        ),
    )


def test_preferred_node_affinity_is_not_a_requirement() -> None:
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": "a", "operator": "In"}]}}
            ]
        }
    }

    assert parse_pod(pod(affinity=affinity)).affinity_terms == ()


def test_pod_without_affinity_has_no_terms() -> None:
    assert parse_pod(pod()).affinity_terms == ()


@pytest.mark.parametrize(
    ("term", "where"),
    [
        pytest.param({"matchExpressions": {"key": "a"}}, "matchExpressions", id="exprs-not-list"),
        pytest.param({"matchExpressions": ["disktype=ssd"]}, "matchExpressions", id="expr-str"),
        pytest.param(
            {"matchExpressions": [{"operator": "Exists"}]},
            "matchExpressions",
            id="expr-without-key",
        ),
        pytest.param({"matchFields": "metadata.name"}, "matchFields", id="fields-not-list"),
    ],
)
def test_malformed_node_affinity_is_an_input_error_naming_the_field(
    term: dict[str, Any], where: str
) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_pod(pod(affinity=required_affinity(term)))

    assert caught.value.key.endswith("requiredDuringSchedulingIgnoredDuringExecution." + where)


@pytest.mark.parametrize(
    "affinity",
    [
        pytest.param("edge-only", id="affinity-is-a-string"),
        pytest.param({"nodeAffinity": ["edge-only"]}, id="node-affinity-is-a-list"),
        pytest.param(
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "edge-only"}},
            id="required-is-a-string",
        ),
        pytest.param(
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": ["cloudedge.io/tier=edge"]
                    }
                }
            },
            id="selector-term-is-a-string",
        ),
    ],
)
def test_malformed_required_affinity_is_never_silently_dropped_and_names_the_pod(
    affinity: Any,
) -> None:
    # Dropping a hard constraint would place the pod where its author forbade it.
    with pytest.raises(errors.InputError) as caught:
        parse_pod(pod(affinity=affinity))

    assert str(caught.value).startswith("Pod shop/web: spec.affinity")


def test_node_selector_terms_that_are_not_a_list_are_an_input_error() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": {"a": 1}}
        }
    }

    with pytest.raises(errors.InputError, match="nodeSelectorTerms"):
        parse_pod(pod(affinity=affinity))


def test_pod_tolerations_are_parsed_with_kubernetes_defaults() -> None:
    tolerations = [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        {"key": "spot"},
        {"operator": "Exists"},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]

    parsed = parse_pod(pod(tolerations=tolerations)).tolerations

    assert parsed == (
        types.Toleration(key="dedicated", operator="Equal", value="gpu", effect="NoSchedule"),
        types.Toleration(key="spot", operator="Equal", value="", effect=""),
        types.Toleration(key="", operator="Exists", value="", effect=""),
        types.Toleration(
            key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute"
        ),
    )


GPU_TAINT = types.Taint(key="dedicated", value="gpu", effect="NoSchedule")


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        pytest.param(
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            True,
            id="equal-key-value-effect",
        ),
        pytest.param({"key": "dedicated", "value": "gpu"}, True, id="any-effect"),
        pytest.param({"key": "dedicated", "value": "fpga"}, False, id="other-value"),
        pytest.param({"key": "dedicated", "operator": "Exists"}, True, id="exists-any-value"),
        pytest.param(
            {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},
            False,
            id="exists-other-effect",
        ),
        pytest.param({"operator": "Exists"}, True, id="empty-key-exists-tolerates-all"),
        pytest.param({"key": "other", "operator": "Exists"}, False, id="other-key"),
    ],
)
def test_parsed_tolerations_follow_kubernetes_semantics(
    toleration: dict[str, Any], tolerated: bool
) -> None:
    (parsed,) = parse_pod(pod(tolerations=[toleration])).tolerations

    assert parsed.tolerates(GPU_TAINT) is tolerated


def test_pod_tolerations_that_are_not_a_list_are_an_input_error() -> None:
    with pytest.raises(errors.InputError, match=r"spec\.tolerations"):
        parse_pod(pod(tolerations={"key": "x"}))


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({"cloudedge.io/compute-cost": "400"}, 400.0, id="declared"),
        pytest.param({}, 0.0, id="none"),
        pytest.param({"cloudedge.io/compute-cost": "lots"}, 0.0, id="unreadable"),
    ],
)
def test_a_placed_pod_keeps_its_compute_cost(annotations: dict[str, str], expected: float) -> None:
    # The congestion term charges the service time queued on a node: a running pod's compute
    # cost is part of it; one that cannot be read counts as none rather than losing the pod.
    placed = parse_placed(pod(annotations=annotations, containers=[container({"cpu": "500m"})]))
    assert placed.compute_cost == expected
    assert placed.requests.cpu == 500.0
    assert placed.annotated == bool(annotations)
