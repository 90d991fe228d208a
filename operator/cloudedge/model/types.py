"""Typed, validated inputs of the placement model.

These are plain frozen dataclasses with no knowledge of Kubernetes objects: `cloudedge.inputs`
turns Nodes, Pods and NetworkTopology resources into them, and tests build them directly.
Quantities are already in base units here (CPU in millicores, memory in bytes) so the numeric
code never parses strings.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import numpy.typing as npt

from cloudedge.model import registry

RESOURCES: tuple[str, ...] = ("cpu", "memory", "pods")
"""The resource axes every cluster state has, first and in this order (the terms read CPU and
memory at rows 0 and 1); a state adds one axis per other resource its nodes offer
(``ephemeral-storage``, ``hugepages-2Mi``, ``nvidia.com/gpu``, ...), see ``ClusterState``."""

CPU, MEMORY, PODS = RESOURCES


def resource_reason(name: str) -> str:
    """kube-scheduler's NodeResourcesFit reason for a node short of ``name``."""
    return "Too many pods" if name == PODS else f"Insufficient {name}"


class ResourceList(Mapping[str, float]):
    """Amounts per named resource, in base units (CPU in millicores, bytes, counts), immutable.

    Any resource name Kubernetes accepts is a key: requests and capacities are named vectors,
    not tuples with CPU at index 0, so that a GPU or ephemeral storage is one more key rather
    than one more position everywhere. A missing name is an amount of 0 (:meth:`amount`).
    """

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, float] | None = None, /, **named: float) -> None:
        merged = {**(items or {}), **named}
        for name, value in merged.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"resource names are non-empty strings, got {name!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"resource {name}: amount must be finite and >= 0, got {value}")
        self._items: dict[str, float] = {k: float(v) for k, v in merged.items()}
        self._hash: int | None = None

    def __getitem__(self, name: str) -> float:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset((k, v) for k, v in self._items.items() if v))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        names = set(self._items) | set(other)
        return all(self.amount(n) == float(other.get(n, 0.0)) for n in names)

    def __repr__(self) -> str:
        return f"ResourceList({self._items!r})"

    def amount(self, name: str) -> float:
        """The amount of ``name``, 0 when absent."""
        return self._items.get(name, 0.0)

    @property
    def cpu(self) -> float:
        """CPU in millicores."""
        return self._items.get(CPU, 0.0)

    @property
    def memory(self) -> float:
        """Memory in bytes."""
        return self._items.get(MEMORY, 0.0)

    def __add__(self, other: Mapping[str, float]) -> ResourceList:
        out = dict(self._items)
        for name, value in other.items():
            out[name] = out.get(name, 0.0) + float(value)
        return ResourceList(out)

    @staticmethod
    def total(lists: Iterable[Mapping[str, float]]) -> ResourceList:
        """The sum of ``lists``, as adding them one after the other from nothing gives it, but
        building one list instead of one per term: the view sums every bound pod's requests
        per node each time it builds a state (25,000 lists made for 5,000 pods)."""
        out: dict[str, float] = {}
        for one in lists:
            items = one._items if isinstance(one, ResourceList) else one
            for name, value in items.items():
                out[name] = out.get(name, 0.0) + float(value)
        return ResourceList(out)

    def maximum(self, other: Mapping[str, float]) -> ResourceList:
        """Per resource, the larger amount of the two (init containers run one at a time)."""
        out = dict(self._items)
        for name, value in other.items():
            out[name] = max(out.get(name, 0.0), float(value))
        return ResourceList(out)

    def positive(self) -> tuple[str, ...]:
        """Names with an amount above zero."""
        return tuple(k for k, v in self._items.items() if v > 0)


NO_RESOURCES = ResourceList()
ONE_POD = ResourceList({PODS: 1.0})
"""What a pod without requests takes: one of the node's pod slots."""


def resource_list(value: Mapping[str, float] | ResourceList) -> ResourceList:
    """``value`` as a :class:`ResourceList` (dataclasses take plain dicts from tests and YAML)."""
    if isinstance(value, ResourceList):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"resources are named amounts such as {{'cpu': 500}}, got {value!r}")
    return ResourceList(value)


class Tier(enum.StrEnum):
    """Where a node sits: the big far-away cloud or the small nearby edge."""

    CLOUD = "cloud"
    EDGE = "edge"


