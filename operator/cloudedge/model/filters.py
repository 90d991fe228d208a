"""Filters: which nodes may take a pod at all, and why the others may not.

Each filter returns a boolean mask over nodes. The first filter a node fails gives its
reason, as kube-scheduler's framework does, and reasons are counted the same way in
``FailedScheduling`` messages. A failure is *unresolvable* when evicting pods could never help
(wrong tier, affinity, a deadline that even an idle node misses): the extender reports those
in ``FailedAndUnresolvableNodes`` so preemption skips them.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

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


@dataclasses.dataclass
class FilterResult:
    """Per-node verdicts: feasible mask, first failure reason(s), and unresolvable mask."""

    feasible: state_mod.BoolArray
    reasons: list[tuple[str, ...]]
    unresolvable: state_mod.BoolArray

    def fail(self, mask: state_mod.BoolArray, reason: str, *, unresolvable: bool) -> None:
        """Mark still-feasible nodes in ``mask`` as failed with ``reason``."""
        hit = mask & self.feasible
        if not hit.any():
            return
        for i in np.flatnonzero(hit):
            self.reasons[i] = (reason,)
        self.feasible &= ~hit
        if unresolvable:
            self.unresolvable |= hit

    def summary(self) -> str:
        """kube-scheduler's message: ``0/8 nodes are available: 5 ..., 3 Insufficient cpu.``"""
        counts: collections.Counter[str] = collections.Counter()
        for i in np.flatnonzero(~self.feasible):
            counts.update(self.reasons[i])
        total = len(self.feasible)
        available = int(self.feasible.sum())
        if not counts:
            return f"{available}/{total} nodes are available."
        parts = sorted(f"{count} {reason}" for reason, count in counts.items())
        return f"{available}/{total} nodes are available: {', '.join(parts)}."


def static_filters(pod: types.Pod, cluster: state_mod.ClusterState) -> FilterResult:
    """Filters that do not depend on usage: labels, readiness, taints, affinity, tier."""
    n = len(cluster)
    result = FilterResult(
        feasible=np.ones(n, dtype=bool),
        reasons=[()] * n,
        unresolvable=np.zeros(n, dtype=bool),
    )
    result.fail(cluster.tier == state_mod.TIER_NONE, REASON_NO_TIER, unresolvable=True)
    result.fail(~cluster.schedulable, REASON_UNSCHEDULABLE, unresolvable=False)
    result.fail(~cluster.ready, REASON_NOT_READY, unresolvable=False)
    if cluster.hard_tainted.any():
        result.fail(_untolerated(pod, cluster), REASON_TAINT, unresolvable=True)
    if pod.node_selector or pod.affinity_terms:
        result.fail(~_affinity_match(pod, cluster), REASON_AFFINITY, unresolvable=True)
    if pod.tier is not None:
        wanted = state_mod.TIER_CLOUD if pod.tier is types.Tier.CLOUD else state_mod.TIER_EDGE
        result.fail(cluster.tier != wanted, tier_reason(pod.tier), unresolvable=True)
    return result


def resource_filter(pod: types.Pod, cluster: state_mod.ClusterState, result: FilterResult) -> None:
    """Fail nodes without room for the pod's requests: never overcommit, on any resource."""
    req = np.asarray(pod.requests, dtype=np.float64)
    short = cluster.used + req > cluster.allocatable + FIT_EPSILON
    short[:, req <= 0] = False  # a zero request fits even a full (or zero-capacity) axis
    lacking = short.any(axis=1) & result.feasible
    for i in np.flatnonzero(lacking):
        result.reasons[i] = tuple(
            RESOURCE_REASONS[k] for k in range(len(RESOURCE_REASONS)) if short[i, k]
        )
    # Too big for the node even when empty: no preemption can help.
    never = (req > cluster.allocatable + FIT_EPSILON).any(axis=1) & lacking
    result.unresolvable |= never
    result.feasible &= ~lacking


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
