"""A pod's claims, as kube-scheduler's VolumeBinding plugin reads them: a bound volume's node
affinity limits the nodes; unbound, missing or late-binding claims keep the pod off every node.

The same objects on a real API server: tests/e2e/test_constraints.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloudedge import errors, model
from cloudedge.inputs import parse_node, parse_pod
from cloudedge.inputs import volumes as volume_inputs
from cloudedge.model import filters

HOST = "kubernetes.io/hostname"


def pod(*claims: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "p"},
        "spec": {
            "containers": [{"name": "c"}],
            "volumes": [
                {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                for i, c in enumerate(claims)
            ],
        },
    }


def claim(name: str, *, volume: str = "", cls: str | None = None, deleting: bool = False) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    spec: dict[str, Any] = {"volumeName": volume} if volume else {}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": meta, "spec": spec}


def volume(name: str, *hosts: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if hosts:
        expression = {"key": HOST, "operator": "In", "values": list(hosts)}
        spec["nodeAffinity"] = {
            "required": {"nodeSelectorTerms": [{"matchExpressions": [expression]}]}
        }
    return {"metadata": {"name": name}, "spec": spec}


def storage_class(name: str, mode: str = "Immediate") -> dict[str, Any]:
    return {"metadata": {"name": name}, "volumeBindingMode": mode}


CLAIMS = {
    f"ns/{c['metadata']['name']}": c
    for c in [
        claim("on-a", volume="pv-a"),
        claim("on-ab", volume="pv-ab"),
        claim("anywhere", volume="pv-any"),
        claim("lost", volume="pv-gone"),
        claim("waiting", cls="fast"),
        claim("classless"),
        claim("late", cls="local"),
        claim("unknown-class", cls="nope"),
        claim("going", volume="pv-a", deleting=True),
    ]
}
VOLUMES = {
    v["metadata"]["name"]: v
    for v in [volume("pv-a", "a"), volume("pv-ab", "a", "b"), volume("pv-any")]
}
CLASSES = {
    c["metadata"]["name"]: c
    for c in [storage_class("fast"), storage_class("local", "WaitForFirstConsumer")]
}


def facts(*claims: str) -> volume_inputs.VolumeFacts:
    return volume_inputs.pod_volumes(pod(*claims), claims=CLAIMS, volumes=VOLUMES, classes=CLASSES)


@pytest.mark.parametrize(
    ("claims", "pending"),
    [
        pytest.param(("missing",), 'persistentvolumeclaim "missing" not found', id="no-such-claim"),
        pytest.param(("going",), 'persistentvolumeclaim "going" is being deleted', id="deleting"),
        pytest.param(("lost",), volume_inputs.PV_MISSING, id="bound-to-a-missing-volume"),
        pytest.param(("waiting",), volume_inputs.UNBOUND_IMMEDIATE, id="unbound-immediate"),
        pytest.param(("classless",), volume_inputs.UNBOUND_IMMEDIATE, id="unbound-without-class"),
        pytest.param(
            ("unknown-class",), 'storageclass.storage.k8s.io "nope" not found', id="unknown-class"
        ),
    ],
)
def test_a_claim_no_node_can_help_keeps_the_pod_pending_with_kube_schedulers_words(
    claims: tuple[str, ...], pending: str
) -> None:
    found = facts(*claims)
    assert found.pending == (pending,)
    assert found.refused == ()


def test_a_late_binding_claim_is_refused_by_field_and_class() -> None:
    found = facts("on-a", "late")
    assert len(found.refused) == 1
    assert found.refused[0].startswith("spec.volumes[1].persistentVolumeClaim")
    assert "WaitForFirstConsumer" in found.refused[0]


def test_a_pod_without_claims_has_no_volume_facts() -> None:
    assert (
        volume_inputs.pod_volumes(pod(), claims={}, volumes={}, classes={})
        is volume_inputs.NO_VOLUMES
    )


def three_nodes() -> model.ClusterState:
    def node(name: str) -> model.Node:
        return parse_node(
            {
                "metadata": {"name": name, "labels": {"cloudedge.io/tier": "edge", HOST: name}},
                "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}},
            }
        )

    return model.ClusterState([node("a"), node("b"), node("c")])


def feasible(*claims: str) -> dict[str, bool]:
    p = dataclasses.replace(parse_pod(pod(*claims)), volume_node_terms=facts(*claims).node_terms)
    ev = model.evaluate(p, three_nodes(), model.ModelConfig())
    return dict(zip(ev.node_names, ev.feasible.tolist(), strict=True))


@pytest.mark.parametrize(
    ("claims", "nodes"),
    [
        pytest.param(("on-a",), {"a"}, id="one-volume"),
        pytest.param(("on-ab",), {"a", "b"}, id="one-of-its-terms"),
        pytest.param(("on-a", "on-ab"), {"a"}, id="every-volume"),
        pytest.param(("anywhere",), {"a", "b", "c"}, id="volume-without-affinity"),
    ],
)
def test_a_bound_volume_keeps_the_pod_to_the_nodes_its_affinity_names(
    claims: tuple[str, ...], nodes: set[str]
) -> None:
    assert {n for n, ok in feasible(*claims).items() if ok} == nodes


def test_nodes_a_volume_excludes_are_counted_with_kube_schedulers_reason() -> None:
    p = model.Pod(name="p", namespace="ns", volume_node_terms=facts("on-a").node_terms)
    ev = model.evaluate(p, three_nodes(), model.ModelConfig())
    assert f"2 {filters.REASON_VOLUME}" in ev.failure_summary()


def test_an_unreadable_volume_affinity_is_an_input_error_naming_the_volume() -> None:
    affinity = {"required": {"nodeSelectorTerms": "a"}}
    bad = {"pv-a": {"metadata": {"name": "pv-a"}, "spec": {"nodeAffinity": affinity}}}
    with pytest.raises(errors.InputError, match="PersistentVolume pv-a"):
        volume_inputs.pod_volumes(pod("on-a"), claims=CLAIMS, volumes=bad, classes={})


GA_ZONE, BETA_ZONE = "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"
GA_REGION = "topology.kubernetes.io/region"


def zoned_volume(name: str, labels: dict[str, str], *hosts: str) -> dict[str, Any]:
    pv = volume(name, *hosts)
    pv["metadata"]["labels"] = labels
    return pv


ZONED = {
    v["metadata"]["name"]: v
    for v in [
        zoned_volume("pv-z12", {GA_ZONE: "z1__z2"}),
        zoned_volume("pv-beta", {BETA_ZONE: "z1"}),
        zoned_volume("pv-r1z2", {GA_REGION: "r1", GA_ZONE: "z2"}),
        zoned_volume("pv-z1-on-ad", {GA_ZONE: "z1"}, "a", "d", "b"),
        zoned_volume("pv-unparsable", {GA_ZONE: "z1____z2"}),
    ]
}
ZONED_CLAIMS = {f"ns/{name}": claim(name, volume=name) for name in ZONED}
ZONE_NODES = {
    "a": {GA_ZONE: "z1"},
    "b": {GA_ZONE: "z2", GA_REGION: "r1"},
    "c": {GA_ZONE: "z3"},
    "d": {},
    "e": {BETA_ZONE: "z1"},
    "f": {GA_REGION: "r1"},
}


def zoned_feasible(*claims: str) -> tuple[dict[str, bool], model.Evaluation]:
    found = volume_inputs.pod_volumes(pod(*claims), claims=ZONED_CLAIMS, volumes=ZONED, classes={})
    p = dataclasses.replace(
        parse_pod(pod(*claims)), volume_node_terms=found.node_terms, volume_reason=found.reason
    )
    nodes = [
        parse_node(
            {
                "metadata": {
                    "name": name,
                    "labels": {"cloudedge.io/tier": "edge", HOST: name, **labels},
                },
                "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}},
            }
        )
        for name, labels in ZONE_NODES.items()
    ]
    ev = model.evaluate(p, model.ClusterState(nodes), model.ModelConfig())
    return dict(zip(ev.node_names, ev.feasible.tolist(), strict=True)), ev


@pytest.mark.parametrize(
    ("claim_name", "nodes"),
    [
        pytest.param("pv-z12", {"a", "b", "d"}, id="either-zone-of-the-list"),
        pytest.param("pv-beta", {"a", "d", "e"}, id="beta-key-matched-by-ga-key"),
        pytest.param("pv-r1z2", {"b", "d"}, id="region-and-zone"),
        pytest.param("pv-z1-on-ad", {"a", "d"}, id="zone-and-node-affinity"),
        pytest.param("pv-unparsable", set(ZONE_NODES), id="unparsable-value-ignored"),
    ],
)
def test_a_volumes_zone_labels_keep_the_pod_to_nodes_of_its_zones_as_volume_zone_does(
    claim_name: str, nodes: set[str]
) -> None:
    """A node with no zone or region label takes any volume (d); a node with one must carry
    each of the volume's keys (f has a region only), the GA key standing in for a beta one
    the node lacks (a for pv-beta; e has only the beta key, so not for pv-z12)."""
    allowed, _ = zoned_feasible(claim_name)
    assert {n for n, ok in allowed.items() if ok} == nodes


def test_nodes_a_volumes_zone_excludes_are_counted_with_kube_schedulers_reason() -> None:
    _, ev = zoned_feasible("pv-z12")
    assert f"3 {volume_inputs.REASON_ZONE}" in ev.failure_summary()
    _, both = zoned_feasible("pv-z1-on-ad")
    assert f"4 {volume_inputs.REASON_AFFINITY_OR_ZONE}" in both.failure_summary()
    _, plain = zoned_feasible("pv-unparsable")
    assert plain.failure_summary() == "6/6 nodes are available."


def test_a_read_write_once_pod_claim_is_exclusive_and_every_claim_is_on_the_pod() -> None:
    one_pod = claim("solo", volume="pv-any")
    one_pod["spec"]["accessModes"] = ["ReadWriteOncePod"]
    shared = claim("shared", volume="pv-any")
    shared["spec"]["accessModes"] = ["ReadWriteOnce"]
    found = volume_inputs.pod_volumes(
        pod("solo", "shared"),
        claims={"ns/solo": one_pod, "ns/shared": shared},
        volumes=VOLUMES,
        classes={},
    )
    assert found.exclusive == ("ns/solo",)
    assert found.pending == ()
    assert parse_pod(pod("solo", "shared", "solo")).claims == ("ns/solo", "ns/shared")
