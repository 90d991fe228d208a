"""kube-scheduler's preference scores as fraction terms: preferred node affinity,
``PreferNoSchedule`` taints, preferred inter-pod (anti-)affinity, ScheduleAnyway spread.

Each term computes what the kube-scheduler score plugin of the same name computes
(``pkg/scheduler/framework/plugins``: NodeAffinity, TaintToleration, InterPodAffinity,
PodTopologySpread), raw score then ``NormalizeScore`` over the nodes that passed the filters,
and its goodness is that normalized score over 100 (kube's integer arithmetic kept, so a
hand-computed kube result is the expected value in the tests).

They only score: a node the filters refused stays refused whatever its preference. A term
returns None for a pod it has nothing to say about (no preferred terms, no PreferNoSchedule
taint in the cluster, ...), which leaves it out of the pod's score and costs nothing.

Default weights follow kube's default plugin weights relative to each other (NodeAffinity 2,
TaintToleration 3, InterPodAffinity 2, PodTopologySpread 2) at 0.2 per kube weight point
(0.4, 0.6, 0.4, 0.4), against the time and capacity terms whose weights sum to 1 in every
built-in profile: a preference decides between nodes whose completion times are close, and
yields to a node 1.7 (latency-sensitive) to 3 (batch) times faster (docs/model.md,
"Preferences").
"""

from __future__ import annotations

import math

import numpy as np

from cloudedge.model import filters, interpod, terms, types
from cloudedge.model import state as state_mod

HARD_POD_AFFINITY_WEIGHT = 1
"""kube-scheduler's ``hardPodAffinityWeight`` default: a placed pod's *required* podAffinity
term that selects the incoming pod counts this much in the InterPodAffinity score."""

MAX_NODE_SCORE = 100


def _feasible_or_all(
    cluster: state_mod.ClusterState, feasible: state_mod.BoolArray | None
) -> state_mod.BoolArray:
    return np.ones(len(cluster), dtype=bool) if feasible is None else feasible


def default_normalize(
    values: state_mod.FloatArray, feasible: state_mod.BoolArray, *, reverse: bool
) -> state_mod.FloatArray:
    """kube's ``helper.DefaultNormalizeScore`` over the feasible nodes, as a 0..1 goodness:
    ``100 * v // max`` (reversed: ``100 - that``); all zero gives 0 (reversed: 100)."""
    top = float(values[feasible].max()) if np.count_nonzero(feasible) else 0.0
    if top <= 0:
        return np.full(len(values), 1.0 if reverse else 0.0)
    scaled = np.floor(MAX_NODE_SCORE * values / top)
    if reverse:
        scaled = MAX_NODE_SCORE - scaled
    good: state_mod.FloatArray = scaled / MAX_NODE_SCORE
    return good


def _selector_term_mask(
    cluster: state_mod.ClusterState, key: tuple[str, types.SelectorTerm]
) -> state_mod.BoolArray:
    term = key[1]
    mask = np.fromiter(
        (term.matches(node.labels, node_name=node.name) for node in cluster.nodes),
        dtype=bool,
        count=len(cluster),
    )
    mask.flags.writeable = False
    return mask


@terms.register(
    summary="preferred node affinity: kube's NodeAffinity score (sum of matching term weights)",
    default=0.4,  # 2 kube weight points
    kube_plugin="NodeAffinity",
)
class NodeAffinityPreference(terms.Term):
    """kube's NodeAffinity score: the sum of the weights of the pod's
    ``preferredDuringSchedulingIgnoredDuringExecution`` terms the node matches, normalized by
    the best feasible node (``DefaultNormalizeScore``)."""

    name = "node-affinity"
    kind = terms.FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        if not pod.preferred_node_affinity:
            return None
        raw = np.zeros(len(cluster), dtype=np.float64)
        for pref in pod.preferred_node_affinity:
            if pref.weight:
                raw += pref.weight * cluster.cached(("prefer-node", pref.term), _selector_term_mask)
        return raw

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        return default_normalize(values, feasible, reverse=False)


