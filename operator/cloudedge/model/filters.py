"""Filters: which nodes may take a pod at all, and why the others may not.

Each filter returns a boolean mask over nodes. The first filter a node fails gives its
reason, as kube-scheduler's framework does, and reasons are counted the same way in
``FailedScheduling`` messages. A failure is *unresolvable* when evicting pods could never help
(wrong tier, affinity, a deadline that even an idle node misses): the extender reports those
in ``FailedAndUnresolvableNodes`` so preemption skips them.
"""

from __future__ import annotations

import collections
import functools
import types as types_mod
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from cloudedge.model import interpod, types
from cloudedge.model import state as state_mod

REASON_NO_TIER = "node(s) had no cloudedge.io/tier label"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NOT_READY = "node(s) were not ready"
REASON_TAINT = "node(s) had untolerated taint(s)"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_VOLUME = "node(s) had volume node affinity conflict"

# A float tolerance for "fits": requests are sums of parsed quantities, and 0.1+0.2 must not
# overcommit or reject by a rounding error. Far below one millicore or one byte.
FIT_EPSILON = 1e-6


@functools.lru_cache(maxsize=8)
def tier_reason(tier: types.Tier) -> str:
    """Reason for nodes outside the pod's required tier."""
    return f"node(s) were not in the required tier {tier.value}"


@functools.lru_cache(maxsize=256)
def deadline_reason(max_latency_ms: float) -> str:
    """Reason for nodes whose estimated completion time misses the pod's deadline."""
    return f"node(s) missed the {max_latency_ms:g}ms deadline"


PASS = 0
"""Failure codes, in filter order; a node's code is the first filter it failed."""
NO_TIER, UNSCHEDULABLE, NOT_READY, TAINT, AFFINITY, TIER, RESOURCES, DEADLINE = range(1, 9)
PORTS, POD_AFFINITY, POD_ANTI_AFFINITY, EXISTING_ANTI_AFFINITY = range(9, 13)
SPREAD, SPREAD_LABEL, VOLUME = range(13, 16)
LAST_CODE = VOLUME
"""Codes stay below 16: ``reason_texts`` encodes short resources as 16 + bits."""
_FIXED_REASONS: Mapping[int, str] = types_mod.MappingProxyType(
    {
        NO_TIER: REASON_NO_TIER,
        UNSCHEDULABLE: REASON_UNSCHEDULABLE,
        NOT_READY: REASON_NOT_READY,
        TAINT: REASON_TAINT,
        AFFINITY: REASON_AFFINITY,
        PORTS: interpod.REASON_PORTS,
        POD_AFFINITY: interpod.REASON_POD_AFFINITY,
        POD_ANTI_AFFINITY: interpod.REASON_POD_ANTI_AFFINITY,
        EXISTING_ANTI_AFFINITY: interpod.REASON_EXISTING_ANTI_AFFINITY,
        SPREAD: interpod.REASON_SPREAD,
        SPREAD_LABEL: interpod.REASON_SPREAD_LABEL,
        VOLUME: REASON_VOLUME,
    }
)


FEW_ROWS = 16
"""Up to this many nodes, failure texts are built node by node (see ``reason_texts``)."""
MAX_GROUPED_AXES = 40
"""Short resources are grouped by a bit per axis in an int64 code offset by 16: beyond this
many axes (a cluster offering dozens of extended resources) texts are built node by node."""


