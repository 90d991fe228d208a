"""The kube-scheduler extender v1 wire format, and its one conversion to what the service uses.

kube-scheduler marshals the structs of ``k8s.io/kube-scheduler/extender/v1`` (types.go) with Go's
``encoding/json``. Those structs carry no JSON tags, so every key is the Go field name, capital
first (``NodeNames``, ``FailedAndUnresolvableNodes``, ``PodUID``, ``NumPDBViolations``); nil
pointers, slices and maps travel as ``null``; the embedded Kubernetes objects (``v1.Pod``,
``v1.NodeList``) keep their own camelCase JSON. The TypedDicts below spell the wire exactly so
that the handlers in :mod:`cloudedge.extender.server` build replies a Go decoder accepts.

Requests are decoded once here into frozen dataclasses, validating every field the service reads;
a request that is not what kube-scheduler sends raises :class:`WireError`, which the server turns
into a 400 with a JSON body. Like Go's decoder, keys are matched exactly first and then without
regard to case (old extender docs spelled them ``pod``, ``nodenames``), and a missing nested field
takes Go's zero value; the top-level fields the verb needs must be there.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import orjson

from cloudedge import errors

MIN_PRIORITY = 0
MAX_PRIORITY = 10
"""``MinExtenderPriority`` / ``MaxExtenderPriority``: the range of ``HostPriority.Score``."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Range of Go's int64 (``NumPDBViolations``): a bigger JSON number fails Go's decoder too."""

# -- the wire: k8s.io/kube-scheduler/extender/v1 -----------------------------------------------

KubeObject = dict[str, Any]
"""A Kubernetes object (v1.Pod, v1.Node) in its own camelCase JSON, passed through as is."""


class NodeList(TypedDict, total=False):
    """``v1.NodeList``; kube-scheduler sends ``{"metadata": {}, "items": [...]}``."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    items: list[KubeObject] | None


class ExtenderArgs(TypedDict):
    """Request of ``filter`` and ``prioritize``.

    ``Nodes`` is set when the extender is not ``nodeCacheCapable``, ``NodeNames`` when it is.
    """

    Pod: KubeObject
    Nodes: NodeList | None
    NodeNames: list[str] | None


FailedNodesMap = dict[str, str]
"""Node name -> failure message (``FailedNodesMap``)."""


class ExtenderFilterResult(TypedDict):
    """Reply of ``filter``.

    kube-scheduler reads ``NodeNames`` when it is nodeCacheCapable and ``NodeNames`` is not null,
    else ``Nodes``: a null list there means *no node passed*. ``FailedAndUnresolvableNodes``
    takes precedence over ``FailedNodes``; preemption does not try those nodes.
    """

    Nodes: NodeList | None
    NodeNames: list[str] | None
    FailedNodes: FailedNodesMap | None
    FailedAndUnresolvableNodes: FailedNodesMap | None
    Error: str


class HostPriority(TypedDict):
    """One node's score, ``MIN_PRIORITY..MAX_PRIORITY``; the reply of ``prioritize`` is a list."""

    Host: str
    Score: int


HostPriorityList = list[HostPriority]


class ExtenderBindingArgs(TypedDict):
    """Request of ``bind``: kube-scheduler's ``v1.Binding`` flattened."""

    PodName: str
    PodNamespace: str
    PodUID: str
    Node: str


class ExtenderBindingResult(TypedDict):
    """Reply of ``bind``; a non-empty ``Error`` fails the binding."""

    Error: str


class MetaPod(TypedDict):
    """A victim identified by its UID only (``MetaPod``)."""

    UID: str


class MetaVictims(TypedDict):
    """Victims on one node by UID, sent when nodeCacheCapable and always replied."""

    Pods: list[MetaPod] | None
    NumPDBViolations: int


class Victims(TypedDict):
    """Victims on one node as full pods, sent when not nodeCacheCapable."""

    Pods: list[KubeObject] | None
    NumPDBViolations: int


class ExtenderPreemptionArgs(TypedDict):
    """Request of ``preempt``: candidate nodes and the pods preemption would evict there."""

    Pod: KubeObject
    NodeNameToVictims: dict[str, Victims | None] | None
    NodeNameToMetaVictims: dict[str, MetaVictims | None] | None


class ExtenderPreemptionResult(TypedDict):
    """Reply of ``preempt``: the candidates the extender keeps (always as MetaVictims)."""

    NodeNameToMetaVictims: dict[str, MetaVictims | None] | None


class ErrorBody(TypedDict):
    """The body of every non-200 reply: the same ``Error`` key the protocol uses."""

    Error: str


# -- decoded requests -----------------------------------------------------------------------


