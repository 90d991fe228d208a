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
        n = len(cluster)
        if pod.data_source is None:
            return np.zeros(n, dtype=np.float64)
        view = cluster.source_view(pod.data_source)
        dst = cluster.bandwidth
        src = view.source_bw
        if self.model is types.BandwidthModel.BOTTLENECK:
            rate = np.minimum(dst, view.link_bw)
            if not math.isnan(src):
                rate = np.minimum(rate, src)
        else:
            rate = np.minimum((dst if math.isnan(src) else src) + dst, view.link_bw)
        seconds = view.latency_s + pod.data_size_mb * MEGABITS_PER_MEGABYTE / rate
        return np.where(view.on_node, 0.0, seconds)


class ProcessingTime(Term):
    """Seed 4.1.4, ``E_p = A_p / R_p``: the pod's work over the node's compute rate."""

    name = "processing"

    def compute(self, pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
        return pod.compute_cost / cluster.compute_rate


def utilization_after(
    pod: types.Pod, cluster: state_mod.ClusterState
) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """Per-node CPU and memory utilization (0..1+) if ``pod`` were placed there.

    Waiting and capacity both need it: it is memoized on the requests and the state's usage
    version, so one evaluation computes it once. A zero-capacity axis counts as full as soon
    as anything is requested on it.
    """
    key = (pod.requests[0], pod.requests[1], cluster.version)
    memo = cluster.memo.get("utilization")
    if memo is not None and memo[0] == key:
        return memo[1], memo[2]
    after = cluster.used[:, :2] + np.asarray(pod.requests[:2], dtype=np.float64)
    frac = after * cluster.inv_allocatable
    if cluster.zero_allocatable.any():
        zero = cluster.zero_allocatable
        frac[zero] = (after[zero] > 0) * 1.0
    cpu, mem = frac[:, 0], frac[:, 1]
    cluster.memo["utilization"] = (key, cpu, mem)
    return cpu, mem


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
        if pod.compute_cost > 0:
            service = pod.compute_cost / cluster.compute_rate
        else:
            service = np.full(len(cluster), self.default_service_seconds)
        result: state_mod.FloatArray = service * rho / (1.0 - rho)
        return result


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
    w_tr, w_wa, w_pr = weights[0], weights[1], weights[2]
    total = w_tr + w_wa + w_pr
    out = np.empty((values.shape[0], 2), dtype=np.float64)
    if total > 0:
        weighted = (w_tr * values[:, 0] + w_wa * values[:, 1] + w_pr * values[:, 2]) / total
        pool = weighted[feasible] if feasible.any() else weighted
        best = float(pool.min()) if pool.size else 0.0
        out[:, 0] = np.minimum((best + TIME_FLOOR_S) / (weighted + TIME_FLOOR_S), 1.0)
    else:
        out[:, 0] = 1.0
    out[:, 1] = 1.0 - values[:, 3]
    return out
