"""Evaluate one pod against every node: filters, terms, completion time and score.

This is the single decision function both front ends and the simulator call. It returns an
:class:`Evaluation` holding everything needed to bind (the best node), to explain (each term
per node) and to report failures (counted reasons).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from cloudedge.model import (
    filters,
    preferences,  # noqa: F401  (registers kube's preference terms)
    registry,
    terms,
    types,
)
from cloudedge.model import state as state_mod

# Ties between equal scores are broken by completion time, then by node order; a score
# difference below this is a tie (floating-point noise must not pick the slower node).
SCORE_TIE = 1e-9


@dataclasses.dataclass(frozen=True)
class NodeTerms:
    """One node's breakdown for one pod, as events and ``cloudedge explain`` show it.

    ``values`` holds every term that applied to the pod, by name, in registry order: seconds
    for time terms, the term's own value for fraction terms; ``goodness`` the fraction terms'
    0..1 goodness; ``shown`` each term as ``name=value`` text. A term that did not apply to the
    pod (a preference term of a pod without preferences) is absent.
    """

    node: str
    feasible: bool
    reasons: tuple[str, ...]
    values: Mapping[str, float]
    goodness: Mapping[str, float]
    shown: tuple[str, ...]
    ect_s: float
    score: float

    @property
    def transfer_s(self) -> float:
        """The transfer term, seconds (0 when it did not apply)."""
        return self.values.get("transfer", 0.0)

    @property
    def waiting_s(self) -> float:
        """The waiting term, seconds (0 when it did not apply)."""
        return self.values.get("waiting", 0.0)

    @property
    def processing_s(self) -> float:
        """The processing term, seconds (0 when it did not apply)."""
        return self.values.get("processing", 0.0)

    @property
    def leftover_ratio(self) -> float:
        """The capacity term's leftover share (0 when it did not apply)."""
        return self.values.get("capacity", 0.0)

    def describe(self) -> str:
        """``transfer=…s waiting=…s processing=…s leftover=… [preferences] ect=…s score=…``."""
        return " ".join((*self.shown, f"ect={self.ect_s:.4g}s", f"score={self.score:.1f}"))


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The model's verdict on every node for one pod.

    The terms are kept as one array each (not an n x k matrix): every operation on them is
    then over one contiguous row, several times faster in numpy than a column of a matrix
    (docs/benchmarks.md, scoring core).
    """

    pod: types.Pod
    node_names: list[str]
    result: filters.FilterResult
    terms: tuple[terms.Term, ...]
    """The terms that applied to the pod, in registry order."""
    values: Mapping[str, state_mod.FloatArray]
    """Per term name, one value per node (seconds for time terms)."""
    goodness: Mapping[str, state_mod.FloatArray]
    """Per fraction term name, its 0..1 goodness per node."""
    ect: state_mod.FloatArray
    """Estimated completion time (the sum of the time terms) per node, seconds."""
    time_good: state_mod.FloatArray
    """Time goodness (relative to the best node), 0..1."""
    scores: state_mod.FloatArray
    """0..100 on feasible nodes, 0 on the others."""

    @property
    def feasible(self) -> state_mod.BoolArray:
        """Mask of nodes that passed every filter."""
        return self.result.feasible

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
        values = {name: float(v[i]) for name, v in self.values.items()}
        goodness = {name: float(g[i]) for name, g in self.goodness.items()}
        shown = tuple(
            t.show(values[t.name], goodness.get(t.name, values[t.name])) for t in self.terms
        )
        return NodeTerms(
            node=self.node_names[i],
            feasible=bool(self.result.feasible[i]),
            reasons=self.result.reason(i),
            values=values,
            goodness=goodness,
            shown=shown,
            ect_s=float(self.ect[i]),
            score=float(self.scores[i]),
        )

    def failure_summary(self) -> str:
        """The ``FailedScheduling`` message with per-reason node counts."""
        return self.result.summary()


def _applied(plan: _Plan, values: Mapping[str, object]) -> tuple[terms.Term, ...]:
    """The terms of ``plan`` that gave ``values``, in registry order (memoized per set of
    names: pods fall into a few kinds, and every decision asks)."""
    names = tuple(values)
    found = plan.applied.get(names)
    if found is None:
        if plan.in_order and len(values) == len(plan.active):
            found = plan.active
        else:
            found = tuple(t for t in plan.active if t.name in values)
        if len(plan.applied) < 64:  # a bound, though the subsets of a few terms are few
            plan.applied[names] = found
    return found


def room_left(
    pod: types.Pod, cluster: state_mod.ClusterState, reserve: float
) -> state_mod.FloatArray:
    """Per node, the factor ``1 - reserve * share`` that steers ``pod`` off the last room of
    edge nodes away from its data, where ``share`` (0..1) is the part of the node's free CPU
    the pod would take, on edge nodes whose site does not hold the pod's data, and 0 elsewhere.

    Greedy cannot see the pods still to come. Data is produced at the edge, and a pod bound
    by a deadline to its data's site has nowhere else to go: a pod that could run anywhere
    (no deadline, data elsewhere or none) is steered away from taking the last room of an
    edge node, in proportion to how much of it it would take (docs/model.md, "No stranding").
    """
    if pod.data_source is None:
        away = cluster.cached("edge-tier", _edge_mask)
    else:
        site = (
            cluster.nodes[cluster.index[pod.data_source]].site
            if pod.data_source in cluster.index
            else pod.data_source
        )
        away = cluster.cached(("edge-away-from", site), _edge_away_from)
    # share = cpu / free, capped at 1; a full node (free <= 0) counts as taken whole. The
    # caller passes only pods with a CPU request, so the floor of the free CPU (in
    # ``inv_free_cpu``) never turns 0 into 1.
    factor: state_mod.FloatArray = np.multiply(cluster.inv_free_cpu, pod.requests.cpu * reserve)
    np.minimum(factor, reserve, out=factor)
    np.multiply(factor, away, out=factor)
    return np.subtract(1.0, factor, out=factor)


def _fixed_seconds(
    plan: _Plan, values: Mapping[str, state_mod.FloatArray]
) -> state_mod.FloatArray | None:
    """The sum of the time terms that do not grow with load (None: no such term applied)."""
    fixed: state_mod.FloatArray | None = None
    for term in plan.time:
        seconds = values.get(term.name)
        if seconds is None or term.grows_with_load:
            continue
        fixed = seconds if fixed is None else fixed + seconds
    return fixed


def _edge_mask(cluster: state_mod.ClusterState, _key: str) -> state_mod.BoolArray:
    mask: state_mod.BoolArray = cluster.tier == state_mod.TIER_EDGE
    mask.flags.writeable = False
    return mask


def _edge_away_from(
    cluster: state_mod.ClusterState, key: tuple[str, str | None]
) -> state_mod.BoolArray:
    """Edge nodes outside site ``key[1]`` (a node-only fact: cached per state and site)."""
    names: npt.NDArray[np.str_] = np.asarray(cluster.sites)[cluster.site_index]
    mask: state_mod.BoolArray = cluster.cached("edge-tier", _edge_mask) & (names != key[1])
    mask.flags.writeable = False
    return mask


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The configured terms split by kind, with each workload's weights in the same order:
    what ``evaluate`` needs, prepared once per configuration and registry version."""

    active: tuple[terms.Term, ...]
    time: tuple[terms.Term, ...]
    fractions: tuple[terms.Term, ...]
    in_order: bool
    """Whether the time terms then the fraction terms is the registry order."""
    weights: Mapping[types.Workload, tuple[tuple[float, ...], tuple[float, ...]]]
    applied: dict[tuple[str, ...], tuple[terms.Term, ...]] = dataclasses.field(default_factory=dict)
    """Memo of :func:`_applied`: the terms by the names of those that gave a value."""


