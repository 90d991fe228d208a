"""Evaluate one pod against every node: filters, terms, completion time and score.

This is the single decision function both front ends and the simulator call. It returns an
:class:`Evaluation` holding everything needed to bind (the best node), to explain (each term
per node) and to report failures (counted reasons).
"""

from __future__ import annotations

import dataclasses

import numpy as np

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
    """The model's verdict on every node for one pod."""

    pod: types.Pod
    node_names: list[str]
    result: filters.FilterResult
    raw: state_mod.FloatArray
    """n x 4: transfer s, waiting s, processing s, leftover ratio."""
    normalized: state_mod.FloatArray
    """n x 2: time goodness (relative to the best node) and capacity goodness, 0..1."""
    scores: state_mod.FloatArray
    """0..100 on feasible nodes, 0 on the others."""

    @property
    def feasible(self) -> state_mod.BoolArray:
        """Mask of nodes that passed every filter."""
        return self.result.feasible

    @property
    def ect(self) -> state_mod.FloatArray:
        """Estimated completion time (transfer + waiting + processing) per node, seconds."""
        ect: state_mod.FloatArray = self.raw[:, :3].sum(axis=1)
        return ect

    def best(self) -> int | None:
        """Index of the chosen node: highest score, then lowest completion time, then first."""
        feasible = self.result.feasible
        if not feasible.any():
            return None
        top = float(self.scores[feasible].max())
        tied = feasible & (self.scores >= top - SCORE_TIE)
        candidates = np.flatnonzero(tied)
        return int(candidates[np.argmin(self.ect[candidates])])

    def node_terms(self, i: int) -> NodeTerms:
        """The breakdown for node ``i``."""
        return NodeTerms(
            node=self.node_names[i],
            feasible=bool(self.result.feasible[i]),
            reasons=self.result.reason(i),
            transfer_s=float(self.raw[i, 0]),
            waiting_s=float(self.raw[i, 1]),
            processing_s=float(self.raw[i, 2]),
            leftover_ratio=float(self.raw[i, 3]),
            ect_s=float(self.raw[i, :3].sum()),
            score=float(self.scores[i]),
        )

    def failure_summary(self) -> str:
        """The ``FailedScheduling`` message with per-reason node counts."""
        return self.result.summary()


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
    n = len(cluster)
    raw = np.empty((n, 4), dtype=np.float64)
    for k, term in enumerate(active):
        raw[:, k] = term.compute(pod, cluster)
    if pod.max_latency_ms is not None:
        deadline_s = pod.max_latency_ms / 1000.0
        ect = raw[:, :3].sum(axis=1)
        late = ect > deadline_s * (1 + 1e-12)
        # Transfer and processing do not shrink by evicting anybody: missing the deadline on
        # them alone is unresolvable; missing it only through queueing is not.
        hopeless = raw[:, 0] + raw[:, 2] > deadline_s * (1 + 1e-12)
        before = result.feasible.copy()
        result.fail(late, filters.DEADLINE, unresolvable=False)
        result.unresolvable |= hopeless & before & ~result.feasible
    profile = config.weights(pod.workload).as_array()
    normalized = terms.normalize(raw, result.feasible, profile)
    time_weight, capacity_weight = sum(profile[:3]), profile[3]
    scores = (
        100.0
        * (time_weight * normalized[:, 0] + capacity_weight * normalized[:, 1])
        / (time_weight + capacity_weight)
    )
    scores = np.where(result.feasible, np.minimum(np.maximum(scores, 0.0), 100.0), 0.0)
    return Evaluation(
        pod=pod,
        node_names=cluster.names,
        result=result,
        raw=raw,
        normalized=normalized,
        scores=scores,
    )
