"""A pod's PersistentVolumeClaims, checked as kube-scheduler's VolumeBinding plugin checks them.

For each ``persistentVolumeClaim`` volume of a pod, given the cluster's claims, volumes and
storage classes:

- a claim bound to a PersistentVolume: the volume's ``spec.nodeAffinity.required`` limits the
  nodes (one term of every such volume must match, "volume node affinity conflict" otherwise);
  so do its zone and region labels, as kube-scheduler's VolumeZone plugin reads them (a node
  with any zone or region label must carry each of the volume's, or the GA key of a beta one,
  with one of its ``__``-separated values; a node with none of them takes any volume: "no
  available volume zone" otherwise);
- a claim that does not exist, is being deleted, or is bound to a volume that does not exist:
  the pod stays Pending with kube-scheduler's message;
- an unbound claim whose StorageClass binds ``Immediate`` (or that names no class): Pending,
  "pod has unbound immediate PersistentVolumeClaims", until the volume controller binds it;
- an unbound claim whose StorageClass is ``WaitForFirstConsumer``: choosing and provisioning
  its volume with the node is the VolumeBinding plugin's own machinery, which the binder does
  not have; the pod is refused by field, as :mod:`cloudedge.inputs.constraints` refuses
  others (the extender mode, where kube-scheduler binds such claims, takes it).

Generic ephemeral volumes (``ephemeral``) are refused by :mod:`cloudedge.inputs.constraints`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

from cloudedge import errors
from cloudedge.inputs import pods as pod_inputs
from cloudedge.inputs.pods import claim_names
from cloudedge.model import types

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
PV_MISSING = "pod has PersistentVolumeClaims bound to non-existent PersistentVolumes"
LATE_BINDING = "WaitForFirstConsumer"
REASON_ZONE = "node(s) had no available volume zone"
REASON_CLAIM_IN_USE = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)
"""VolumeRestrictions' words for a pod whose ReadWriteOncePod claim another pod uses."""
ONE_POD = "ReadWriteOncePod"
REASON_AFFINITY_OR_ZONE = "node(s) had volume node affinity conflict or no available volume zone"
ZONE_LABELS = (
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
)
"""The volume and node labels VolumeZone compares, in its order."""
GA_LABEL = {ZONE_LABELS[0]: ZONE_LABELS[2], ZONE_LABELS[1]: ZONE_LABELS[3]}
"""A volume's beta key is also matched by a node's GA key when the node lacks the beta one."""

Objects = Mapping[str, Mapping[str, Any]]
"""Objects by name (claims: by ``namespace/name``)."""


@dataclasses.dataclass(frozen=True)
class VolumeFacts:
    """What a pod's claims mean for its placement."""

    node_terms: tuple[tuple[types.SelectorTerm, ...], ...] = ()
    """The required node affinity of every bound volume (one term of each must match)."""
    pending: tuple[str, ...] = ()
    """Why no node can take the pod until a claim changes (kube-scheduler's messages)."""
    refused: tuple[str, ...] = ()
    """Fields the binder does not honour (claims of a WaitForFirstConsumer class)."""
    exclusive: tuple[str, ...] = ()
    """``namespace/name`` of the pod's claims with the ReadWriteOncePod access mode: while
    another bound or reserved pod mounts one, no node can take this pod (VolumeRestrictions)."""
    reason: str = ""
    """The failure reason of the nodes ``node_terms`` exclude, when not only node affinity
    (the filters' default) excludes them: a volume's zone labels do too."""


