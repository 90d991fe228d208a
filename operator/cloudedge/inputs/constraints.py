"""Pod fields that constrain placement and that the binder does not honour: refused openly.

kube-scheduler's plugins read more of a pod than this scheduler's model does. A binder that
ignored such a field would quietly break what the pod's author forbade (two pods on one
``hostPort``, a required ``podAntiAffinity`` broken, ...). So the binder looks for every such
field before deciding, and a pod that uses one stays Pending with a Warning naming the field
and pointing to the extender mode, where kube-scheduler enforces it and this scheduler only
scores. The extender never calls this: there kube-scheduler's own filters have run first.

Each entry of :data:`CHECKS` is one field of the pod spec; removing an entry is how a field
becomes honoured (with its filter in ``cloudedge.model``). docs/model.md lists both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

EXTENDER_HINT = (
    "run such pods with kube-scheduler and the cloud-edge-scheduler extender "
    "(manifests/scheduler-config/, docs/install.md), which enforces it"
)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(obj.get("spec"))


def _affinity(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return _mapping(_mapping(_spec(obj).get("affinity")).get(kind))


def _containers(obj: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers"):
        for i, container in enumerate(_list(_spec(obj).get(field))):
            if isinstance(container, Mapping):
                yield f"spec.{field}[{i}]", container


def _pod_affinity(obj: Mapping[str, Any]) -> Iterator[str]:
    """Required terms are honoured (filters), ``namespaces`` and ``namespaceSelector``
    included (the view watches Namespaces for their labels), and preferred ones too (the
    inter-pod-affinity score term), unless they select namespaces by label: the score term
    does not resolve label selectors."""
    for kind in ("podAffinity", "podAntiAffinity"):
        mode = "preferredDuringSchedulingIgnoredDuringExecution"
        for k, entry in enumerate(_list(_affinity(obj, kind).get(mode))):
            term = _mapping(_mapping(entry).get("podAffinityTerm"))
            if any(_mapping(term.get("namespaceSelector")).values()):
                yield f"spec.affinity.{kind}.{mode}[{k}].podAffinityTerm.namespaceSelector"


def _volumes(obj: Mapping[str, Any]) -> Iterator[str]:
    """Generic ephemeral volumes: their claim is made by a controller and bound as the pod is
    placed, which the binder does not do. PersistentVolumeClaims are honoured (their volume's
    node affinity; see :mod:`cloudedge.inputs.volumes`, which refuses late-binding classes)."""
    for i, volume in enumerate(_list(_spec(obj).get("volumes"))):
        if "ephemeral" in _mapping(volume):
            yield f"spec.volumes[{i}].ephemeral"


def _resource_claims(obj: Mapping[str, Any]) -> Iterator[str]:
    if _list(_spec(obj).get("resourceClaims")):
        yield "spec.resourceClaims"


CHECKS: tuple[Callable[[Mapping[str, Any]], Iterator[str]], ...] = (
    _pod_affinity,
    _volumes,
    _resource_claims,
)
"""Every field the binder refuses, in the order they are reported."""


def unhonoured_fields(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The paths of the fields of ``obj`` (a v1 Pod) that the binder would not honour."""
    found: list[str] = []
    for check in CHECKS:
        for path in check(obj):
            if path not in found:
                found.append(path)
    return tuple(found)


def refusal(fields: tuple[str, ...]) -> str:
    """The Warning's message for a pod refused because of ``fields`` (not empty)."""
    shown = ", ".join(fields[:5]) + (f" and {len(fields) - 5} more" if len(fields) > 5 else "")
    return (
        f"cloud-edge-scheduler's binder does not honour {shown}; the pod stays Pending "
        f"rather than be placed against it: {EXTENDER_HINT}"
    )


PREEMPTION_REFUSAL = (
    " No preemption: cloud-edge-scheduler's binder never evicts pods to make room "
    "(kube-scheduler with the extender does, respecting PodDisruptionBudgets)."
)


def preemption_note(obj: Mapping[str, Any]) -> str:
    """What to add to an unschedulable pod's FailedScheduling message about preemption.

    kube-scheduler would try to evict lower-priority pods for a pod with a priority above 0
    (unless its ``preemptionPolicy`` is ``Never``). The binder does not: choosing victims that
    respect PodDisruptionBudgets and graceful termination is kube-scheduler's own machinery,
    which the extender mode already has. So such a pod is told, rather than left to wonder.
    """
    spec = _spec(obj)
    priority = spec.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int) or priority <= 0:
        return ""
    if spec.get("preemptionPolicy") == "Never":
        return ""
    return PREEMPTION_REFUSAL
