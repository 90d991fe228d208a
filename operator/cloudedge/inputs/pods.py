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


NamespaceLabels = Mapping[str, Mapping[str, str]]
"""Namespace name -> its labels: what a ``namespaceSelector`` is matched against."""


def parse_pod(
    obj: Mapping[str, Any], *, namespace_labels: NamespaceLabels | None = None
) -> types.Pod:
    """Build the model's view of a Pod object, raising InputError on any bad value.

    ``namespace_labels``: every namespace's labels, to resolve the pod's ``namespaceSelector``
    terms (see :func:`_pod_terms`); None leaves such terms out.
    """
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
        preferred_node_affinity=_preferred_node_terms(obj, who=who),
        tolerations=_tolerations(obj),
        annotated=any(k.startswith(keys.PREFIX) for k in annotations),
        priority=pod_priority(obj),
        **_placement_constraints(
            obj, who=who, namespace=str(namespace), namespace_labels=namespace_labels
        ),
    )


def pod_priority(obj: Mapping[str, Any]) -> int:
    """``spec.priority``, 0 when absent: the API server's Priority admission sets it from the
    pod's PriorityClass (or the global default), and without that plugin a pod has none,
    which kube-scheduler reads as 0 too."""
    priority = (obj.get("spec") or {}).get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int):
        return 0
    return priority


def parse_placed(
    obj: Mapping[str, Any], *, namespace_labels: NamespaceLabels | None = None
) -> types.Pod:
    """A pod already on a node (anyone's) as the inter-pod filters and the congestion term see
    it: requests, labels, host ports, required (anti-)affinity and its compute cost (the
    service time it queues on the node, counted for a pod with cloudedge annotations only);
    its other cloudedge annotations do not matter here.

    The API server validated it; a part that still cannot be read is left out (and logged by
    the caller) rather than making the whole pod count for nothing. A compute cost that cannot
    be read counts as none: the pod is placed, its annotations were checked when it was.
    """
    obj = {"kind": "Pod", **obj}
    who = objects.describe(obj)
    meta = objects.mapping(obj, "metadata")
    namespace = str(meta.get("namespace") or "default")
    try:
        annotations = objects.string_map(obj, "metadata", "annotations")
    except errors.InputError:
        annotations = {}
    try:
        cost = values.number(annotations, keys.POD_COMPUTE_COST, obj=who, default=0.0)
    except errors.InputError:
        cost = 0.0
    return types.Pod(
        name=str(meta.get("name") or ""),
        namespace=namespace,
        uid=str(meta.get("uid") or ""),
        requests=pod_requests(obj, who=who),
        compute_cost=float(cost or 0.0),
        annotated=any(k.startswith(keys.PREFIX) for k in annotations),
        **_placement_constraints(
            obj, who=who, namespace=namespace, namespace_labels=namespace_labels
        ),
    )


def claim_names(obj: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, claimName) of every ``persistentVolumeClaim`` volume of a Pod object."""
    spec = obj.get("spec")
    volumes = spec.get("volumes") if isinstance(spec, Mapping) else None
    out = []
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        source = volume.get("persistentVolumeClaim") if isinstance(volume, Mapping) else None
        claim = source.get("claimName") if isinstance(source, Mapping) else None
        if isinstance(claim, str) and claim:
            out.append((i, claim))
    return out


def _placement_constraints(
    obj: Mapping[str, Any], *, who: str, namespace: str, namespace_labels: NamespaceLabels | None
) -> dict[str, Any]:
    """labels, host_ports, affinity, anti_affinity, spread and claims of a Pod object."""
    labels = objects.string_map(obj, "metadata", "labels")

    def terms(kind: str) -> tuple[types.PodAffinityTerm, ...]:
        return _pod_terms(
            obj,
            kind,
            who=who,
            namespace=namespace,
            labels=labels,
            namespace_labels=namespace_labels,
        )

    return {
        "labels": labels,
        "host_ports": _host_ports(obj, who=who),
        "affinity": terms("podAffinity"),
        "anti_affinity": terms("podAntiAffinity"),
        "spread": _spread(obj, who=who, labels=labels),
        "preferred_affinity": _preferred_pod_terms(
            obj, "podAffinity", who=who, namespace=namespace, labels=labels
        ),
        "preferred_anti_affinity": _preferred_pod_terms(
            obj, "podAntiAffinity", who=who, namespace=namespace, labels=labels
        ),
        "claims": tuple(dict.fromkeys(f"{namespace}/{c}" for _, c in claim_names(obj))),
    }


def _host_ports(obj: Mapping[str, Any], *, who: str) -> tuple[types.HostPort, ...]:
    """Every container's (and init container's) host ports, as NodePorts collects them; with
    ``hostNetwork`` a container port is a host port (the API server defaults it so)."""
    host_network = bool(objects.mapping(obj, "spec").get("hostNetwork"))
    out: list[types.HostPort] = []
    for field in ("initContainers", "containers"):
        for i, container in enumerate(objects.sequence(obj, "spec", field)):
            if not isinstance(container, Mapping):
                continue
            ports = container.get("ports") or []
            if not isinstance(ports, list):
                raise errors.InputError(who, f"spec.{field}[{i}].ports", ports, "a list")
            for j, port in enumerate(ports):
                if not isinstance(port, Mapping):
                    continue
                number = port.get("hostPort") or (port.get("containerPort") if host_network else 0)
                if not number:
                    continue
                if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    where = f"spec.{field}[{i}].ports[{j}].hostPort"
                    raise errors.InputError(who, where, number, "a port number")
                out.append(
                    types.HostPort(
                        port=number,
                        protocol=str(port.get("protocol") or "TCP"),
                        ip=str(port.get("hostIP") or "0.0.0.0"),
                    )
                )
    return tuple(out)


def _label_selector(
    raw: Any, *, who: str, where: str, match_label_keys: Any = None, labels: Mapping[str, str]
) -> types.LabelSelector | None:
    """A metav1 LabelSelector (None when absent), with ``matchLabelKeys`` of the owning pod
    added as ``In`` requirements on its own values, as kube-scheduler merges them."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise errors.InputError(who, where, raw, "a label selector")
    match_labels = raw.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise errors.InputError(who, f"{where}.matchLabels", match_labels, "a map of labels")
    expressions = list(_requirements(raw.get("matchExpressions"), who=who, where=where))
    keys_raw = match_label_keys or []
    if not isinstance(keys_raw, list):
        raise errors.InputError(who, where, keys_raw, "matchLabelKeys: a list of label keys")
    for key in keys_raw:
        if isinstance(key, str) and key in labels:
            expressions.append(types.SelectorRequirement(key, "In", (labels[key],)))
    return types.LabelSelector(
        match_labels={str(k): str(v) for k, v in match_labels.items()},
        match_expressions=tuple(expressions),
    )


