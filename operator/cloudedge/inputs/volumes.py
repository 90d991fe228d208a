"""A pod's PersistentVolumeClaims, checked as kube-scheduler's VolumeBinding plugin checks them.

For each ``persistentVolumeClaim`` volume of a pod, given the cluster's claims, volumes and
storage classes:

- a claim bound to a PersistentVolume: the volume's ``spec.nodeAffinity.required`` limits the
  nodes (one term of every such volume must match, "volume node affinity conflict" otherwise);
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
from collections.abc import Mapping
from typing import Any

from cloudedge import errors
from cloudedge.inputs import pods as pod_inputs
from cloudedge.model import types

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
PV_MISSING = "pod has PersistentVolumeClaims bound to non-existent PersistentVolumes"
LATE_BINDING = "WaitForFirstConsumer"

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


NO_VOLUMES = VolumeFacts()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def claim_names(obj: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, claimName) of every ``persistentVolumeClaim`` volume of a Pod object."""
    volumes = _mapping(obj.get("spec")).get("volumes")
    out = []
    for i, volume in enumerate(volumes if isinstance(volumes, list) else []):
        claim = _mapping(_mapping(volume).get("persistentVolumeClaim")).get("claimName")
        if isinstance(claim, str) and claim:
            out.append((i, claim))
    return out


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
        bound_to = spec.get("volumeName")
        if bound_to:
            volume = volumes.get(str(bound_to))
            if volume is None:
                pending.append(PV_MISSING)
            else:
                terms.extend(_node_affinity(volume))
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
    return VolumeFacts(
        node_terms=tuple(terms),
        pending=tuple(dict.fromkeys(pending)),
        refused=tuple(refused),
    )


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
