"""The binder refuses, by name, every pod field that constrains placement and that it does not
honour: such a pod stays Pending with a Warning rather than be placed against its spec."""

from __future__ import annotations

from typing import Any

import pytest

from cloudedge.inputs import preemption_note, refusal, unhonoured_fields


def pod(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": [{"name": "c"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": body}


TERM = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
NS_SEL = {"matchLabels": {"team": "data"}}


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        pytest.param(
            {
                "affinity": {
                    "podAntiAffinity": {
                        PREFERRED: [
                            {"weight": 1, "podAffinityTerm": TERM},
                            {"weight": 2, "podAffinityTerm": {**TERM, "namespaceSelector": NS_SEL}},
                        ]
                    }
                }
            },
            [f"spec.affinity.podAntiAffinity.{PREFERRED}[1].podAffinityTerm.namespaceSelector"],
            id="preferred-namespace-selector-by-label",
        ),
        pytest.param(
            {"volumes": [{"name": "v", "ephemeral": {"volumeClaimTemplate": {}}}]},
            ["spec.volumes[0].ephemeral"],
            id="generic-ephemeral-volume",
        ),
        pytest.param(
            {"resourceClaims": [{"name": "gpu"}]}, ["spec.resourceClaims"], id="resource-claims"
        ),
    ],
)
def test_a_field_the_binder_does_not_honour_is_named(
    spec: dict[str, Any], fields: list[str]
) -> None:
    assert list(unhonoured_fields(pod(**spec))) == fields


def test_a_pod_with_only_honoured_constraints_is_not_refused() -> None:
    obj = pod(
        nodeSelector={"disk": "ssd"},
        tolerations=[{"key": "k", "operator": "Exists"}],
        affinity={
            "nodeAffinity": {
                REQUIRED: {"nodeSelectorTerms": []},
                PREFERRED: [{"weight": 1, "preference": {}}],
            },
            "podAffinity": {
                REQUIRED: [TERM, {**TERM, "namespaceSelector": NS_SEL}],
                PREFERRED: [{"weight": 5, "podAffinityTerm": TERM}],
            },
            "podAntiAffinity": {
                REQUIRED: [{**TERM, "namespaceSelector": {}}],
                PREFERRED: [{"weight": 1, "podAffinityTerm": TERM}],
            },
        },
        containers=[
            {
                "name": "c",
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}],
            }
        ],
        volumes=[
            {"name": "scratch", "emptyDir": {}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        ],
        initContainers=[{"name": "proxy", "restartPolicy": "Always"}],
        topologySpreadConstraints=[
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"},
        ],
        overhead={"cpu": "100m"},
    )
    obj["spec"]["containers"][0]["resources"]["limits"] = {
        "nvidia.com/gpu": "1",
        "ephemeral-storage": "1Gi",
        "hugepages-2Mi": "2Mi",
    }
    assert unhonoured_fields(obj) == ()


def test_the_refusal_names_the_field_and_points_to_the_extender_mode() -> None:
    message = refusal(("spec.topologySpreadConstraints",))
    assert "spec.topologySpreadConstraints" in message
    assert "extender" in message
    assert "Pending" in message


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        pytest.param({"priority": 1000}, True, id="priority-above-zero"),
        pytest.param({"priority": 1000, "preemptionPolicy": "Never"}, False, id="never-preempts"),
        pytest.param({"priority": 0}, False, id="default-priority"),
        pytest.param({}, False, id="no-priority"),
    ],
)
def test_an_unschedulable_pod_that_could_preempt_is_told_the_binder_does_not(
    spec: dict[str, Any], refused: bool
) -> None:
    note = preemption_note(pod(**spec))
    assert bool(note) is refused
    if refused:
        assert "No preemption" in note