NO_VOLUMES = VolumeFacts()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_volumes(
    obj: Mapping[str, Any], *, claims: Objects, volumes: Objects, classes: Objects
) -> VolumeFacts:
    """Check the claims of ``obj`` (a v1 Pod); raises InputError for an unreadable volume's
    node affinity (which the API server would have rejected)."""
    wanted = claim_names(obj)
    if not wanted:
        return NO_VOLUMES
    namespace = str(_mapping(obj.get("metadata")).get("namespace") or "default")
    terms: list[tuple[types.SelectorTerm, ...]] = []
    zones: list[tuple[types.SelectorTerm, ...]] = []
    exclusive: list[str] = []
    pending: list[str] = []
    refused: list[str] = []
    for i, name in wanted:
        claim = claims.get(f"{namespace}/{name}")
        if claim is None:
            pending.append(f'persistentvolumeclaim "{name}" not found')
            continue
        if _mapping(claim.get("metadata")).get("deletionTimestamp"):
            pending.append(f'persistentvolumeclaim "{name}" is being deleted')
            continue
        spec = _mapping(claim.get("spec"))
        modes = spec.get("accessModes")
        if isinstance(modes, list) and ONE_POD in modes:
            exclusive.append(f"{namespace}/{name}")
        bound_to = spec.get("volumeName")
        if bound_to:
            volume = volumes.get(str(bound_to))
            if volume is None:
                pending.append(PV_MISSING)
            else:
                terms.extend(_node_affinity(volume))
                zone = _zone_terms(volume)
                if zone:
                    zones.append(zone)
            continue
        class_name = spec.get("storageClassName")
        storage_class = classes.get(str(class_name)) if class_name else None
        if class_name and storage_class is None:
            pending.append(f'storageclass.storage.k8s.io "{class_name}" not found')
        elif storage_class is not None and storage_class.get("volumeBindingMode") == LATE_BINDING:
            refused.append(
                f"spec.volumes[{i}].persistentVolumeClaim (claim {name} of StorageClass "
                f"{class_name}, volumeBindingMode {LATE_BINDING})"
            )
        else:
            pending.append(UNBOUND_IMMEDIATE)
    reason = ""
    if zones:
        reason = REASON_AFFINITY_OR_ZONE if terms else REASON_ZONE
    return VolumeFacts(
        node_terms=tuple(terms + zones),
        pending=tuple(dict.fromkeys(pending)),
        refused=tuple(refused),
        exclusive=tuple(dict.fromkeys(exclusive)),
        reason=reason,
    )


def _zone_terms(volume: Mapping[str, Any]) -> tuple[types.SelectorTerm, ...]:
    """The nodes a volume's zone and region labels allow, as node selector terms (one must
    match); none when it has no such label.

    VolumeZone's rule: a node without any zone or region label takes the volume (a cluster of
    one zone may label nothing); another must carry, for each of the volume's labels, the same
    key, or the GA key of a beta one when it lacks the beta key, with one of the volume's
    values (``us-east-1a__us-east-1b``: either). A value that does not parse (an empty zone in
    the list) is ignored, as kube-scheduler ignores it. The per-label alternatives are spelled
    out as terms, at most four for the two beta keys.
    """
    labels = _mapping(_mapping(volume.get("metadata")).get("labels"))
    per_label: list[list[tuple[types.SelectorRequirement, ...]]] = []
    for key in ZONE_LABELS:
        value = labels.get(key)
        if not isinstance(value, str):
            continue
        zones = tuple(zone.strip() for zone in value.split("__"))
        if not all(zones):
            continue
        options: list[tuple[types.SelectorRequirement, ...]] = [
            (types.SelectorRequirement(key, "In", zones),)
        ]
        if key in GA_LABEL:
            options.append(
                (
                    types.SelectorRequirement(key, "DoesNotExist"),
                    types.SelectorRequirement(GA_LABEL[key], "In", zones),
                )
            )
        per_label.append(options)
    if not per_label:
        return ()
    unlabelled = types.SelectorTerm(
        match_expressions=tuple(types.SelectorRequirement(k, "DoesNotExist") for k in ZONE_LABELS)
    )
    matching = [
        types.SelectorTerm(match_expressions=tuple(r for part in combo for r in part))
        for combo in itertools.product(*per_label)
    ]
    return (unlabelled, *matching)


def _node_affinity(volume: Mapping[str, Any]) -> list[tuple[types.SelectorTerm, ...]]:
    """The volume's required node selector terms (none: any node)."""
    name = _mapping(volume.get("metadata")).get("name")
    who = f"PersistentVolume {name}"
    where = "spec.nodeAffinity.required.nodeSelectorTerms"
    required = _mapping(_mapping(_mapping(volume.get("spec")).get("nodeAffinity")).get("required"))
    raw = required.get("nodeSelectorTerms")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise errors.InputError(who, where, raw, "a list of nodeSelectorTerms")
    terms = []
    for k, term in enumerate(raw):
        at = f"{where}[{k}]"
        if not isinstance(term, Mapping):
            raise errors.InputError(who, at, term, "{matchExpressions, matchFields}")
        terms.append(
            types.SelectorTerm(
                match_expressions=pod_inputs._requirements(
                    term.get("matchExpressions"), who=who, where=f"{at}.matchExpressions"
                ),
                match_fields=pod_inputs._requirements(
                    term.get("matchFields"), who=who, where=f"{at}.matchFields"
                ),
            )
        )
    return [tuple(terms)]