def _soft_tainted(
    cluster: state_mod.ClusterState, _key: str
) -> tuple[tuple[int, tuple[types.Taint, ...]], ...]:
    """Nodes with PreferNoSchedule taints, and those taints (per state: taints are static)."""
    out = []
    for i, node in enumerate(cluster.nodes):
        soft = tuple(t for t in node.taints if t.effect == "PreferNoSchedule")
        if soft:
            out.append((i, soft))
    return tuple(out)


@terms.register(
    summary="PreferNoSchedule taints: kube's TaintToleration score (fewer intolerable is better)",
    default=0.6,  # 3 kube weight points
    kube_plugin="TaintToleration",
)
class TaintPreference(terms.Term):
    """kube's TaintToleration score: how many ``PreferNoSchedule`` taints of the node the pod
    does not tolerate (tolerations with effect PreferNoSchedule or none), reverse-normalized:
    a node with none scores 1."""

    name = "taint-toleration"
    kind = terms.FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        tainted = cluster.cached("prefer-no-schedule", _soft_tainted)
        if not tainted:
            return None
        tolerations = [t for t in pod.tolerations if t.effect in ("", "PreferNoSchedule")]
        raw = np.zeros(len(cluster), dtype=np.float64)
        for i, taints in tainted:
            raw[i] = sum(1 for t in taints if not any(tol.tolerates(t) for tol in tolerations))
        return raw

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        return default_normalize(values, feasible, reverse=True)


def _add_to_domain(
    raw: state_mod.FloatArray,
    cluster: state_mod.ClusterState,
    topology_key: str,
    node: int,
    amount: float,
) -> None:
    codes, _ = cluster.domain_codes(topology_key)
    if codes[node] >= 0:
        raw[codes == codes[node]] += amount


@terms.register(
    summary="preferred pod (anti-)affinity: kube's InterPodAffinity score, both directions",
    default=0.4,  # 2 kube weight points
    kube_plugin="InterPodAffinity",
)
class InterPodAffinityPreference(terms.Term):
    """kube's InterPodAffinity score, symmetric as kube computes it.

    Per node, summed over the topology domain the node is in: for each of the pod's preferred
    podAffinity terms, its weight per placed pod it selects in that domain (minus that for
    preferred podAntiAffinity terms); and for each placed pod, the weight of its own preferred
    affinity (plus) and anti-affinity (minus) terms, and :data:`HARD_POD_AFFINITY_WEIGHT` for
    its required affinity terms, that select the incoming pod, on the domain of the placed
    pod's node. Normalized min-max over the feasible nodes, with 0 inside the range.
    """

    name = "inter-pod-affinity"
    kind = terms.FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        if not (pod.preferred_affinity or pod.preferred_anti_affinity or cluster.scoring_later):
            return None
        raw = np.zeros(len(cluster), dtype=np.float64)
        for sign, prefs in ((1, pod.preferred_affinity), (-1, pod.preferred_anti_affinity)):
            for pref in prefs:
                if not pref.weight:
                    continue
                term = pref.term
                codes, count = cluster.domain_codes(term.topology_key)
                per_domain = np.zeros(count + 1, dtype=np.float64)  # last slot: no label
                namespaces = None if term.all_namespaces else term.namespaces
                for node, matched in interpod.matching_counts(
                    cluster, term.selector, namespaces
                ).items():
                    per_domain[codes[node]] += matched
                per_domain[-1] = 0.0
                raw += (sign * pref.weight) * per_domain[codes]
        me = pod.placement_id
        for pid, (node, other) in cluster.scoring_later.items():
            if pid == me:
                continue
            for required in other.affinity:
                if required.selects(pod.namespace, pod.labels):
                    _add_to_domain(
                        raw, cluster, required.topology_key, node, HARD_POD_AFFINITY_WEIGHT
                    )
            for sign, prefs in ((1, other.preferred_affinity), (-1, other.preferred_anti_affinity)):
                for pref in prefs:
                    if pref.term.selects(pod.namespace, pod.labels):
                        _add_to_domain(
                            raw, cluster, pref.term.topology_key, node, sign * pref.weight
                        )
        return raw

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        if not np.count_nonzero(feasible):
            return np.zeros(len(values))
        seen = values[feasible]
        top = max(float(seen.max()), 0.0)
        bottom = min(float(seen.min()), 0.0)
        if top - bottom <= 0:
            return np.zeros(len(values))
        # kube truncates the float ratio to an integer score.
        good: state_mod.FloatArray = (
            np.floor(MAX_NODE_SCORE * ((values - bottom) / (top - bottom))) / MAX_NODE_SCORE
        )
        return good