class WireError(errors.InputError):
    """A request body is not what kube-scheduler sends: answered with a 400 naming the field."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__("extender request", key, value, allowed)


@dataclasses.dataclass(frozen=True)
class NodeArgs:
    """``ExtenderArgs`` decoded: the pod and the candidate nodes in the caller's order.

    ``node_objects`` is None when the caller is nodeCacheCapable (names only); otherwise it holds
    the given Node objects, parallel to ``node_names``.
    """

    pod: KubeObject
    node_names: tuple[str, ...]
    node_objects: tuple[KubeObject, ...] | None

    @property
    def node_cache(self) -> bool:
        """Whether the caller sent names only and expects ``NodeNames`` back."""
        return self.node_objects is None


@dataclasses.dataclass(frozen=True)
class BindArgs:
    """``ExtenderBindingArgs`` decoded."""

    name: str
    namespace: str
    uid: str
    node: str


@dataclasses.dataclass(frozen=True)
class PreemptArgs:
    """``ExtenderPreemptionArgs`` decoded, with full-pod victims already reduced to UIDs.

    ``victims`` maps each candidate node to its victims (None where the caller sent null);
    ``node_cache`` says which of the two maps the caller used.
    """

    pod: KubeObject
    victims: dict[str, MetaVictims | None]
    node_cache: bool


def loads(body: bytes) -> Any:
    """Parse a request body as Go would: UTF-8 JSON, no NaN or Infinity.

    orjson first (a filter request names up to every node, and it parses that in about half
    the time); what it refuses (NaN, integers past 64 bits, lone surrogates, deep nesting,
    malformed text) goes to the standard parser, which accepts it or says what is wrong.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except WireError:
        raise
    except RecursionError as err:  # absurdly deep nesting: no extender request looks like it
        raise WireError("body", "<nested too deeply>", "a JSON document") from err
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, int-digit limits
        raise WireError("body", _excerpt(body), f"a JSON document ({err})") from err


def node_args(doc: Any) -> NodeArgs:
    """Decode the ``ExtenderArgs`` of ``filter`` and ``prioritize``."""
    top = _object(doc, "ExtenderArgs")
    pod = _pod(top)
    nodes = _field(top, "Nodes")
    names = _field(top, "NodeNames")
    if names is not None and nodes is not None:
        raise WireError("Nodes", "<both set>", "either Nodes or NodeNames, not both")
    if names is not None:
        # set(map(type, ...)): a 1,000-name list is checked in C, not in a generator.
        if not isinstance(names, list) or not set(map(type, names)) <= {str}:
            raise WireError("NodeNames", names, "a list of node names")
        _unique(names, "NodeNames")
        return NodeArgs(pod=pod, node_names=tuple(names), node_objects=None)
    if nodes is None:
        raise WireError("NodeNames", None, "NodeNames (nodeCacheCapable) or Nodes (a NodeList)")
    objects = _node_list(nodes)
    return NodeArgs(
        pod=pod,
        node_names=tuple(obj["metadata"]["name"] for obj in objects),
        node_objects=objects,
    )


def bind_args(doc: Any) -> BindArgs:
    """Decode ``ExtenderBindingArgs``; the UID may be empty (Go's zero value), not absent."""
    top = _object(doc, "ExtenderBindingArgs")
    out: dict[str, str] = {}
    for key in ("PodName", "PodNamespace", "PodUID", "Node"):
        value = _field(top, key, missing=_MISSING)
        if value is _MISSING:
            raise WireError(key, None, "a string (the field is required)")
        if not isinstance(value, str) or (key != "PodUID" and not value):
            raise WireError(key, value, "a non-empty string" if key != "PodUID" else "a string")
        out[key] = value
    return BindArgs(
        name=out["PodName"], namespace=out["PodNamespace"], uid=out["PodUID"], node=out["Node"]
    )


def preempt_args(doc: Any) -> PreemptArgs:
    """Decode ``ExtenderPreemptionArgs``: exactly one of the two victim maps must be set."""
    top = _object(doc, "ExtenderPreemptionArgs")
    pod = _pod(top)
    meta = _field(top, "NodeNameToMetaVictims")
    full = _field(top, "NodeNameToVictims")
    if meta is not None and full is not None:
        raise WireError("NodeNameToVictims", "<both set>", "one victim map, not both")
    if meta is not None:
        victims_map = _object(meta, "NodeNameToMetaVictims")
        victims = {
            node: _meta_victims(v, f"NodeNameToMetaVictims[{node}]")
            for node, v in victims_map.items()
        }
        return PreemptArgs(pod=pod, victims=victims, node_cache=True)
    if full is None:
        raise WireError("NodeNameToMetaVictims", None, "NodeNameToMetaVictims or NodeNameToVictims")
    victims_map = _object(full, "NodeNameToVictims")
    victims = {
        node: _full_victims(v, f"NodeNameToVictims[{node}]") for node, v in victims_map.items()
    }
    return PreemptArgs(pod=pod, victims=victims, node_cache=False)


def dumps(doc: object) -> bytes:
    """Compact UTF-8 JSON for replies (kube-scheduler does not care about whitespace).

    orjson: a filter reply names up to every node of the cluster, and the standard encoder
    took about as long on it as the model took to decide (docs/benchmarks.md, extender).
    Replies hold only strings, integers, lists, dicts and None; a string orjson refuses (a
    lone surrogate, echoed from a hostile request) goes through the standard encoder.
    """
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def host_prefix(name: str) -> str:
    """``{"Host":"<name>","Score":`` for :func:`dumps_priorities`' cache."""
    return '{"Host":' + json.dumps(name) + ',"Score":'