def _pod_terms(
    obj: Mapping[str, Any],
    kind: str,
    *,
    who: str,
    namespace: str,
    labels: Mapping[str, str],
    namespace_labels: NamespaceLabels | None,
) -> tuple[types.PodAffinityTerm, ...]:
    """The required terms of ``spec.affinity.<kind>``, namespaces resolved.

    As kube-scheduler's InterPodAffinity resolves them: an empty ``namespaceSelector`` selects
    every namespace; a non-empty one selects the namespaces whose labels it matches, added to
    ``namespaces``; neither means the pod's own namespace. A non-empty selector that matches
    no namespace (and no names) speaks of no pod at all: it does not fall back to the pod's
    own namespace. Without ``namespace_labels`` (the extender, where kube-scheduler has
    enforced the term already) such a term is left out rather than guessed.
    """
    where = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
    section = objects.mapping(obj, "spec", "affinity", kind)
    raw_terms = section.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if not isinstance(raw_terms, list):
        raise errors.InputError(who, where, raw_terms, "a list of pod affinity terms")
    out = []
    for k, term in enumerate(raw_terms):
        at = f"{where}[{k}]"
        if not isinstance(term, Mapping) or not isinstance(term.get("topologyKey"), str):
            raise errors.InputError(who, at, term, "{labelSelector, topologyKey, namespaces}")
        names = term.get("namespaces") or []
        if not isinstance(names, list):
            raise errors.InputError(who, f"{at}.namespaces", names, "a list of namespaces")
        ns_selector = term.get("namespaceSelector")
        resolved = frozenset(str(n) for n in names)
        all_namespaces = False
        if isinstance(ns_selector, Mapping) and any(ns_selector.values()):
            if namespace_labels is None:
                continue
            chosen = _label_selector(
                ns_selector, who=who, where=f"{at}.namespaceSelector", labels={}
            )
            assert chosen is not None  # a mapping, checked above
            resolved |= {
                ns for ns, ns_labels in namespace_labels.items() if chosen.matches(ns_labels)
            }
        elif isinstance(ns_selector, Mapping):
            all_namespaces = True
        elif not resolved:
            resolved = frozenset({namespace})
        selector = _label_selector(
            term.get("labelSelector"),
            who=who,
            where=f"{at}.labelSelector",
            match_label_keys=term.get("matchLabelKeys"),
            labels=labels,
        )
        out.append(
            types.PodAffinityTerm(
                topology_key=term["topologyKey"],
                selector=selector,
                namespaces=resolved,
                all_namespaces=all_namespaces,
            )
        )
    return tuple(out)


def _weight(entry: Mapping[str, Any], *, who: str, at: str) -> int:
    """A preferred term's ``weight``: an integer 1..100, as the API server validates it."""
    weight = entry.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
        raise errors.InputError(who, f"{at}.weight", weight, "an integer in 1..100")
    return weight