class Workload(enum.StrEnum):
    """The kind of work a pod does; it selects the weight profile of the score."""

    LATENCY_SENSITIVE = "latency-sensitive"
    COMPUTE_INTENSIVE = "compute-intensive"
    DATA_INTENSIVE = "data-intensive"
    BATCH = "batch"


class BandwidthModel(enum.StrEnum):
    """How the data transfer rate of a link is derived from the bandwidths on its path.

    ``bottleneck`` (the default) divides by the slowest of source, destination and link;
    ``seed-sum`` is the seed article's ``D_s / (R_s + R_d)``, kept for comparison.
    """

    BOTTLENECK = "bottleneck"
    SEED_SUM = "seed-sum"


class CongestionModel(enum.StrEnum):
    """How the score and the joint solver charge the pods that share a node or a link with
    the one placed.

    ``sharing`` reads them as they run: a node's CPU shared among its pods in proportion to
    their requests, each link shared fairly among the transfers over it (the reading the
    testbed's measurements bore out for pods that start together and run to completion;
    docs/model.md, "Calibration"). ``queueing`` is the seed's M/M/1 wait on the node's
    requested share (the reading of pods that serve a steady stream of work). ``both`` (the
    default) charges the sum: the seconds shared CPU and links add as the pods run, and the
    M/M/1 wait of the node's final requested share, so that a placement is good by either
    reading rather than by one at the other's expense (docs/model.md, "Congestion model").
    Whichever it is, the estimated completion time that the deadline filter reads is the
    queueing one.
    """

    SHARING = "sharing"
    QUEUEING = "queueing"
    BOTH = "both"

    @property
    def shares(self) -> bool:
        """It charges the sharing reading's delays."""
        return self is not CongestionModel.QUEUEING

    @property
    def queues(self) -> bool:
        """It charges the M/M/1 wait on the node's requested share."""
        return self is not CongestionModel.SHARING


@dataclasses.dataclass(frozen=True)
class Taint:
    """A node taint; only ``NoSchedule`` and ``NoExecute`` keep pods away at scheduling time."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclasses.dataclass(frozen=True)
class Toleration:
    """A pod toleration with Kubernetes' matching rules (``Exists`` matches any value)."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """Whether this toleration lets the pod ignore ``taint`` (core/v1 semantics)."""
        if self.effect and self.effect != taint.effect:
            return False
        if not self.key:
            # An empty key with operator Exists tolerates every taint.
            return self.operator == "Exists"
        if self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return self.value == taint.value


@dataclasses.dataclass(frozen=True)
class SelectorRequirement:
    """One ``matchExpressions`` or ``matchFields`` entry of a node selector term."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Evaluate the requirement against a label map (core/v1 operators)."""
        present = self.key in labels
        value = labels.get(self.key, "")
        op = self.operator
        if op == "In":
            return present and value in self.values
        if op == "NotIn":
            return not present or value not in self.values
        if op == "Exists":
            return present
        if op == "DoesNotExist":
            return not present
        if op in ("Gt", "Lt"):
            if not present or len(self.values) != 1:
                return False
            try:
                have, want = int(value), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == "Gt" else have < want
        return False


@dataclasses.dataclass(frozen=True)
class SelectorTerm:
    """A ``nodeSelectorTerms`` entry: every requirement must hold (terms are ORed)."""

    match_expressions: tuple[SelectorRequirement, ...] = ()
    match_fields: tuple[SelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str], *, node_name: str) -> bool:
        """Whether a node with ``labels`` and ``node_name`` satisfies this term."""
        fields = {"metadata.name": node_name}
        if not self.match_expressions and not self.match_fields:
            # An empty term matches nothing, as in kube-scheduler.
            return False
        return all(r.matches(labels) for r in self.match_expressions) and all(
            r.matches(fields) for r in self.match_fields
        )


@dataclasses.dataclass(frozen=True)
class LabelSelector:
    """A metav1 LabelSelector: every ``matchLabels`` pair and every expression must hold.

    An empty selector matches every pod; an absent one (``None`` where a selector is optional)
    matches none, as in kube-scheduler's inter-pod affinity and topology spread.
    """

    match_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a pod with ``labels`` is selected."""
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )


@dataclasses.dataclass(frozen=True)
class PodAffinityTerm:
    """A required (anti-)affinity term: pods selected by ``selector`` in ``namespaces`` (every
    namespace when ``all_namespaces``), counted per value of the node label ``topology_key``.

    ``namespaces`` is already resolved against the owning pod: a term naming none means the
    owner's own namespace.
    """

    topology_key: str
    selector: LabelSelector | None
    namespaces: frozenset[str] = frozenset()
    all_namespaces: bool = False

    def selects(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether a pod in ``namespace`` with ``labels`` is one this term speaks of."""
        if self.selector is None:
            return False
        if not self.all_namespaces and namespace not in self.namespaces:
            return False
        return self.selector.matches(labels)