INVALID = -1.0
"""PodTopologySpread's ``invalidScore``: a node without every topology key is not scored."""


@terms.register(
    summary="ScheduleAnyway topology spread: kube's PodTopologySpread score (less skew is better)",
    default=0.4,  # 2 kube weight points
    kube_plugin="PodTopologySpread",
)
class SpreadPreference(terms.Term):
    """kube's PodTopologySpread score for the pod's ``whenUnsatisfiable: ScheduleAnyway``
    constraints.

    Nodes that passed the filters but lack a constraint's topology key are not scored (0).
    For the others, per constraint: the matching pods (the pod's namespace) in the node's
    domain, counted on nodes that have every key and pass the node inclusion policies, times
    ``log(domains + 2)`` where ``domains`` is how many values the key has among the scored
    nodes, plus ``maxSkew - 1``; summed and rounded. Normalized as kube does: with ``min`` and
    ``max`` over the scored nodes, ``100 * (max + min - s) // max`` (100 when ``max`` is 0).
    No default constraints: a pod without its own spread constraints is not scored here.
    """

    name = "topology-spread"
    kind = terms.FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state_mod.ClusterState,
        *,
        feasible: state_mod.BoolArray | None = None,
    ) -> state_mod.FloatArray | None:
        if not pod.spread:
            return None
        soft = [c for c in pod.spread if not c.hard]
        if not soft:
            return None
        n = len(cluster)
        all_keys = np.ones(n, dtype=bool)
        for c in soft:
            all_keys &= cluster.domain_codes(c.topology_key)[0] >= 0
        scored = _feasible_or_all(cluster, feasible) & all_keys
        affinity_ok: state_mod.BoolArray | None = None
        tolerated: state_mod.BoolArray | None = None
        raw = np.zeros(n, dtype=np.float64)
        for c in soft:
            codes, count = cluster.domain_codes(c.topology_key)
            candidate = np.zeros(count + 1, dtype=bool)
            candidate[codes[scored]] = True
            candidate[-1] = False
            weight = math.log(int(candidate.sum()) + 2)
            eligible = all_keys.copy()
            if c.honor_node_affinity:
                if affinity_ok is None:
                    affinity_ok = filters.node_affinity_match(pod, cluster)
                eligible &= affinity_ok
            if c.honor_taints:
                if tolerated is None:
                    tolerated = ~filters.untolerated_taints(pod, cluster)
                eligible &= tolerated
            pods_in = np.zeros(count + 1, dtype=np.float64)
            for node, matched in interpod.matching_counts(
                cluster, c.selector, frozenset({pod.namespace})
            ).items():
                if eligible[node]:
                    pods_in[codes[node]] += matched
            raw += pods_in[codes] * weight + (c.max_skew - 1)
        # Go's math.Round: half away from zero (the sums are >= 0).
        raw = np.floor(raw + 0.5)
        raw[~all_keys] = INVALID
        return raw

    def goodness(
        self, values: state_mod.FloatArray, feasible: state_mod.BoolArray
    ) -> state_mod.FloatArray:
        valid = feasible & (values != INVALID)
        good = np.zeros(len(values), dtype=np.float64)
        if not np.count_nonzero(valid):
            return good
        seen = values[valid]
        top, bottom = float(seen.max()), float(seen.min())
        if top == 0:
            good[valid] = 1.0
            return good
        good[valid] = np.floor(MAX_NODE_SCORE * (top + bottom - seen) / top) / MAX_NODE_SCORE
        return good
