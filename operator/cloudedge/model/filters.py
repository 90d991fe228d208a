"""Filters: which nodes may take a pod at all, and why the others may not.

Each filter returns a boolean mask over nodes. The first filter a node fails gives its
reason, as kube-scheduler's framework does, and reasons are counted the same way in
``FailedScheduling`` messages. A failure is *unresolvable* when evicting pods could never help
(wrong tier, affinity, a deadline that even an idle node misses): the extender reports those
in ``FailedAndUnresolvableNodes`` so preemption skips them.
"""

from __future__ import annotations

import collections

import numpy as np
import numpy.typing as npt

from cloudedge.model import state as state_mod
from cloudedge.model import types

REASON_NO_TIER = "node(s) had no cloudedge.io/tier label"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NOT_READY = "node(s) were not ready"
REASON_TAINT = "node(s) had untolerated taint(s)"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
RESOURCE_REASONS = ("Insufficient cpu", "Insufficient memory", "Too many pods")

# A float tolerance for "fits": requests are sums of parsed quantities, and 0.1+0.2 must not
# overcommit or reject by a rounding error. Far below one millicore or one byte.
FIT_EPSILON = 1e-6


def tier_reason(tier: types.Tier) -> str:
    """Reason for nodes outside the pod's required tier."""
    return f"node(s) were not in the required tier {tier.value}"


def deadline_reason(max_latency_ms: float) -> str:
    """Reason for nodes whose estimated completion time misses the pod's deadline."""
    return f"node(s) missed the {max_latency_ms:g}ms deadline"


PASS = 0
"""Failure codes, in filter order; a node's code is the first filter it failed."""
NO_TIER, UNSCHEDULABLE, NOT_READY, TAINT, AFFINITY, TIER, RESOURCES, DEADLINE = range(1, 9)
_FIXED_REASONS = {
    NO_TIER: REASON_NO_TIER,
    UNSCHEDULABLE: REASON_UNSCHEDULABLE,
    NOT_READY: REASON_NOT_READY,
    TAINT: REASON_TAINT,
    AFFINITY: REASON_AFFINITY,
}


class FilterResult:
    """Per-node verdicts: feasible mask, the first failing filter, and unresolvable mask.

    Failures are kept as codes (and a bit per short resource) and turned into text only when
    a message is built: a full cluster of thousands of nodes must not cost a Python loop per
    node and per decision.
    """

    __slots__ = ("code", "feasible", "short", "texts", "unresolvable")

    def __init__(self, n: int, *, texts: dict[int, str] | None = None) -> None:
        self.feasible: state_mod.BoolArray = np.ones(n, dtype=bool)
        self.code = np.zeros(n, dtype=np.int8)
        self.short: npt.NDArray[np.bool_] | None = None  # allocated when a resource fails
        self.unresolvable: state_mod.BoolArray = np.zeros(n, dtype=bool)
        self.texts = dict(_FIXED_REASONS)
        if texts:
            self.texts.update(texts)

    def fail(self, mask: state_mod.BoolArray, code: int, *, unresolvable: bool) -> None:
        """Mark still-feasible nodes in ``mask`` as failed with ``code``."""
        hit = mask & self.feasible
        self.code[hit] = code
        self.feasible &= ~hit
        if unresolvable:
            self.unresolvable |= hit

    def reason(self, i: int) -> tuple[str, ...]:
        """Node ``i``'s failure reasons (empty when it passed)."""
        code = int(self.code[i])
        if code == PASS:
            return ()
        if code == RESOURCES:
            assert self.short is not None
            return tuple(r for r, bit in zip(RESOURCE_REASONS, self.short[i], strict=True) if bit)
        return (self.texts[code],)

    def summary(self) -> str:
        """kube-scheduler's message: ``0/8 nodes are available: 5 ..., 3 Insufficient cpu.``"""
        counts: collections.Counter[str] = collections.Counter()
        failed = ~self.feasible
        codes = np.bincount(self.code[failed].astype(np.int64), minlength=DEADLINE + 1)
        for code, count in enumerate(codes.tolist()):
            if count and code not in (PASS, RESOURCES):
                counts[self.texts[code]] += count
        if self.short is not None:
            resource_rows = failed & (self.code == RESOURCES)
            for k, reason in enumerate(RESOURCE_REASONS):
                count = int(self.short[resource_rows, k].sum())
                if count:
                    counts[reason] += count
        total = len(self.feasible)
        available = int(self.feasible.sum())
        if not counts:
            return f"{available}/{total} nodes are available."
        parts = sorted(f"{count} {reason}" for reason, count in counts.items())
        return f"{available}/{total} nodes are available: {', '.join(parts)}."


def static_filters(pod: types.Pod, cluster: state_mod.ClusterState) -> FilterResult:
    """Filters that do not depend on usage: labels, readiness, taints, affinity, tier."""
    texts = {}
    if pod.tier is not None:
        texts[TIER] = tier_reason(pod.tier)
    if pod.max_latency_ms is not None:
        texts[DEADLINE] = deadline_reason(pod.max_latency_ms)
    result = FilterResult(len(cluster), texts=texts)
    # The pod-independent filters are precomputed per state: copy, do not recompute.
    base = cluster.base_code
    if cluster.any_base_failure:
        result.code[:] = base
        result.feasible[:] = base == PASS
        result.unresolvable[:] = base == NO_TIER
    if cluster.any_hard_taint:
        result.fail(_untolerated(pod, cluster), TAINT, unresolvable=True)
    if pod.node_selector or pod.affinity_terms:
        result.fail(~_affinity_match(pod, cluster), AFFINITY, unresolvable=True)
    if pod.tier is not None:
        wanted = state_mod.TIER_CLOUD if pod.tier is types.Tier.CLOUD else state_mod.TIER_EDGE
        result.fail(cluster.tier != wanted, TIER, unresolvable=True)
    return result


def resource_filter(pod: types.Pod, cluster: state_mod.ClusterState, result: FilterResult) -> None:
    """Fail nodes without room for the pod's requests: never overcommit, on any resource."""
    req = np.asarray(pod.requests, dtype=np.float64)
    short = cluster.used + req > cluster.allocatable_fit
    if not short.any():
        return
    short[:, req <= 0] = False  # a zero request fits even a full (or zero-capacity) axis
    lacking = short.any(axis=1) & result.feasible
    result.short = short
    # Too big for the node even when empty: no preemption can help.
    never = (req > cluster.allocatable + FIT_EPSILON).any(axis=1) & lacking
    result.unresolvable |= never
    result.fail(lacking, RESOURCES, unresolvable=False)


def _untolerated(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    mask = np.zeros(len(cluster), dtype=bool)
    for i in np.flatnonzero(cluster.hard_tainted):
        for taint in cluster.nodes[i].taints:
            if taint.effect not in state_mod.NO_SCHEDULE_EFFECTS:
                continue
            if not any(tol.tolerates(taint) for tol in pod.tolerations):
                mask[i] = True
                break
    return mask


def _affinity_match(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    ok = np.ones(len(cluster), dtype=bool)
    for key, value in pod.node_selector.items():
        values, present = cluster.label_column(key)
        ok &= present & (values == value)
    if pod.affinity_terms:
        any_term = np.zeros(len(cluster), dtype=bool)
        for term in pod.affinity_terms:
            for i in np.flatnonzero(ok & ~any_term):
                node = cluster.nodes[i]
                if term.matches(node.labels, node_name=node.name):
                    any_term[i] = True
        ok &= any_term
    return ok