def _plan(config: types.ModelConfig, active: tuple[terms.Term, ...]) -> _Plan:
    time = tuple(t for t in active if t.kind.seconds)
    fractions = tuple(t for t in active if not t.kind.seconds)
    weights = {}
    for workload in types.Workload:
        profile = config.weights(workload)
        weights[workload] = (
            tuple(profile.weight(t.name) for t in time),
            tuple(profile.weight(t.name) for t in fractions),
        )
    return _Plan(active, time, fractions, time + fractions == active, weights)


_PLANS: dict[int, tuple[types.ModelConfig, int, _Plan]] = {}


def _plan_of(config: types.ModelConfig) -> _Plan:
    """The plan of ``config``, built once per configuration object and registry version (a
    decision is ~100 us: validating and building the terms each time would be a visible
    share of it)."""
    entry = _PLANS.get(id(config))
    version = registry.version()
    if entry is None or entry[0] is not config or entry[1] != version:
        if len(_PLANS) > 64:  # configurations are few and long-lived; bound it anyway
            _PLANS.clear()
        entry = (config, version, _plan(config, terms.build_terms(config)))
        _PLANS[id(config)] = entry
    return entry[2]


def evaluate(
    pod: types.Pod,
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    term_set: tuple[terms.Term, ...] | None = None,
) -> Evaluation:
    """Filter and score ``pod`` on every node of ``cluster`` as it is now.

    The time terms add up to the ECT, which the deadline filter reads; a cost term's
    seconds (what the placement adds to other pods' completion) join the weighted time that
    the time goodness compares, but not the ECT. The fraction terms are computed after every
    filter, on the nodes left. The score (0..100) is the weighted mean of the time goodness
    (weight: the sum of the time terms' weights) and each fraction term's goodness, over the
    terms that applied to the pod. ``term_set`` replaces the
    registered terms (tests and benchmarks).
    """
    result = filters.static_filters(pod, cluster)
    filters.resource_filter(pod, cluster, result)
    plan = _plan_of(config) if term_set is None else _plan(config, term_set)
    time_weights, fraction_weights = plan.weights[pod.workload]
    values: dict[str, state_mod.FloatArray] = {}
    timed: list[tuple[float, state_mod.FloatArray]] = []
    ect: state_mod.FloatArray | None = None
    summed = 0
    time_weight = 0.0
    for term, w in zip(plan.time, time_weights, strict=True):
        seconds = term.compute(pod, cluster)
        if seconds is None:
            continue
        values[term.name] = seconds
        timed.append((w, term.score_seconds(pod, cluster, seconds)))
        if term.kind is terms.COST:  # weighed in the score, not part of the pod's completion
            continue
        time_weight += w
        summed += 1
        if ect is None:
            ect = seconds
        elif summed == 2:  # the first sum is a new array; later ones add into it
            ect = ect + seconds
        else:
            ect += seconds
    if ect is None:
        ect = cluster.zeros
    if pod.max_latency_ms is not None:
        limit = pod.max_latency_ms / 1000.0 * (1 + 1e-12)
        late = (ect > limit) & result.feasible
        if late.any():
            result.fail(late, filters.DEADLINE, unresolvable=False)
            # Fixed times (transfer, processing) do not shrink by evicting anybody: missing
            # the deadline on them alone is unresolvable; missing it only through queueing is
            # not. Summed only here: most pods meet their deadline somewhere.
            fixed = _fixed_seconds(plan, values)
            if fixed is not None:
                result.add_unresolvable(late & (fixed > limit))
    feasible = result.feasible
    n = len(ect)
    time_good = terms.time_goodness(timed, feasible, n, total=time_weight)
    goodness: dict[str, state_mod.FloatArray] = {}
    weighted: list[tuple[float, state_mod.FloatArray]] = []
    total = time_weight
    for term, w in zip(plan.fractions, fraction_weights, strict=True):
        raw = term.compute(pod, cluster, feasible=feasible)
        if raw is None:
            continue
        values[term.name] = raw
        good = goodness[term.name] = term.goodness(raw, feasible)
        if w:
            weighted.append((w, good))
            total += w
    if total > 0:
        scores = time_good * (100.0 * time_weight / total)
        part: state_mod.FloatArray | None = None
        for w, good in weighted:
            part = np.multiply(good, 100.0 * w / total, out=part)
            scores += part
    else:  # only terms that did not apply carry weight: every feasible node is as good
        scores = np.full(n, 100.0)
    if config.locality_reserve > 0 and pod.max_latency_ms is None and pod.requests.cpu > 0:
        scores *= room_left(pod, cluster, config.locality_reserve)
    # Every goodness is in 0..1, so the score is in 0..100 up to rounding: cap it.
    scores = np.where(feasible, np.minimum(scores, 100.0, out=scores), 0.0)
    return Evaluation(
        pod=pod,
        node_names=cluster.names,
        result=result,
        terms=_applied(plan, values),
        values=values,
        goodness=goodness,
        ect=ect,
        time_good=time_good,
        scores=scores,
    )