def dumps_priorities(
    hosts: Sequence[str], scores: Sequence[int], *, prefixes: Mapping[str, str]
) -> str:
    """A ``HostPriorityList`` as JSON, the same text :func:`dumps` makes of the dicts.

    A thousand two-key dicts cost more to build and encode than the model takes to score the
    nodes; joining cached per-host prefixes is about three times faster. Hosts missing from
    ``prefixes`` are encoded on the spot.
    """
    prefix, suffix = prefixes.get, _SCORE_SUFFIX.get
    parts = [
        (prefix(host) or host_prefix(host)) + (suffix(score) or f"{int(score)}}}")
        for host, score in zip(hosts, scores, strict=True)
    ]
    return "[" + ",".join(parts) + "]"


_SCORE_SUFFIX = {score: f"{score}}}" for score in range(MIN_PRIORITY, MAX_PRIORITY + 1)}
"""The end of each ``HostPriority`` for the scores prioritize can answer."""


# -- helpers ----------------------------------------------------------------------------------

_MISSING: Any = object()


def _reject_constant(name: str) -> Any:
    raise WireError("body", name, "finite JSON numbers (Go rejects NaN and Infinity)")


def _excerpt(body: bytes) -> str:
    return body[:40].decode("utf-8", errors="replace")


def _field(obj: Mapping[str, Any], key: str, *, missing: Any = None) -> Any:
    """``obj[key]`` as Go's decoder finds it: the exact key, else one equal ignoring case."""
    if key in obj:
        return obj[key]
    folded = key.casefold()
    for k, v in obj.items():
        if k.casefold() == folded:
            return v
    return missing


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(what, value, "a JSON object")
    return value


def _unique(names: list[str], key: str) -> None:
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise WireError(key, name, "distinct node names (this one is repeated)")
        seen.add(name)


def _pod(top: Mapping[str, Any]) -> KubeObject:
    """The ``Pod``, checked as far as the service reads it before :mod:`cloudedge.inputs`."""
    pod = _field(top, "Pod")
    if not isinstance(pod, dict):
        raise WireError("Pod", pod, "a v1 Pod object")
    meta = pod.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise WireError("Pod.metadata", meta, "an object")
    annotations = (meta or {}).get("annotations")
    if annotations is not None and not isinstance(annotations, dict):
        raise WireError("Pod.metadata.annotations", annotations, "an object")
    return pod


def _node_list(nodes: Any) -> tuple[KubeObject, ...]:
    if not isinstance(nodes, dict):
        raise WireError("Nodes", nodes, "a v1 NodeList object")
    items = nodes.get("items")
    if items is None:  # Go marshals an empty NodeList's nil Items as null
        return ()
    if not isinstance(items, list):
        raise WireError("Nodes.items", items, "a list of v1 Node objects")
    for i, item in enumerate(items):
        meta = item.get("metadata") if isinstance(item, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            raise WireError(f"Nodes.items[{i}].metadata.name", name, "a node name")
    _unique([item["metadata"]["name"] for item in items], "Nodes.items[].metadata.name")
    return tuple(items)


def _int64(value: Any, key: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WireError(key, value, "an integer")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise WireError(key, value, "an integer")
        value = int(value)
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise WireError(key, value, "a 64-bit integer")
    return number


def _meta_victims(value: Any, where: str) -> MetaVictims | None:
    if value is None:
        return None
    obj = _object(value, where)
    pods = _field(obj, "Pods")
    out: list[MetaPod] | None = None
    if pods is not None:
        if not isinstance(pods, list):
            raise WireError(f"{where}.Pods", pods, "a list of {UID} objects")
        out = []
        for i, p in enumerate(pods):
            uid = _field(_object(p, f"{where}.Pods[{i}]"), "UID", missing="")
            if not isinstance(uid, str):
                raise WireError(f"{where}.Pods[{i}].UID", uid, "a string")
            out.append(MetaPod(UID=uid))
    pdb = _int64(_field(obj, "NumPDBViolations"), f"{where}.NumPDBViolations")
    return MetaVictims(Pods=out, NumPDBViolations=pdb)


def _full_victims(value: Any, where: str) -> MetaVictims | None:
    """Full-pod ``Victims`` reduced to what the reply carries: the UIDs (MetaVictims)."""
    if value is None:
        return None
    obj = _object(value, where)
    pods = _field(obj, "Pods")
    out: list[MetaPod] | None = None
    if pods is not None:
        if not isinstance(pods, list):
            raise WireError(f"{where}.Pods", pods, "a list of v1 Pod objects")
        out = []
        for i, p in enumerate(pods):
            meta = _object(p, f"{where}.Pods[{i}]").get("metadata") or {}
            uid = meta.get("uid", "") if isinstance(meta, dict) else None
            if not isinstance(uid, str):
                raise WireError(f"{where}.Pods[{i}].metadata.uid", uid, "a string")
            out.append(MetaPod(UID=uid))
    pdb = _int64(_field(obj, "NumPDBViolations"), f"{where}.NumPDBViolations")
    return MetaVictims(Pods=out, NumPDBViolations=pdb)
