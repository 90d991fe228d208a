"""Evaluate one pod against every node: filters, terms, completion time and score.

This is the single decision function both front ends and the simulator call. It returns an
:class:`Evaluation` holding everything needed to bind (the best node), to explain (each term
per node) and to report failures (counted reasons).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from cloudedge.model import filters, terms, types
from cloudedge.model import state as state_mod

# Ties between equal scores are broken by completion time, then by node order; a score
# difference below this is a tie (floating-point noise must not pick the slower node).
SCORE_TIE = 1e-9


@dataclasses.dataclass(frozen=True)
class NodeTerms:
    """One node's breakdown for one pod, as events and ``cloudedge explain`` show it."""

    node: str
    feasible: bool
    reasons: tuple[str, ...]
    transfer_s: float
    waiting_s: float
    processing_s: float
    leftover_ratio: float
    ect_s: float
    score: float

    def describe(self) -> str:
        """``transfer=…s waiting=…s processing=…s leftover=… ect=…s score=…``."""
        return (
            f"transfer={self.transfer_s:.4g}s waiting={self.waiting_s:.4g}s "
            f"processing={self.processing_s:.4g}s leftover={self.leftover_ratio:.3f} "
            f"ect={self.ect_s:.4g}s score={self.score:.1f}"
        )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The model's verdict on every node for one pod.

    The terms are kept as one array each (not an n x 4 matrix): every operation on them is
    then over one contiguous row, several times faster in numpy than a column of a matrix
    (docs/benchmarks.md, scoring core).
    """

    pod: types.Pod
    node_names: list[str]
    result: filters.FilterResult
    columns: tuple[
        state_mod.FloatArray, state_mod.FloatArray, state_mod.FloatArray, state_mod.FloatArray
    ]
    """Per node: transfer s, waiting s, processing s, leftover ratio."""
    ect: state_mod.FloatArray
    """Estimated completion time (transfer + waiting + processing) per node, seconds."""
    time_good: state_mod.FloatArray
    """Time goodness (relative to the best node), 0..1."""
    capacity_good: state_mod.FloatArray
    """Capacity goodness (1 - leftover), 0..1."""
    scores: state_mod.FloatArray
    """0..100 on feasible nodes, 0 on the others."""

    @property
    def feasible(self) -> state_mod.BoolArray:
        """Mask of nodes that passed every filter."""
        return self.result.feasible

    @property
    def raw(self) -> state_mod.FloatArray:
        """n x 4: transfer s, waiting s, processing s, leftover ratio (built on demand)."""
        return np.column_stack(self.columns)

    @property
    def normalized(self) -> state_mod.FloatArray:
        """n x 2: time goodness and capacity goodness (built on demand)."""
        return np.column_stack((self.time_good, self.capacity_good))

    def best(self) -> int | None:
        """Index of the chosen node: highest score, then lowest completion time, then first."""
        feasible, scores = self.result.feasible, self.scores
        if not len(scores):
            return None
        i = int(scores.argmax())
        top = float(scores[i])
        tied = scores >= top - SCORE_TIE
        # Infeasible nodes score 0 and feasible ones more (the time goodness is positive):
        # a positive top score is a feasible node's, and a single one needs no tie-break.
        if top > SCORE_TIE and np.count_nonzero(tied) == 1:
            return i
        candidates = np.flatnonzero(feasible & tied)
        if not len(candidates):
            return None
        return int(candidates[np.argmin(self.ect[candidates])])

    def node_terms(self, i: int) -> NodeTerms:
        """The breakdown for node ``i``."""
        transfer, waiting, processing, leftover = self.columns
        return NodeTerms(
            node=self.node_names[i],
            feasible=bool(self.result.feasible[i]),
            reasons=self.result.reason(i),
            transfer_s=float(transfer[i]),
            waiting_s=float(waiting[i]),
            processing_s=float(processing[i]),
            leftover_ratio=float(leftover[i]),
            ect_s=float(self.ect[i]),
            score=float(self.scores[i]),
        )

    def failure_summary(self) -> str:
        """The ``FailedScheduling`` message with per-reason node counts."""
        return self.result.summary()


def room_taken(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
    """Per node: the share (0..1) of its free CPU ``pod`` would take, on edge nodes whose
    site does not hold the pod's data; 0 elsewhere.

    Greedy cannot see the pods still to come. Data is produced at the edge, and a pod bound
    by a deadline to its data's site has nowhere else to go: a pod that could run anywhere
    (no deadline, data elsewhere or none) is steered away from taking the last room of an
    edge node, in proportion to how much of it it would take (docs/model.md, "No stranding").
    """
    away = cluster.cached("edge-tier", _edge_mask)
    if pod.data_source is not None:
        site = (
            cluster.nodes[cluster.index[pod.data_source]].site
            if pod.data_source in cluster.index
            else pod.data_source
        )
        away = away & (cluster.cached("site-names", _site_names) != site)
    free = cluster.allocatable[:, 0] - cluster.usage[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(free > 0, pod.requests.cpu / free, 1.0)
    taken: state_mod.FloatArray = np.where(away, np.minimum(share, 1.0), 0.0)
    return taken


def _edge_mask(cluster: state_mod.ClusterState, _key: str) -> state_mod.BoolArray:
    mask: state_mod.BoolArray = cluster.tier == state_mod.TIER_EDGE
    mask.flags.writeable = False
    return mask


def _site_names(cluster: state_mod.ClusterState, _key: str) -> npt.NDArray[np.str_]:
    names: npt.NDArray[np.str_] = np.asarray(cluster.sites)[cluster.site_index]
    return names


_TERMS: dict[int, tuple[types.ModelConfig, tuple[terms.Term, ...]]] = {}


def _terms_of(config: types.ModelConfig) -> tuple[terms.Term, ...]:
    """The configured terms, built once per configuration object (a decision is ~100 us:
    validating and building four terms each time would be a visible share of it)."""
    entry = _TERMS.get(id(config))
    if entry is None or entry[0] is not config:
        if len(_TERMS) > 64:  # configurations are few and long-lived; bound it anyway
            _TERMS.clear()
        entry = (config, terms.build_terms(config))
        _TERMS[id(config)] = entry
    return entry[1]


def evaluate(
    pod: types.Pod,
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    term_set: tuple[terms.Term, ...] | None = None,
) -> Evaluation:
    """Filter and score ``pod`` on every node of ``cluster`` as it is now."""
    result = filters.static_filters(pod, cluster)
    filters.resource_filter(pod, cluster, result)
    active = term_set or _terms_of(config)
    transfer, waiting, processing, leftover = (term.compute(pod, cluster) for term in active)
    ect = transfer + waiting + processing
    if pod.max_latency_ms is not None:
        limit = pod.max_latency_ms / 1000.0 * (1 + 1e-12)
        late = (ect > limit) & result.feasible
        if late.any():
            result.fail(late, filters.DEADLINE, unresolvable=False)
            # Transfer and processing do not shrink by evicting anybody: missing the deadline
            # on them alone is unresolvable; missing it only through queueing is not.
            result.add_unresolvable(late & (transfer + processing > limit))
    profile = config.weights(pod.workload).as_array()
    columns = (transfer, waiting, processing, leftover)
    time_good, capacity_good = terms.normalize_columns(columns, result.feasible, profile)
    time_weight, capacity_weight = sum(profile[:3]), profile[3]
    total = time_weight + capacity_weight
    scores = time_good * (100.0 * time_weight / total)
    if capacity_weight:
        scores += capacity_good * (100.0 * capacity_weight / total)
    if config.locality_reserve > 0 and pod.max_latency_ms is None and pod.requests.cpu > 0:
        scores *= 1.0 - config.locality_reserve * room_taken(pod, cluster)
    # Both goodness values are in 0..1, so the score is in 0..100 up to rounding: cap it.
    scores = np.where(result.feasible, np.minimum(scores, 100.0, out=scores), 0.0)
    return Evaluation(
        pod=pod,
        node_names=cluster.names,
        result=result,
        columns=columns,
        ect=ect,
        time_good=time_good,
        capacity_good=capacity_good,
        scores=scores,
    )