def _preferred_pod_terms(
    obj: Mapping[str, Any], kind: str, *, who: str, namespace: str, labels: Mapping[str, str]
) -> tuple[types.WeightedPodTerm, ...]:
    """The preferred terms of ``spec.affinity.<kind>`` with their weights, namespaces
    resolved as for the required ones. A term with a non-empty ``namespaceSelector`` is left
    out, as :func:`_pod_terms` leaves it out (the binder refuses such pods)."""
    where = f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
    raw_terms = objects.mapping(obj, "spec", "affinity", kind).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    )
    if raw_terms is None:
        return ()
    if not isinstance(raw_terms, list):
        raise errors.InputError(who, where, raw_terms, "a list of weighted pod affinity terms")
    out = []
    for k, entry in enumerate(raw_terms):
        at = f"{where}[{k}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("podAffinityTerm"), Mapping):
            raise errors.InputError(who, at, entry, "{weight, podAffinityTerm}")
        weight = _weight(entry, who=who, at=at)
        term = entry["podAffinityTerm"]
        at = f"{at}.podAffinityTerm"
        if not isinstance(term.get("topologyKey"), str) or not term["topologyKey"]:
            raise errors.InputError(
                who, f"{at}.topologyKey", term.get("topologyKey"), "a label key"
            )
        names = term.get("namespaces") or []
        if not isinstance(names, list):
            raise errors.InputError(who, f"{at}.namespaces", names, "a list of namespaces")
        ns_selector = term.get("namespaceSelector")
        if isinstance(ns_selector, Mapping) and any(ns_selector.values()):
            continue
        resolved = frozenset(str(n) for n in names)
        if not resolved and ns_selector is None:
            resolved = frozenset({namespace})
        selector = _label_selector(
            term.get("labelSelector"),
            who=who,
            where=f"{at}.labelSelector",
            match_label_keys=term.get("matchLabelKeys"),
            labels=labels,
        )
        out.append(
            types.WeightedPodTerm(
                weight=weight,
                term=types.PodAffinityTerm(
                    topology_key=term["topologyKey"],
                    selector=selector,
                    namespaces=resolved,
                    all_namespaces=isinstance(ns_selector, Mapping),
                ),
            )
        )
    return tuple(out)


def _preferred_node_terms(
    obj: Mapping[str, Any], *, who: str
) -> tuple[types.PreferredNodeTerm, ...]:
    """``spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution``."""
    where = "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    raw_terms = objects.mapping(obj, "spec", "affinity", "nodeAffinity").get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    )
    if raw_terms is None:
        return ()
    if not isinstance(raw_terms, list):
        raise errors.InputError(who, where, raw_terms, "a list of {weight, preference}")
    out = []
    for k, entry in enumerate(raw_terms):
        at = f"{where}[{k}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("preference"), Mapping):
            raise errors.InputError(who, at, entry, "{weight, preference}")
        weight = _weight(entry, who=who, at=at)
        pref = entry["preference"]
        out.append(
            types.PreferredNodeTerm(
                weight=weight,
                term=types.SelectorTerm(
                    match_expressions=_requirements(
                        pref.get("matchExpressions"),
                        who=who,
                        where=f"{at}.preference.matchExpressions",
                    ),
                    match_fields=_requirements(
                        pref.get("matchFields"), who=who, where=f"{at}.preference.matchFields"
                    ),
                ),
            )
        )
    return tuple(out)


def _spread(
    obj: Mapping[str, Any], *, who: str, labels: Mapping[str, str]
) -> tuple[types.SpreadConstraint, ...]:
    out = []
    for k, raw in enumerate(objects.sequence(obj, "spec", "topologySpreadConstraints")):
        at = f"spec.topologySpreadConstraints[{k}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("topologyKey"), str):
            raise errors.InputError(who, at, raw, "{maxSkew, topologyKey, whenUnsatisfiable}")
        skew = raw.get("maxSkew", 1)
        min_domains = raw.get("minDomains") or 1
        for key, value in (("maxSkew", skew), ("minDomains", min_domains)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise errors.InputError(who, f"{at}.{key}", value, "an integer >= 1")
        policies = {}
        for key, default in (("nodeAffinityPolicy", "Honor"), ("nodeTaintsPolicy", "Ignore")):
            value = raw.get(key) or default
            if value not in ("Honor", "Ignore"):
                raise errors.InputError(who, f"{at}.{key}", value, "Honor or Ignore")
            policies[key] = value == "Honor"
        out.append(
            types.SpreadConstraint(
                max_skew=skew,
                topology_key=raw["topologyKey"],
                selector=_label_selector(
                    raw.get("labelSelector"),
                    who=who,
                    where=f"{at}.labelSelector",
                    match_label_keys=raw.get("matchLabelKeys"),
                    labels=labels,
                ),
                hard=raw.get("whenUnsatisfiable", "DoNotSchedule") != "ScheduleAnyway",
                min_domains=min_domains,
                honor_node_affinity=policies["nodeAffinityPolicy"],
                honor_taints=policies["nodeTaintsPolicy"],
            )
        )
    return tuple(out)


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
