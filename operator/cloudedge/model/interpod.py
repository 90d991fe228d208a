"""Filters that depend on the pods already placed: host ports, inter-pod affinity and
anti-affinity, topology spread. Each follows the kube-scheduler plugin of the same name
(NodePorts, InterPodAffinity, PodTopologySpread), so that the binder never places a pod where
kube-scheduler would refuse it.

They read ``ClusterState.placed`` (the pods on each node, reservations included) and the
node labels of each topology key, and they cost nothing for a pod that has none of these
constraints in a cluster where no placed pod has a required anti-affinity: the common case
keeps the scoring core's speed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from cloudedge.model import state as state_mod
from cloudedge.model import types

REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_POD_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_POD_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_SPREAD_LABEL = (
    "node(s) didn't match pod topology spread constraints (missing required label)"
)


def _placed(cluster: state_mod.ClusterState) -> Iterator[tuple[int, types.Pod]]:
    for node, pods in cluster.placed.items():
        for pod in pods.values():
            yield node, pod


def port_conflicts(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes where a placed pod already binds one of ``pod``'s host ports (NodePorts)."""
    mask = np.zeros(len(cluster), dtype=bool)
    for node, other in cluster.with_host_ports.values():
        if mask[node]:
            continue
        if any(mine.conflicts(theirs) for mine in pod.host_ports for theirs in other.host_ports):
            mask[node] = True
    return mask


def _one_label(selector: types.LabelSelector | None) -> tuple[str, str] | None:
    """The (key, value) of a selector that is exactly one ``matchLabels`` pair, else None."""
    if selector is None or selector.match_expressions or len(selector.match_labels) != 1:
        return None
    ((key, value),) = selector.match_labels.items()
    return key, value


def matching_counts(
    cluster: state_mod.ClusterState,
    selector: types.LabelSelector | None,
    namespaces: frozenset[str] | None,
) -> dict[int, int]:
    """Node index -> how many placed pods ``selector`` selects in ``namespaces`` (None: every
    namespace). A one-label selector is read from the state's label index; others look at
    every placed pod."""
    if selector is None:
        return {}
    pair = _one_label(selector)
    if pair is not None:
        key, value = pair
        if namespaces is None:
            return cluster.label_index.get(("", key, value), {})
        out: dict[int, int] = {}
        for namespace in namespaces:
            for node, count in cluster.label_index.get((namespace, key, value), {}).items():
                out[node] = out.get(node, 0) + count
        return out
    out = {}
    for node, other in _placed(cluster):
        if namespaces is not None and other.namespace not in namespaces:
            continue
        if selector.matches(other.labels):
            out[node] = out.get(node, 0) + 1
    return out


def _domains_with(
    term: types.PodAffinityTerm, cluster: state_mod.ClusterState
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The node's domain codes of ``term.topology_key`` and which domains hold a pod the
    term selects (pods on nodes without the key hold no domain)."""
    codes, count = cluster.domain_codes(term.topology_key)
    held = np.zeros(count + 1, dtype=bool)  # the extra slot is "no label" (code -1)
    namespaces = None if term.all_namespaces else term.namespaces
    nodes = list(matching_counts(cluster, term.selector, namespaces))
    if nodes:
        where = codes[np.asarray(nodes, dtype=np.int64)]
        held[where[where >= 0]] = True
    return codes, held


def affinity_misses(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes failing ``pod``'s required podAffinity (InterPodAffinity ``satisfyPodAffinity``).

    A node passes when, for every term, it has the topology key and its domain holds a pod
    the term selects. The first pod of a group that selects itself would then wait for ever,
    so, like kube-scheduler, when no placed pod matches any term and the pod matches all of
    its own terms, every node that has all the topology keys passes.
    """
    n = len(cluster)
    ok = np.ones(n, dtype=bool)
    has_keys = np.ones(n, dtype=bool)
    anything_matched = False
    for term in pod.affinity:
        codes, held = _domains_with(term, cluster)
        has_keys &= codes >= 0
        anything_matched |= bool(held[:-1].any())
        ok &= held[codes] & (codes >= 0)
    if not anything_matched and all(t.selects(pod.namespace, pod.labels) for t in pod.affinity):
        ok = has_keys
    return ~ok


def anti_affinity_hits(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.BoolArray:
    """Nodes whose domain holds a pod that ``pod``'s required podAntiAffinity selects."""
    bad = np.zeros(len(cluster), dtype=bool)
    for term in pod.anti_affinity:
        codes, held = _domains_with(term, cluster)
        bad |= held[codes] & (codes >= 0)
    return bad


def existing_anti_affinity_hits(
    pod: types.Pod, cluster: state_mod.ClusterState
) -> state_mod.BoolArray:
    """Nodes in the domain of a placed pod whose required podAntiAffinity selects ``pod``."""
    bad = np.zeros(len(cluster), dtype=bool)
    for node, other in cluster.with_anti_affinity.values():
        for term in other.anti_affinity:
            if not term.selects(pod.namespace, pod.labels):
                continue
            codes, _ = cluster.domain_codes(term.topology_key)
            if codes[node] >= 0:
                bad |= codes == codes[node]
    return bad


def spread_failures(
    pod: types.Pod,
    cluster: state_mod.ClusterState,
    *,
    matches_affinity: state_mod.BoolArray,
    tolerated: state_mod.BoolArray,
) -> tuple[state_mod.BoolArray, state_mod.BoolArray]:
    """Nodes failing ``pod``'s DoNotSchedule topology spread constraints: (skew too large,
    topology key missing), as PodTopologySpread's filter decides.

    Domains are the values of the key on *eligible* nodes: nodes that have every constraint's
    key, match the pod's node affinity (``nodeAffinityPolicy: Honor``) and tolerate its taints
    (``nodeTaintsPolicy: Honor``). Matching pods are counted per domain in the pod's own
    namespace; the smallest count is 0 while fewer than ``minDomains`` domains exist. A node
    fails when its domain's count, plus one if the pod matches its own selector, exceeds that
    minimum by more than ``maxSkew``.
    """
    n = len(cluster)
    hard = [c for c in pod.spread if c.hard]
    skewed = np.zeros(n, dtype=bool)
    missing = np.zeros(n, dtype=bool)
    if not hard:
        return skewed, missing
    all_keys = np.ones(n, dtype=bool)
    for c in hard:
        all_keys &= cluster.domain_codes(c.topology_key)[0] >= 0
    missing = ~all_keys
    for c in hard:
        codes, count = cluster.domain_codes(c.topology_key)
        eligible = all_keys.copy()
        if c.honor_node_affinity:
            eligible &= matches_affinity
        if c.honor_taints:
            eligible &= tolerated
        present = np.zeros(count + 1, dtype=bool)
        present[codes[eligible]] = True
        pods_in = np.zeros(count + 1, dtype=np.int64)
        for node, matched in matching_counts(
            cluster, c.selector, frozenset({pod.namespace})
        ).items():
            if eligible[node]:
                pods_in[codes[node]] += matched
        domains = int(present[:-1].sum())
        min_match = int(pods_in[:-1][present[:-1]].min()) if domains else 0
        if domains < c.min_domains:
            min_match = 0
        self_match = int(c.selector is not None and c.selector.matches(pod.labels))
        skew = pods_in[codes] + self_match - min_match
        skewed |= (skew > c.max_skew) & (codes >= 0)
    return skewed, missing
