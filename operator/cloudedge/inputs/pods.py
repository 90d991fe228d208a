"""v1 Pod -> :class:`cloudedge.model.Pod`: requests, cloudedge annotations, node constraints.

Requests follow the API's rules for the scheduler's view of a pod: the sum over containers
(a container without requests but with limits requests its limits), at least the largest
init container, plus ``spec.overhead``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudedge import errors
from cloudedge.inputs import keys, objects, quantity, values
from cloudedge.model import types


def has_cloudedge_annotations(obj: Mapping[str, Any]) -> bool:
    """Whether the pod carries any ``cloudedge.io/`` annotation (the extender passes others)."""
    annotations = objects.mapping(obj, "metadata", "annotations")
    return any(str(k).startswith(keys.PREFIX) for k in annotations)


def parse_pod(obj: Mapping[str, Any]) -> types.Pod:
    """Build the model's view of a Pod object, raising InputError on any bad value."""
    obj = {"kind": "Pod", **obj}
    who = objects.describe(obj)
    meta = objects.mapping(obj, "metadata")
    name = meta.get("name") or meta.get("generateName") or ""
    if not isinstance(name, str) or not name:
        raise errors.InputError(who, "metadata.name", name, "a non-empty name")
    namespace = meta.get("namespace") or "default"
    annotations = objects.string_map(obj, "metadata", "annotations")

    workload = values.choice(annotations, keys.POD_WORKLOAD, types.Workload, obj=who)
    compute_cost = values.number(annotations, keys.POD_COMPUTE_COST, obj=who, default=0.0)
    data_source = values.name(
        annotations, keys.POD_DATA_SOURCE, obj=who, pattern=values.DNS_SUBDOMAIN
    )
    data_size = values.number(annotations, keys.POD_DATA_SIZE, obj=who, default=0.0)
    max_latency = values.number(annotations, keys.POD_MAX_LATENCY, obj=who, exclusive=True)
    tier = values.choice(annotations, keys.POD_TIER, types.Tier, obj=who)

    objects.mapping(obj, "spec")  # a spec that is not a mapping is an error
    node_selector = objects.string_map(obj, "spec", "nodeSelector")
    return types.Pod(
        name=name,
        namespace=str(namespace),
        uid=str(meta.get("uid") or ""),
        requests=pod_requests(obj, who=who),
        workload=workload or types.Workload.BATCH,
        compute_cost=float(compute_cost or 0.0),
        data_source=data_source,
        data_size_mb=float(data_size or 0.0),
        max_latency_ms=max_latency,
        tier=tier,
        node_selector=node_selector,
        affinity_terms=_affinity_terms(obj, who=who),
        tolerations=_tolerations(obj),
        annotated=any(k.startswith(keys.PREFIX) for k in annotations),
    )


POD_LEVEL_RESOURCES = frozenset({"cpu", "memory"})
"""Resources that ``spec.resources`` (pod-level resources) may set, replacing the containers'
sum, as in kube's ``IsSupportedPodLevelResource``; hugepages follow the containers here."""


