"""The scoring terms, one class each, vectorized over nodes, and how they are registered.

Each term reads like a scheduler-framework score plugin: a name, a kind, validated arguments,
and a ``compute`` that returns one value per node (or ``None``: nothing to say about this
pod). The seed's four terms of section 4 are here: three are times in seconds (transfer,
waiting, processing) that add up to the estimated completion time, the fourth is the
fraction of capacity left over after placement. kube-scheduler's preference scores are in
:mod:`cloudedge.model.preferences`.

A term joins the model with :func:`register`: its name, kind and default weights go into
:mod:`cloudedge.model.registry`, which the weight profiles, the configuration file, the chart
schema, the score, events and ``explain`` all read. ``time_goodness`` turns the time terms into
one 0..1 goodness (relative to the best node); a fraction term brings its own ``goodness``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, TypeVar

import numpy as np

from cloudedge.model import contention, registry, types
from cloudedge.model import state as state_mod

MEGABITS_PER_MEGABYTE = 8.0

Kind = registry.Kind
TIME = registry.Kind.TIME
COST = registry.Kind.COST
FRACTION = registry.Kind.FRACTION


class Term(abc.ABC):
    """A scoring term: one value per node for one pod.

    ``kind`` says how the value enters the score (:class:`cloudedge.model.registry.Kind`).
    A time term with ``grows_with_load`` depends on the node's usage (queueing): the deadline
    filter and the final-state evaluator treat it apart from the fixed times.
    """

    name: ClassVar[str]
    kind: ClassVar[registry.Kind]
    grows_with_load: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config: types.ModelConfig) -> Term:
        """The term configured from ``config`` (terms without arguments ignore it)."""
        return cls()

    @abc.abstractmethod
    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        """The term's value on every node of ``cluster`` for ``pod`` placed there, or None
        when the term does not apply to ``pod`` (it is then left out of the pod's score).

        ``feasible`` is the mask of nodes that passed the filters, for terms that, like
        kube-scheduler's, look only at those (None: every node). Time terms are computed
        before the deadline filter and do not read it.
        """

    def score_seconds(
        self, pod: types.Pod, cluster: state_mod.ClusterState, values: state_mod.FloatArray
    ) -> state_mod.FloatArray:
        """What the score compares for this term, given its ``values`` (:meth:`compute`):
        the values themselves, except where the congestion model reads co-placed pods
        differently from the estimated completion time that the deadline filter reads
        (:class:`.types.CongestionModel`)."""
        return values

    def compute_many(
        self, pods: Sequence[types.Pod], cluster: state_mod.ClusterState
    ) -> state_mod.FloatArray:
        """Pods x nodes: :meth:`compute` of each pod on every node, 0 where the term does not
        apply (the batch solver's fixed costs). A term whose values are a matrix operation
        over the batch overrides it with that, with the same values."""
        out = np.zeros((len(pods), len(cluster)), dtype=np.float64)
        for p, pod in enumerate(pods):
            values = self.compute(pod, cluster)
            if values is not None:
                out[p] = values
        return out

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        """A fraction term's 0..1 goodness from its values (the values themselves by default)."""
        return values

    def shown_value(self, value: float, goodness: float) -> float:
        """The number events and explain print: seconds for a time term, the goodness of a
        fraction term."""
        return value if self.kind.seconds else goodness

    def show(self, value: float, goodness: float) -> str:
        """``name=value`` as events print it."""
        if self.kind.seconds:
            return f"{self.name}={value:.4g}s"
        return f"{self.name}={self.shown_value(value, goodness):.3f}"

    @property
    def label(self) -> str:
        """The column title in ``explain``'s table."""
        return self.name.upper()


T = TypeVar("T", bound=type[Term])


def register(
    *,
    summary: str,
    default: float = 0.0,
    defaults: Mapping[types.Workload, float] | None = None,
    kube_plugin: str | None = None,
) -> Callable[[T], T]:
    """Class decorator adding a term to the registry, with its built-in weights: ``default``
    in every profile, ``defaults`` per workload where they differ. ``summary`` is the one-line
    description the chart schema and the docs show; ``kube_plugin`` names the kube-scheduler
    score plugin the term reproduces (the extender leaves such terms to kube-scheduler)."""

    def add(cls: T) -> T:
        registry.add(
            registry.Entry(
                name=cls.name,
                kind=cls.kind,
                build=cls.from_config,
                summary=summary,
                default=default,
                defaults={w.value: v for w, v in (defaults or {}).items()},
                kube_plugin=kube_plugin,
            )
        )
        return cls

    return add


def unregister(name: str) -> None:
    """Remove a registered term (tests that register a toy term clean up with it)."""
    registry.remove(name)


def build_terms(config: types.ModelConfig) -> tuple[Term, ...]:
    """Every registered term, in registry order, configured from ``config``."""
    built: list[Term] = []
    for entry in registry.entries():
        term = entry.build(config)
        if not isinstance(term, Term):
            raise TypeError(f"term {entry.name}: build returned {term!r}, not a Term")
        built.append(term)
    return tuple(built)


_LATENCY = types.Workload.LATENCY_SENSITIVE
_COMPUTE = types.Workload.COMPUTE_INTENSIVE
_DATA = types.Workload.DATA_INTENSIVE
_BATCH = types.Workload.BATCH


@register(
    summary="seconds to move the pod's input data to the node (site latency plus size over rate)",
    defaults={_LATENCY: 0.45, _COMPUTE: 0.1, _DATA: 0.6, _BATCH: 0.2},
)
class TransferTime(Term):
    """Seed 4.1.3, ``D_t = f(D_s, R_s, R_d)``: latency plus data size over the link's rate.

    Zero when the data is on the node itself. The rate is the bottleneck of source, link and
    destination bandwidth by default; ``seed-sum`` uses the seed's ``R_s + R_d`` (capped by
    an explicit link bandwidth). A source with unknown bandwidth (a site without nodes)
    constrains nothing in the bottleneck model and counts as the destination's in the sum.

    With the ``sharing`` congestion model the score compares the transfer as it shares its
    links with the transfers of the pods already placed (:mod:`.contention`); the estimated
    completion time keeps the link to itself.
    """

    name = "transfer"
    kind = TIME

    def __init__(
        self,
        *,
        model: types.BandwidthModel = types.BandwidthModel.BOTTLENECK,
        congestion: types.CongestionModel = types.CongestionModel.SHARING,
    ) -> None:
        self.model = types.BandwidthModel(model)
        self.congestion = types.CongestionModel(congestion)

    @classmethod
    def from_config(cls, config: types.ModelConfig) -> Term:
        return cls(model=config.bandwidth_model, congestion=config.congestion_model)

    def score_seconds(
        self, pod: types.Pod, cluster: state_mod.ClusterState, values: state_mod.FloatArray
    ) -> state_mod.FloatArray:
        if not self.congestion.shares or pod.data_source is None:
            return values
        found = contention.delays(pod, cluster)
        if found is None:
            return values
        shared: state_mod.FloatArray = values + found.link
        return shared

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray:
        if pod.data_source is None:
            return cluster.zeros
        latency, per_mb = cluster.cached(
            ("transfer", pod.data_source, self.model), self._per_source
        )
        if pod.data_size_mb == 0:
            return latency
        seconds: state_mod.FloatArray = latency + pod.data_size_mb * per_mb
        return seconds

    def compute_many(
        self, pods: Sequence[types.Pod], cluster: state_mod.ClusterState
    ) -> state_mod.FloatArray:
        """:meth:`compute` for a batch: one broadcast per data source instead of one per pod."""
        out = np.zeros((len(pods), len(cluster)), dtype=np.float64)
        by_source: dict[str, list[int]] = {}
        for p, pod in enumerate(pods):
            if pod.data_source is not None:
                by_source.setdefault(pod.data_source, []).append(p)
        for source, rows in by_source.items():
            latency, per_mb = cluster.cached(("transfer", source, self.model), self._per_source)
            sizes = np.array([pods[p].data_size_mb for p in rows], dtype=np.float64)
            moving = sizes != 0  # no data: the latency alone (0 x an infinite per_mb is nan)
            index = np.asarray(rows)
            out[index[~moving]] = latency
            out[index[moving]] = latency + sizes[moving, None] * per_mb
        return out

    def _per_source(
        self, cluster: state_mod.ClusterState, key: tuple[str, str, types.BandwidthModel]
    ) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
        """Per node: latency (s) and seconds per megabyte from the source, both 0 on the node
        holding the data. They depend on the source and the nodes only, not on the pod or on
        usage, so a burst reading one camera site computes them once."""
        view = cluster.source_view(key[1])
        dst = cluster.bandwidth
        src = view.source_bw
        if self.model is types.BandwidthModel.BOTTLENECK:
            rate = np.minimum(dst, view.link_bw)
            if not math.isnan(src):
                rate = np.minimum(rate, src)
        else:
            rate = np.minimum((dst if math.isnan(src) else src) + dst, view.link_bw)
        latency = np.where(view.on_node, 0.0, view.latency_s)
        per_mb = np.where(view.on_node, 0.0, MEGABITS_PER_MEGABYTE / rate)
        latency.flags.writeable = False
        per_mb.flags.writeable = False
        return latency, per_mb


def utilization_after(
    pod: types.Pod, cluster: state_mod.ClusterState
) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """Per-node CPU and memory utilization (0..1+) if ``pod`` were placed there.

    Waiting and capacity both need it: it is memoized on the requests and the state's usage
    version, so one evaluation computes it once. A zero-capacity axis counts as full as soon
    as anything is requested on it.
    """
    key = (pod.requests.cpu, pod.requests.memory, cluster.version)
    memo = cluster.memo.get("utilization")
    if memo is not None and memo[0] == key:
        return memo[1], memo[2]
    usage, inv = cluster.usage, cluster.inv_allocatable
    cpu_after = usage[0] + pod.requests.cpu
    mem_after = usage[1] + pod.requests.memory
    cpu = cpu_after * inv[0]
    mem = mem_after * inv[1]
    if cluster.any_zero_allocatable:
        zero = cluster.zero_allocatable
        cpu = np.where(zero[0], (cpu_after > 0) * 1.0, cpu)
        mem = np.where(zero[1], (mem_after > 0) * 1.0, mem)
    cluster.memo["utilization"] = (key, cpu, mem)
    return cpu, mem


def processing_seconds(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
    """``compute_cost / compute_rate`` per node, memoized per cost and state (the waiting term
    uses it as its service time, the processing term is it)."""
    memo = cluster.memo.get("processing")
    if memo is not None and memo[0] == pod.compute_cost:
        seconds: state_mod.FloatArray = memo[1]
        return seconds
    seconds = pod.compute_cost / cluster.compute_rate
    seconds.flags.writeable = False  # shared by the two terms and by later pods of this cost
    cluster.memo["processing"] = (pod.compute_cost, seconds)
    return seconds


def processing_many(
    pods: Sequence[types.Pod], cluster: state_mod.ClusterState
) -> state_mod.FloatArray:
    """Pods x nodes: :func:`processing_seconds` of each pod, in one division."""
    costs = np.array([pod.compute_cost for pod in pods], dtype=np.float64)
    out: state_mod.FloatArray = costs[:, None] / cluster.compute_rate[None, :]
    return out


class _QueueingTerm(Term):
    """A term read off the node's M/M/1 queue: configured with the service time of a pod
    without a compute cost, the utilization at which the queue's growth is capped, and the
    congestion model the score reads co-placed pods with."""

    grows_with_load = True

    def __init__(
        self,
        *,
        default_service_seconds: float = 0.1,
        max_utilization: float = 0.99,
        congestion: types.CongestionModel = types.CongestionModel.SHARING,
    ) -> None:
        if not (default_service_seconds > 0 and math.isfinite(default_service_seconds)):
            raise ValueError("default_service_seconds must be finite and > 0")
        if not 0 < max_utilization < 1:
            raise ValueError("max_utilization must be in (0, 1)")
        self.default_service_seconds = default_service_seconds
        self.max_utilization = max_utilization
        self.congestion = types.CongestionModel(congestion)

    @classmethod
    def from_config(cls, config: types.ModelConfig) -> Term:
        return cls(
            default_service_seconds=config.default_service_seconds,
            max_utilization=config.max_utilization,
            congestion=config.congestion_model,
        )


@register(
    summary="seconds of queueing: M/M/1 wait from the node's utilization after placement",
    defaults={_LATENCY: 0.3, _COMPUTE: 0.2, _DATA: 0.15, _BATCH: 0.2},
)
class WaitingTime(_QueueingTerm):
    """Seed 4.1.2 (``W_i`` from ``L_i`` and ``P_i``) made concrete with an M/M/1 queue.

    The mean wait in an M/M/1 queue is ``rho / (1 - rho)`` service times, where ``rho`` is the
    node's utilization ``L_i / P_i``; here ``rho`` is the larger of CPU and memory utilization
    after placement, capped at ``max_utilization`` so a full node costs a finite wait. The
    service time is the pod's own processing time, or ``default_service_seconds`` for a pod
    that declares no compute cost. This wait is part of the estimated completion time, which
    the deadline filter reads.

    With the ``sharing`` congestion model the score compares instead the seconds the pod's
    processing takes longer because it shares the node's CPU with the pods already there
    (:mod:`.contention`): nothing on a node of its own, whatever share of it the pod requests.
    The M/M/1 wait counts the pod's own request as queued work, so a pod that requests a
    whole edge node is charged 99 service times there, even alone; the testbed measured no
    such wait.
    """

    def score_seconds(
        self, pod: types.Pod, cluster: state_mod.ClusterState, values: state_mod.FloatArray
    ) -> state_mod.FloatArray:
        if not self.congestion.shares:
            return values
        found = contention.delays(pod, cluster)
        if not self.congestion.queues:
            return cluster.zeros if found is None else found.cpu_own
        if found is None:
            return values
        both: state_mod.FloatArray = values + found.cpu_own
        return both

    name = "waiting"
    kind = TIME

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray:
        cpu, mem = utilization_after(pod, cluster)
        # In place on the one new array: a decision is a few dozen passes over the nodes.
        rho = np.maximum(cpu, mem)
        np.minimum(rho, self.max_utilization, out=rho)
        queued: state_mod.FloatArray = np.subtract(1.0, rho)
        np.divide(rho, queued, out=queued)
        if pod.compute_cost > 0:
            queued *= processing_seconds(pod, cluster)
        else:
            queued *= self.default_service_seconds
        return queued


@register(
    summary="seconds of processing: the pod's compute cost over the node's compute rate",
    defaults={_LATENCY: 0.25, _COMPUTE: 0.6, _DATA: 0.15, _BATCH: 0.2},
)
class ProcessingTime(Term):
    """Seed 4.1.4, ``E_p = A_p / R_p``: the pod's work over the node's compute rate."""

    name = "processing"
    kind = TIME

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray:
        return processing_seconds(pod, cluster)

    def compute_many(
        self, pods: Sequence[types.Pod], cluster: state_mod.ClusterState
    ) -> state_mod.FloatArray:
        return processing_many(pods, cluster)


@register(
    summary="capacity fit: the share of CPU and memory the node has in use after placement",
    defaults={_LATENCY: 0.0, _COMPUTE: 0.1, _DATA: 0.1, _BATCH: 0.4},
)
class CapacityFit(Term):
    """Seed 4.1.1, ``min sum(C_i - U_i)``: the share of CPU and memory left after placement.

    The seed minimizes leftover capacity (pack nodes tightly); the value here is the leftover
    fraction (mean of CPU and memory, 0..1), and its goodness, ``1 - leftover``, rewards a
    small one (absolute, not relative to other nodes: a node left full scores 1, an idle one 0).
    """

    name = "capacity"
    kind = FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray:
        cpu, mem = utilization_after(pod, cluster)
        leftover: state_mod.FloatArray = np.add(cpu, mem)
        np.multiply(leftover, -0.5, out=leftover)
        np.add(leftover, 1.0, out=leftover)
        return np.maximum(leftover, 0.0, out=leftover)

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        good: state_mod.FloatArray = 1.0 - values
        return good

    def shown_value(self, value: float, goodness: float) -> float:
        return value  # the leftover share, as the seed's C_i - U_i reads

    def show(self, value: float, goodness: float) -> str:
        return f"leftover={value:.3f}"

    @property
    def label(self) -> str:
        return "LEFTOVER"


@register(
    summary=(
        "seconds the placement adds to the completion of the pods already placed (not part"
        " of the pod's own completion time): their shared CPU and links, or their M/M/1 wait"
    ),
    defaults={_LATENCY: 0.3, _COMPUTE: 0.2, _DATA: 0.15, _BATCH: 0.2},
)
class Congestion(_QueueingTerm):
    """The wait a placement makes the node's other pods suffer: its marginal cost to them.

    The waiting term charges the pod its own M/M/1 wait; but the pod also raises the node's
    utilization for every pod already queued there, each of which then waits
    ``service * (f(rho_after) - f(rho_now))`` longer, with ``f(rho) = rho / (1 - rho)``
    (capped as the waiting term caps it). Greedy placement that looks only at the arriving
    pod's completion fills the nodes that look fastest now until they are the slowest for
    everyone on them; charging the pod this sum as well makes each decision minimize the
    increase in the total completion time, the batch solver's objective (the marginal cost
    of Quincy's and Firmament's convex congestion arcs). Its default weights are the waiting
    term's: other pods' seconds of waiting count as much as the pod's own.

    The service seconds on a node come from the pods of the model the state has placed there
    (``ClusterState.resident_service``; a pod without cloudedge annotations, a node's daemons
    or another application, loads the node through its requests but is not charged for); a
    state that knows no such pod (an empty cluster, or one built from usage alone) has nothing
    to charge, and the term does not apply.

    That is the ``queueing`` congestion model. With ``sharing`` the term is what the pod's run
    does to the pods already placed as they run (:mod:`.contention`): the seconds their
    processing takes longer on the node's shared CPU, and their transfers on the links the
    pod's transfer shares with them. With ``both`` (the default) it is the sum of the two.
    """

    name = "congestion"
    kind = COST

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        shared: state_mod.FloatArray | None = None
        if self.congestion.shares:
            found = contention.delays(pod, cluster)
            if found is not None:
                shared = found.cpu_others + found.link
            if not self.congestion.queues:
                return shared  # None: nobody placed computes or moves data
        queued, factor_now = self._queued(cluster)
        if queued is None or factor_now is None:
            return shared  # no pod anywhere to make wait: nothing more to charge
        cpu, mem = utilization_after(pod, cluster)
        # In place on the one new array, as the waiting term does.
        added: state_mod.FloatArray = np.maximum(cpu, mem)
        np.minimum(added, self.max_utilization, out=added)
        np.divide(added, np.subtract(1.0, added), out=added)
        added -= factor_now
        np.maximum(added, 0.0, out=added)
        added *= queued
        if shared is not None:
            added += shared
        return added

    def _queued(
        self, cluster: state_mod.ClusterState
    ) -> tuple[state_mod.FloatArray | None, state_mod.FloatArray | None]:
        """Per node: the queued service seconds and the M/M/1 factor now (None, None with
        nothing queued), memoized per usage version: they do not depend on the pod."""
        key = (cluster.version, self.default_service_seconds, self.max_utilization)
        memo = cluster.memo.get("congestion")
        if memo is not None and memo[0] == key:
            return memo[1], memo[2]
        queued: state_mod.FloatArray | None = cluster.resident_service(self.default_service_seconds)
        factor: state_mod.FloatArray | None = None
        if queued is not None and queued.any():
            usage, inv = cluster.usage, cluster.inv_allocatable
            factor = np.maximum(usage[0] * inv[0], usage[1] * inv[1])
            np.minimum(factor, self.max_utilization, out=factor)
            np.divide(factor, np.subtract(1.0, factor), out=factor)
        else:
            queued = None
        cluster.memo["congestion"] = (key, queued, factor)
        return queued, factor


TIME_FLOOR_S = 0.001
"""Completion times are compared as ratios with this added to both sides: below a
millisecond, differences are noise, and an all-zero node must not make every other node 0."""


def time_goodness(
    parts: Sequence[tuple[float, state_mod.FloatArray]],
    feasible: state_mod.BoolArray,
    n: int,
    *,
    total: float | None = None,
) -> state_mod.FloatArray:
    """The time terms (``(weight, seconds per node)`` pairs) as one 0..1 goodness per node.

    The profile's weighted completion time ``T_w`` (the time terms averaged with their weights)
    as a ratio to the best feasible node's, ``(T_w,best + f) / (T_w + f)`` with ``f`` =
    :data:`TIME_FLOOR_S`. The best node scores 1, a node twice as slow about 0.5: the scale is
    the best node's time, so one slow outlier (a full node, a far site) cannot squeeze the
    differences between good nodes, and when all nodes tie they all score 1. No weighted time
    (all weights 0) scores 1 everywhere.

    ``total`` is what the weighted sum is divided by (default: the sum of the weights). The
    score passes the time terms' weights only, so a cost term adds its weighted seconds to
    ``T_w`` without diluting the others: with nothing to charge it changes no score.
    """
    if total is None:
        total = 0.0
        for w, _ in parts:
            total += w
    if total <= 0:
        return np.ones(n, dtype=np.float64)
    weighted: state_mod.FloatArray | None = None
    part: state_mod.FloatArray | None = None
    for w, col in parts:
        if w:
            if weighted is None:
                weighted = col * (w / total)
            else:
                part = np.multiply(col, w / total, out=part)
                weighted += part
    assert weighted is not None
    # The best feasible node's time (one masked pass: cheaper than counting, then indexing).
    best = float(np.where(feasible, weighted, math.inf).min()) if n else math.inf
    if best == math.inf:  # nothing feasible: relative to all nodes, so explain still ranks them
        best = float(weighted.min()) if n else 0.0
    # In place: ``weighted`` is this function's own temporary.
    time_good = np.add(weighted, TIME_FLOOR_S, out=weighted)
    np.divide(best + TIME_FLOOR_S, time_good, out=time_good)
    np.minimum(time_good, 1.0, out=time_good)
    return time_good
