"""The four terms of the seed's section 4, one class each, vectorized over nodes.

Each term reads like a scheduler-framework score plugin: a name, validated arguments, and a
``compute`` that returns one value per node. Three terms are times in seconds (transfer,
waiting, processing) and add up to the estimated completion time; the fourth is the fraction
of capacity left over after placement. ``normalize`` turns them into 0..1 "goodness" values:
one for time (relative to the best node), one for capacity.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import numpy as np

from cloudedge.model import state as state_mod
from cloudedge.model import types

MEGABITS_PER_MEGABYTE = 8.0


class Term(abc.ABC):
    """A scoring term: one value per node for one pod."""

    name: ClassVar[str]

    @abc.abstractmethod
    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        """The term's value on every node of ``cluster`` for ``pod`` placed there."""


class TransferTime(Term):
    """Seed 4.1.3, ``D_t = f(D_s, R_s, R_d)``: latency plus data size over the link's rate.

    Zero when the data is on the node itself. The rate is the bottleneck of source, link and
    destination bandwidth by default; ``seed-sum`` uses the seed's ``R_s + R_d`` (capped by
    an explicit link bandwidth). A source with unknown bandwidth (a site without nodes)
    constrains nothing in the bottleneck model and counts as the destination's in the sum.
    """

    name = "transfer"

    def __init__(self, *, model: types.BandwidthModel = types.BandwidthModel.BOTTLENECK) -> None:
        self.model = types.BandwidthModel(model)

    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        if pod.data_source is None:
            return cluster.zeros
        latency, per_mb = cluster.cached(
            ("transfer", pod.data_source, self.model), self._per_source
        )
        if pod.data_size_mb == 0:
            return latency
        seconds: state_mod.FloatArray = latency + pod.data_size_mb * per_mb
        return seconds

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


class ProcessingTime(Term):
    """Seed 4.1.4, ``E_p = A_p / R_p``: the pod's work over the node's compute rate."""

    name = "processing"

    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        return processing_seconds(pod, cluster)


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


class WaitingTime(Term):
    """Seed 4.1.2 (``W_i`` from ``L_i`` and ``P_i``) made concrete with an M/M/1 queue.

    The mean wait in an M/M/1 queue is ``rho / (1 - rho)`` service times, where ``rho`` is the
    node's utilization ``L_i / P_i``; here ``rho`` is the larger of CPU and memory utilization
    after placement, capped at ``max_utilization`` so a full node costs a finite wait. The
    service time is the pod's own processing time, or ``default_service_seconds`` for a pod
    that declares no compute cost.
    """

    name = "waiting"

    def __init__(
        self, *, default_service_seconds: float = 0.1, max_utilization: float = 0.99
    ) -> None:
        if not (default_service_seconds > 0 and math.isfinite(default_service_seconds)):
            raise ValueError("default_service_seconds must be finite and > 0")
        if not 0 < max_utilization < 1:
            raise ValueError("max_utilization must be in (0, 1)")
        self.default_service_seconds = default_service_seconds
        self.max_utilization = max_utilization

    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        cpu, mem = utilization_after(pod, cluster)
        rho = np.minimum(np.maximum(cpu, mem), self.max_utilization)
        queued = rho / (1.0 - rho)
        if pod.compute_cost > 0:
            queued *= processing_seconds(pod, cluster)
        else:
            queued *= self.default_service_seconds
        return queued


class CapacityFit(Term):
    """Seed 4.1.1, ``min sum(C_i - U_i)``: the share of CPU and memory left after placement.

    The seed minimizes leftover capacity (pack nodes tightly); the value here is the leftover
    fraction (mean of CPU and memory, 0..1), and normalization rewards a small one.
    """

    name = "capacity"

    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        cpu, mem = utilization_after(pod, cluster)
        leftover: state_mod.FloatArray = np.maximum(1.0 - (cpu + mem) * 0.5, 0.0)
        return leftover


TERM_NAMES: tuple[str, ...] = ("transfer", "waiting", "processing", "capacity")


def build_terms(config: types.ModelConfig) -> tuple[Term, Term, Term, Term]:
    """The four terms in :data:`TERM_NAMES` order, configured from ``config``."""
    return (
        TransferTime(model=config.bandwidth_model),
        WaitingTime(
            default_service_seconds=config.default_service_seconds,
            max_utilization=config.max_utilization,
        ),
        ProcessingTime(),
        CapacityFit(),
    )


TIME_FLOOR_S = 0.001
"""Completion times are compared as ratios with this added to both sides: below a
millisecond, differences are noise, and an all-zero node must not make every other node 0."""


def normalize(
    values: state_mod.FloatArray,
    feasible: state_mod.BoolArray,
    weights: tuple[float, float, float, float],
) -> state_mod.FloatArray:
    """Turn raw terms (n x 4: three times, then leftover) into two 0..1 goodness columns.

    Column 0, time: the profile's weighted completion time ``T_w`` (the time terms averaged
    with their weights) as a ratio to the best feasible node's, ``(T_w,best + f) / (T_w + f)``
    with ``f`` = :data:`TIME_FLOOR_S`. The best node scores 1, a node twice as slow about 0.5:
    the scale is the best node's time, so one slow outlier (a full node, a far site) cannot
    squeeze the differences between good nodes, and when all nodes tie they all score 1.
    Column 1, capacity: ``1 - leftover``, absolute (a node left full scores 1, an idle one 0).
    """
    time_good, capacity_good = normalize_columns(
        (values[:, 0], values[:, 1], values[:, 2], values[:, 3]), feasible, weights
    )
    return np.column_stack((time_good, capacity_good))


def normalize_columns(
    columns: tuple[state_mod.FloatArray, ...],
    feasible: state_mod.BoolArray,
    weights: tuple[float, float, float, float],
) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """:func:`normalize` on the four terms as separate arrays (the form ``evaluate`` has):
    time goodness and capacity goodness, each one value per node."""
    total = weights[0] + weights[1] + weights[2]
    n = len(columns[3])
    if total > 0:
        weighted: state_mod.FloatArray | None = None
        for w, col in zip(weights[:3], columns[:3], strict=True):
            if w:
                part = col * (w / total)
                weighted = part if weighted is None else np.add(weighted, part, out=weighted)
        assert weighted is not None
        if np.count_nonzero(feasible):
            best = float(weighted[feasible].min())
        else:  # nothing feasible: relative to all nodes, so explain still ranks them
            best = float(weighted.min()) if n else 0.0
        # In place: ``weighted`` is this function's own temporary.
        time_good = np.add(weighted, TIME_FLOOR_S, out=weighted)
        np.divide(best + TIME_FLOOR_S, time_good, out=time_good)
        np.minimum(time_good, 1.0, out=time_good)
    else:
        time_good = np.ones(n, dtype=np.float64)
    capacity_good = 1.0 - columns[3]
    return time_good, capacity_good