class FilterResult:
    """Per-node verdicts: feasible mask, the first failing filter, and unresolvable mask.

    Only the feasible mask is kept up to date as filters run: it is all a decision needs.
    The failing filters are recorded in order and turned into per-node codes (and, for the
    extender, the unresolvable mask) when something asks for them; text is built only for a
    message. A full cluster of thousands of nodes must not cost a Python loop per node and
    per decision, and a decision must not pay for bookkeeping only a failure message reads.
    """

    __slots__ = (
        "_base",
        "_code",
        "_extra_unresolvable",
        "_fails",
        "_unresolvable",
        "feasible",
        "short",
        "short_reasons",
        "texts",
    )

    def __init__(
        self,
        n: int,
        *,
        texts: dict[int, str] | None = None,
        base: npt.NDArray[np.int8] | None = None,
    ) -> None:
        """``base``: codes of filters already applied (see ``ClusterState.base_code``)."""
        self._fails: list[tuple[state_mod.BoolArray, int, bool]] = []
        self._extra_unresolvable: list[state_mod.BoolArray] = []
        self._code: npt.NDArray[np.int8] | None = None
        self._unresolvable: state_mod.BoolArray | None = None
        if base is None:
            self.feasible: state_mod.BoolArray = np.ones(n, dtype=bool)
        else:
            self.feasible = base == PASS
        self._base = base
        self.short: npt.NDArray[np.bool_] | None = None
        """Resources x n, which resource each node lacks: set when a resource fails."""
        self.short_reasons: tuple[str, ...] = ()
        """The reason of each row of :attr:`short` ("Insufficient nvidia.com/gpu")."""
        self.texts: Mapping[int, str] = _FIXED_REASONS if not texts else {**_FIXED_REASONS, **texts}

    def fail(self, mask: state_mod.BoolArray, code: int, *, unresolvable: bool) -> None:
        """Mark still-feasible nodes in ``mask`` as failed with ``code``.

        ``mask`` is kept, not copied: callers pass a fresh array or a cached one that nothing
        writes to.
        """
        self.feasible &= ~mask
        self._fails.append((mask, code, unresolvable))
        self._code = self._unresolvable = None

    def add_unresolvable(self, mask: state_mod.BoolArray) -> None:
        """Nodes in ``mask`` (already failed) can never take the pod, even after evictions."""
        self._extra_unresolvable.append(mask)
        self._unresolvable = None

    def _resolve(self) -> None:
        n = len(self.feasible)
        code = np.zeros(n, dtype=np.int8)
        unresolvable = np.zeros(n, dtype=bool)
        if self._base is not None:  # the state's pod-independent codes
            code[:] = self._base
            unresolvable |= self._base == NO_TIER
        for mask, c, hard in self._fails:
            hit = mask & (code == PASS)
            code[hit] = c
            if hard:
                unresolvable |= hit
        for mask in self._extra_unresolvable:
            unresolvable |= mask
        self._code, self._unresolvable = code, unresolvable

    @property
    def code(self) -> npt.NDArray[np.int8]:
        """Per node, the first filter it failed (:data:`PASS` when it passed them all)."""
        if self._code is None:
            self._resolve()
        assert self._code is not None
        return self._code

    @property
    def unresolvable(self) -> state_mod.BoolArray:
        """Nodes that failed in a way no eviction can fix (preemption skips them)."""
        if self._unresolvable is None:
            self._resolve()
        assert self._unresolvable is not None
        return self._unresolvable

    def reason(self, i: int) -> tuple[str, ...]:
        """Node ``i``'s failure reasons (empty when it passed)."""
        code = int(self.code[i])
        if code == PASS:
            return ()
        if code == RESOURCES:
            assert self.short is not None
            bits = self.short[:, i]
            return tuple(r for r, bit in zip(self.short_reasons, bits, strict=True) if bit)
        return (self.texts[code],)

    def reason_texts(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        """``", ".join(self.reason(i))`` for each node ``i`` in ``rows``, built once per kind of
        failure (a filter, or a combination of short resources) rather than once per node; an
        object array, so that callers pick from it by mask."""
        axes = 0 if self.short is None else len(self.short)
        if len(rows) <= FEW_ROWS or axes > MAX_GROUPED_AXES:  # grouping costs more than it saves
            few = np.empty(len(rows), dtype=object)
            few[:] = [", ".join(self.reason(i)) for i in rows.tolist()]
            return few
        code = self.code[rows].astype(np.int64)
        if self.short is not None:
            weights = np.left_shift(1, np.arange(axes, dtype=np.int64))
            bits = weights @ self.short[:, rows].astype(np.int64)
            code = np.where(code == RESOURCES, 16 + bits, code)
        kinds, where = np.unique(code, return_inverse=True)
        texts = np.empty(len(kinds), dtype=object)
        for k, kind in enumerate(kinds.tolist()):
            if kind == PASS:
                texts[k] = ""
            elif kind >= 16:
                bits = kind - 16
                texts[k] = ", ".join(r for b, r in enumerate(self.short_reasons) if bits & (1 << b))
            else:
                texts[k] = self.texts[kind]
        out: npt.NDArray[np.object_] = texts[where.reshape(-1)]
        return out

    def summary(self) -> str:
        """kube-scheduler's message: ``0/8 nodes are available: 5 ..., 3 Insufficient cpu.``"""
        counts: collections.Counter[str] = collections.Counter()
        failed = ~self.feasible
        codes = np.bincount(self.code[failed].astype(np.int64), minlength=LAST_CODE + 1)
        for code, count in enumerate(codes.tolist()):
            if count and code not in (PASS, RESOURCES):
                counts[self.texts[code]] += count
        if self.short is not None:
            resource_rows = failed & (self.code == RESOURCES)
            for k, reason in enumerate(self.short_reasons):
                count = int(np.count_nonzero(self.short[k] & resource_rows))
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
    if pod.volume_reason:
        texts[VOLUME] = pod.volume_reason
    # The pod-independent filters are precomputed per state: reuse, do not recompute.
    base = cluster.base_code if cluster.any_base_failure else None
    result = FilterResult(len(cluster), texts=texts, base=base)
    if cluster.any_hard_taint:
        result.fail(_untolerated(pod, cluster), TAINT, unresolvable=True)
    if pod.node_selector or pod.affinity_terms:
        result.fail(~_affinity_match(pod, cluster), AFFINITY, unresolvable=True)
    if pod.volume_node_terms:
        result.fail(~_volume_match(pod, cluster), VOLUME, unresolvable=True)
    if pod.tier is not None:
        result.fail(cluster.outside_tier(pod.tier), TIER, unresolvable=True)
    return result


def resource_filter(pod: types.Pod, cluster: state_mod.ClusterState, result: FilterResult) -> None:
    """The filters that depend on what is placed, in kube-scheduler's order: host ports,
    resources, topology spread, inter-pod (anti-)affinity (see :mod:`.interpod`)."""
    if pod.host_ports and cluster.with_host_ports:
        result.fail(interpod.port_conflicts(pod, cluster), PORTS, unresolvable=False)
    _fit(pod, cluster, result)
    if not pod.constrained_by_others and not cluster.with_anti_affinity:
        return  # the common case: nothing placed can keep this pod away
    if pod.spread:
        skewed, missing = interpod.spread_failures(
            pod,
            cluster,
            matches_affinity=_affinity_match(pod, cluster),
            tolerated=~_untolerated(pod, cluster),
        )
        result.fail(missing, SPREAD_LABEL, unresolvable=True)
        result.fail(skewed, SPREAD, unresolvable=False)
    if cluster.with_anti_affinity:
        hits = interpod.existing_anti_affinity_hits(pod, cluster)
        result.fail(hits, EXISTING_ANTI_AFFINITY, unresolvable=False)
    if pod.anti_affinity:
        hits = interpod.anti_affinity_hits(pod, cluster)
        result.fail(hits, POD_ANTI_AFFINITY, unresolvable=False)
    if pod.affinity:
        result.fail(interpod.affinity_misses(pod, cluster), POD_AFFINITY, unresolvable=True)


def feasible_many(
    pods: Sequence[types.Pod], cluster: state_mod.ClusterState
) -> state_mod.BoolArray:
    """Pods x nodes: :func:`static_filters` then :func:`resource_filter` passed, for a batch.

    The batch solver needs only the verdict, for hundreds of pods at once. A pod that only
    the state's own codes and the resource fit can turn away (no tier, selector, affinity,
    volume or inter-pod term, no host port in use, no hard taint in the cluster) is judged
    by matrix operations over the whole batch; any other pod goes through the filters one by
    one. Both give the same verdict (tests/unit/test_model_filters.py).
    """
    out = np.zeros((len(pods), len(cluster)), dtype=bool)
    plain: list[int] = []
    for p, pod in enumerate(pods):
        if _only_fit_applies(pod, cluster):
            plain.append(p)
        else:
            result = static_filters(pod, cluster)
            resource_filter(pod, cluster, result)
            out[p] = result.feasible
    if not plain:
        return out
    axes = cluster.resources
    columns = [pods[p].request_column(axes) for p in plain]
    rows = np.array([column[:, 0] for column, _ in columns], dtype=np.float64)
    ok = np.ones((len(plain), len(cluster)), dtype=bool)
    if cluster.any_base_failure:
        ok &= (cluster.base_code == PASS)[None, :]
    for a in range(len(axes)):
        asked = rows[:, a : a + 1]
        short = asked > cluster.headroom[a][None, :]
        short &= asked > 0  # a zero request fits even a full (or zero-capacity) axis
        ok &= ~short
    for k, (_, missing) in enumerate(columns):
        if missing:  # asks for a resource no node offers
            ok[k] = False
    out[plain] = ok
    return out


def _only_fit_applies(pod: types.Pod, cluster: state_mod.ClusterState) -> bool:
    """Whether the state's base codes and the resource fit are the only filters that can turn
    ``pod`` away (see :func:`static_filters` and :func:`resource_filter`)."""
    return not (
        pod.tier is not None
        or cluster.any_hard_taint
        or pod.node_selector
        or pod.affinity_terms
        or pod.volume_node_terms
        or (pod.host_ports and cluster.with_host_ports)
        or pod.constrained_by_others
        or cluster.with_anti_affinity
    )


def _fit(pod: types.Pod, cluster: state_mod.ClusterState, result: FilterResult) -> None:
    """Fail nodes without room for the pod's requests: never overcommit, on any resource.

    Every resource is an axis of the state (cpu, memory, pods, then what the nodes offer); a
    resource the pod requests and no node offers is lacking on every node.
    """
    req, missing = pod.request_column(cluster.resources)
    # Resource-major (axes x n): one contiguous row per resource (see ClusterState.usage).
    short = req > cluster.headroom
    if not missing and not np.count_nonzero(short):  # the common case: every node has room
        return
    short[req[:, 0] <= 0] = False  # a zero request fits even a full (or zero-capacity) axis
    reasons = cluster.resource_reasons
    # Too big for the node even when empty: no preemption can help.
    too_big = (req > cluster.allocatable_fit).any(axis=0)
    if missing:
        offered_nowhere = np.ones((len(missing), len(cluster)), dtype=bool)
        short = np.concatenate([short, offered_nowhere])
        reasons = reasons + tuple(types.resource_reason(name) for name in missing)
        too_big = np.ones(len(cluster), dtype=bool)
    lacking = short.any(axis=0) & result.feasible
    result.short = short
    result.short_reasons = reasons
    result.add_unresolvable(too_big & lacking)
    result.fail(lacking, RESOURCES, unresolvable=False)


def node_affinity_match(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes matching the pod's nodeSelector and required node affinity (for the scores)."""
    return _affinity_match(pod, cluster)


def untolerated_taints(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes with a NoSchedule/NoExecute taint the pod does not tolerate (for the scores)."""
    return _untolerated(pod, cluster)


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


def _volume_match(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes that match one term of every bound volume's node affinity."""
    ok = np.ones(len(cluster), dtype=bool)
    for terms in pod.volume_node_terms:
        for i in np.flatnonzero(ok):
            node = cluster.nodes[i]
            if not any(t.matches(node.labels, node_name=node.name) for t in terms):
                ok[i] = False
    return ok


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