@dataclasses.dataclass(frozen=True)
class PreferredNodeTerm:
    """A ``preferredDuringSchedulingIgnoredDuringExecution`` node affinity entry: a node
    matching ``term`` gains ``weight`` (1..100) in the NodeAffinity score."""

    weight: int
    term: SelectorTerm


@dataclasses.dataclass(frozen=True)
class WeightedPodTerm:
    """A preferred pod (anti-)affinity entry: ``term`` counted with ``weight`` (1..100)."""

    weight: int
    term: PodAffinityTerm


@dataclasses.dataclass(frozen=True)
class HostPort:
    """A container port bound on the node (``hostPort``), with NodePorts' conflict rules."""

    port: int
    protocol: str = "TCP"
    ip: str = "0.0.0.0"

    def conflicts(self, other: HostPort) -> bool:
        """Same port and protocol, and the same IP or either one on every address (0.0.0.0)."""
        if self.port != other.port or self.protocol != other.protocol:
            return False
        return self.ip == other.ip or "0.0.0.0" in (self.ip, other.ip)


@dataclasses.dataclass(frozen=True)
class SpreadConstraint:
    """A ``topologySpreadConstraints`` entry (PodTopologySpread plugin semantics).

    ``selector`` already includes the ``matchLabelKeys`` of the owning pod. ``hard`` is
    ``whenUnsatisfiable: DoNotSchedule``; the policies say whether nodes that fail the pod's
    node affinity / untolerated taints count as domains (defaults Honor / Ignore).
    """

    max_skew: int
    topology_key: str
    selector: LabelSelector | None
    hard: bool = True
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_taints: bool = False


@dataclasses.dataclass(frozen=True)
class Node:
    """A candidate node as the model sees it.

    ``allocatable`` and ``used`` are named amounts (plain dicts are converted). ``tier`` is
    ``None`` for a node
    without the ``cloudedge.io/tier`` label: it is kept so the failure can be counted, but it
    never passes the filters.
    """

    name: str
    tier: Tier | None
    site: str
    bandwidth_mbps: float
    compute_rate: float
    allocatable: ResourceList
    used: ResourceList = NO_RESOURCES
    ready: bool = True
    schedulable: bool = True
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "allocatable", resource_list(self.allocatable))
        object.__setattr__(self, "used", resource_list(self.used))
        if not (self.bandwidth_mbps > 0 and math.isfinite(self.bandwidth_mbps)):
            raise ValueError(f"node {self.name}: bandwidth must be finite and > 0")
        if not (self.compute_rate > 0 and math.isfinite(self.compute_rate)):
            raise ValueError(f"node {self.name}: compute rate must be finite and > 0")