def pod_requests(obj: Mapping[str, Any], *, who: str) -> types.ResourceList:
    """What the scheduler reserves for this pod, per named resource, summed as kube-scheduler
    sums it (k8s.io/component-helpers ``resource.PodRequests``):

    - the containers' requests add up;
    - init containers run one at a time before them: each needs its own requests plus the
      native sidecars (``restartPolicy: Always`` init containers) started before it, and the
      pod needs at least the largest of these;
    - native sidecars run beside the containers, so they also add to the sum;
    - ``spec.resources`` (pod-level) replaces the sum for cpu and memory;
    - ``spec.overhead`` (the RuntimeClass's) is added on top;
    - and the pod takes one of the node's pod slots.
    """
    total = types.ResourceList()
    for i, container in enumerate(objects.sequence(obj, "spec", "containers")):
        total += _container_requests(container, who=who, where=f"spec.containers[{i}]")
    sidecars = types.ResourceList()
    init_peak = types.ResourceList()
    for i, container in enumerate(objects.sequence(obj, "spec", "initContainers")):
        where = f"spec.initContainers[{i}]"
        requests = _container_requests(container, who=who, where=where)
        if container.get("restartPolicy") == "Always":
            total += requests
            sidecars += requests
            init_peak = init_peak.maximum(sidecars)
        else:
            init_peak = init_peak.maximum(requests + sidecars)
    total = total.maximum(init_peak)
    pod_level = objects.mapping(obj, "spec", "resources", "requests")
    for name, raw in pod_level.items():
        if name in POD_LEVEL_RESOURCES:
            value = quantity.amount(name, raw, obj=who, key=f"spec.resources.requests.{name}")
            total = types.ResourceList({**total, name: value})
    overhead = objects.mapping(obj, "spec", "overhead")
    total += {
        str(name): quantity.amount(str(name), raw, obj=who, key=f"spec.overhead.{name}")
        for name, raw in overhead.items()
    }
    return types.ResourceList({**total, types.PODS: 1.0})


def _container_requests(container: Any, *, who: str, where: str) -> types.ResourceList:
    """A container's requests; a resource with a limit and no request requests its limit, as
    the API server defaults it (offline YAML is not defaulted)."""
    if not isinstance(container, Mapping):
        raise errors.InputError(who, where, container, "a container object")
    resources = container.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise errors.InputError(who, f"{where}.resources", resources, "a mapping")
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    if not isinstance(requests, Mapping) or not isinstance(limits, Mapping):
        raise errors.InputError(who, f"{where}.resources", resources, "requests/limits maps")
    out: dict[str, float] = {}
    for name in {**limits, **requests}:
        raw = requests.get(name, limits.get(name))
        key = f"{where}.resources.requests.{name}"
        out[str(name)] = quantity.amount(str(name), raw, obj=who, key=key)
    return types.ResourceList(out)


def _requirements(raw: Any, *, who: str, where: str) -> tuple[types.SelectorRequirement, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise errors.InputError(who, where, raw, "a list of requirements")
    out = []
    for req in raw:
        if not isinstance(req, Mapping) or not isinstance(req.get("key"), str):
            raise errors.InputError(who, where, req, "{key, operator, values}")
        vals = req.get("values") or []
        out.append(
            types.SelectorRequirement(
                key=req["key"],
                operator=str(req.get("operator", "")),
                values=tuple(str(v) for v in vals) if isinstance(vals, list) else (),
            )
        )
    return tuple(out)


def _affinity_terms(obj: Mapping[str, Any], *, who: str) -> tuple[types.SelectorTerm, ...]:
    where = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    required = objects.mapping(
        obj, "spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = required.get("nodeSelectorTerms") or []
    if not isinstance(terms, list):
        raise errors.InputError(who, where, terms, "a list of nodeSelectorTerms")
    for k, term in enumerate(terms):
        if not isinstance(term, Mapping):
            raise errors.InputError(
                who, f"{where}.nodeSelectorTerms[{k}]", term, "{matchExpressions, matchFields}"
            )
    return tuple(
        types.SelectorTerm(
            match_expressions=_requirements(
                t.get("matchExpressions"), who=who, where=where + ".matchExpressions"
            ),
            match_fields=_requirements(t.get("matchFields"), who=who, where=where + ".matchFields"),
        )
        for t in terms
        if isinstance(t, Mapping)
    )


def _tolerations(obj: Mapping[str, Any]) -> tuple[types.Toleration, ...]:
    return tuple(
        types.Toleration(
            key=str(t.get("key", "") or ""),
            operator=str(t.get("operator", "Equal") or "Equal"),
            value=str(t.get("value", "") or ""),
            effect=str(t.get("effect", "") or ""),
        )
        for t in objects.sequence(obj, "spec", "tolerations")
        if isinstance(t, Mapping)
    )