@dataclasses.dataclass(frozen=True)
class Pod:
    """A pod to place, with its requests (named amounts, the pod slot included) and its cloudedge
    annotations.

    ``compute_cost`` is the work A_p in the same units as a node's compute rate, so that
    processing time is ``compute_cost / compute_rate`` seconds.
    """

    name: str
    namespace: str = "default"
    uid: str = ""
    requests: ResourceList = ONE_POD
    workload: Workload = Workload.BATCH
    compute_cost: float = 0.0
    data_source: str | None = None
    data_size_mb: float = 0.0
    max_latency_ms: float | None = None
    tier: Tier | None = None
    node_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    affinity_terms: tuple[SelectorTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    host_ports: tuple[HostPort, ...] = ()
    affinity: tuple[PodAffinityTerm, ...] = ()
    """Required podAffinity terms."""
    anti_affinity: tuple[PodAffinityTerm, ...] = ()
    """Required podAntiAffinity terms (they also keep later pods away from this one)."""
    spread: tuple[SpreadConstraint, ...] = ()
    volume_node_terms: tuple[tuple[SelectorTerm, ...], ...] = ()
    """The required node affinity of each bound PersistentVolume the pod mounts, and the
    nodes its zone labels allow: a node must match one term of every group (VolumeBinding,
    VolumeZone)."""
    claims: tuple[str, ...] = ()
    """``namespace/name`` of each PersistentVolumeClaim the pod mounts: while it is bound or
    reserved, a ReadWriteOncePod claim among them keeps every other pod that mounts it off
    every node (VolumeRestrictions)."""
    volume_reason: str = ""
    """What a node ``volume_node_terms`` excludes is counted as (empty: kube's VolumeBinding
    reason, "volume node affinity conflict")."""
    preferred_node_affinity: tuple[PreferredNodeTerm, ...] = ()
    preferred_affinity: tuple[WeightedPodTerm, ...] = ()
    preferred_anti_affinity: tuple[WeightedPodTerm, ...] = ()
    """Preferred podAffinity / podAntiAffinity terms: scores, never filters (also read back
    for the pods placed later, as kube-scheduler's InterPodAffinity scoring does)."""
    annotated: bool = True
    """False for a pod without any ``cloudedge.io/`` annotation (extender pass-through)."""
    priority: int = 0
    """``spec.priority`` (the PriorityClass value the API server resolved; 0 without one):
    the joint solver places the pods of a higher priority first, as kube-scheduler's queue
    does."""

    @property
    def key(self) -> str:
        """``namespace/name``, the identity used in events, logs and reports."""
        return f"{self.namespace}/{self.name}"

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", resource_list(self.requests))

    @property
    def placement_id(self) -> str:
        """What identifies this pod among the pods placed on a node: its UID, else its key."""
        return self.uid or self.key

    @functools.cached_property
    def constrained_by_others(self) -> bool:
        """Whether placing this pod depends on the pods already placed (beyond their requests)."""
        return bool(self.host_ports or self.affinity or self.anti_affinity or self.spread)

    @functools.cached_property
    def has_preferences(self) -> bool:
        """Whether the pod states preferences that the preference terms score."""
        return bool(
            self.preferred_node_affinity
            or self.preferred_affinity
            or self.preferred_anti_affinity
            or any(not c.hard for c in self.spread)
        )

    @property
    def scores_later_pods(self) -> bool:
        """Whether, once placed, this pod moves the InterPodAffinity score of pods that come
        after it: its preferred terms and its required affinity count for them, symmetrically."""
        return bool(self.preferred_affinity or self.preferred_anti_affinity or self.affinity)

    @functools.cached_property
    def request_columns(
        self,
    ) -> dict[tuple[str, ...], tuple[npt.NDArray[np.float64], tuple[str, ...]]]:
        """Per resource axes of a state, the requests as a read-only column (axes x 1) and the
        requested names the axes lack: made once per pod and axes, because a pod is scored
        against every node on each attempt and the column broadcasts over them."""
        return {}

    def request_column(
        self, axes: tuple[str, ...]
    ) -> tuple[npt.NDArray[np.float64], tuple[str, ...]]:
        """The requests along ``axes``, and the positive requests of names not in ``axes``."""
        columns = self.request_columns
        found = columns.get(axes)
        if found is None:
            column = np.array([self.requests.amount(r) for r in axes], dtype=np.float64)
            column = column.reshape(-1, 1)
            column.flags.writeable = False
            missing = tuple(sorted(set(self.requests.positive()) - set(axes)))
            found = columns[axes] = (column, missing)
        return found


@dataclasses.dataclass(frozen=True)
class Link:
    """Measured latency (and optionally a bandwidth cap) between two sites, both directions."""

    a: str
    b: str
    latency_ms: float
    bandwidth_mbps: float | None = None


@dataclasses.dataclass(frozen=True)
class Topology:
    """Site-to-site network facts; what a ``NetworkTopology`` resource says, with defaults.

    Pairs of sites without an explicit link fall back by relation: the same site, two sites of
    the same tier, or a cloud site and an edge site. ``site_tiers`` names the tier of sites that
    have no node (a camera site, say); sites with nodes take their nodes' tier.
    """

    same_site_latency_ms: float = 0.5
    same_tier_latency_ms: float = 5.0
    cloud_edge_latency_ms: float = 40.0
    same_tier_bandwidth_mbps: float | None = None
    cloud_edge_bandwidth_mbps: float | None = None
    links: tuple[Link, ...] = ()
    site_tiers: Mapping[str, Tier] = dataclasses.field(default_factory=dict)


class Weights(Mapping[str, float]):
    """A weight profile: term name -> weight, checked against the term registry.

    Every name must be a registered term (:mod:`cloudedge.model.registry`), every weight finite
    and >= 0, and not all zero. A registered term left out weighs 0. Immutable and hashable.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, float] | None = None, /, **named: float) -> None:
        merged = {**(items or {}), **named}
        known = registry.names()
        for name, value in merged.items():
            if name not in known:
                raise ValueError(registry.unknown_message(str(name)))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"weight of {name}: a number >= 0, got {value!r}")
        if any(not math.isfinite(v) or v < 0 for v in merged.values()) or sum(merged.values()) <= 0:
            raise ValueError(f"weights must be finite, >= 0 and not all zero, got {merged}")
        self._items: dict[str, float] = {k: float(v) for k, v in merged.items()}

    def __getitem__(self, name: str) -> float:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        """Equal when every registered term weighs the same (a missing name is 0)."""
        if not isinstance(other, Mapping):
            return NotImplemented
        names = set(self) | set(other)
        return all(self.get(n, 0.0) == other.get(n, 0.0) for n in names)

    def __hash__(self) -> int:
        return hash(frozenset((k, v) for k, v in self._items.items() if v))

    def __repr__(self) -> str:
        return f"Weights({self._items!r})"

    def weight(self, name: str) -> float:
        """The weight of term ``name``, 0 when the profile leaves it out."""
        return self._items.get(name, 0.0)

    def with_(self, changes: Mapping[str, float]) -> Weights:
        """A copy with ``changes`` applied (validated like a new profile)."""
        return Weights({**self._items, **changes})


_DEFAULTS: dict[Workload, tuple[int, Weights]] = {}


def default_weights(workload: Workload) -> Weights:
    """The built-in profile of ``workload``: each registered term's default weight for it
    (cached per version of the term registry)."""
    cached = _DEFAULTS.get(workload)
    if cached is None or cached[0] != registry.version():
        profile = Weights({e.name: e.weight_for(workload.value) for e in registry.entries()})
        cached = _DEFAULTS[workload] = (registry.version(), profile)
    return cached[1]


def default_profiles() -> dict[Workload, Weights]:
    """Every workload's built-in profile (see :func:`default_weights`)."""
    return {w: default_weights(w) for w in Workload}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Every tunable of the model, with the documented defaults."""

    profiles: Mapping[Workload, Weights] = dataclasses.field(default_factory=dict)
    """Workload -> weights; a workload left out gets its built-in profile (the registered
    terms' defaults, :func:`default_weights`) when the configuration is made."""
    bandwidth_model: BandwidthModel = BandwidthModel.BOTTLENECK
    congestion_model: CongestionModel = CongestionModel.BOTH
    """What the score charges for co-placed pods (:class:`CongestionModel`)."""
    default_service_seconds: float = 0.1
    """Mean service time of the M/M/1 waiting term for pods without a compute cost."""
    max_utilization: float = 0.99
    """Utilization cap of the waiting term: a full node waits 99 service times, not forever."""
    locality_reserve: float = 0.3
    """Greedy's no-stranding factor (docs/model.md, "No stranding"): a pod with no deadline
    and no data at an edge node's site keeps ``1 - locality_reserve * taken`` of its score
    there, ``taken`` being the share of the node's free CPU it would use. 0 turns it off."""

    def __post_init__(self) -> None:
        given = dict(self.profiles)
        for workload, weights in given.items():
            if not isinstance(weights, Weights):
                given[workload] = Weights(weights)
        object.__setattr__(self, "profiles", {**default_profiles(), **given})

    def without_terms(self, names: Iterable[str]) -> ModelConfig:
        """A copy in which the terms ``names`` weigh 0 in every profile; a profile that would
        then weigh nothing at all is kept as it is (it only weighs those terms on purpose)."""
        drop = dict.fromkeys(names, 0.0)
        profiles: dict[Workload, Weights] = {}
        for workload, weights in self.profiles.items():
            rest = sum(w for name, w in weights.items() if name not in drop)
            profiles[workload] = weights.with_(drop) if rest > 0 else weights
        return dataclasses.replace(self, profiles=profiles)

    def weights(self, workload: Workload) -> Weights:
        """The weights of ``workload``'s profile, falling back to the default profile."""
        found = self.profiles.get(workload)
        return found if found is not None else default_weights(workload)
