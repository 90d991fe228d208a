"""The cluster as numpy arrays: what every filter and term reads, and what placement updates.

One :class:`ClusterState` holds the nodes column-wise (capacity, usage, tier, site,
bandwidth, compute rate) so that scoring one pod against thousands of nodes is a handful of
vector operations. Usage is the only mutable part: strategies ``assign`` pods as they decide,
and the live scheduler does the same for reservations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from cloudedge.model import contention, types

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Requests = types.Pod | Mapping[str, float] | Iterable[float]
"""What ``assign`` and ``release`` take: a pod, its named requests, or a row along the axes."""

TIER_NONE, TIER_CLOUD, TIER_EDGE = -1, 0, 1
_TIER_CODE = {None: TIER_NONE, types.Tier.CLOUD: TIER_CLOUD, types.Tier.EDGE: TIER_EDGE}

NO_SCHEDULE_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects that keep a pod away at scheduling time (PreferNoSchedule only scores)."""


class SourceView:
    """Where a pod's input data is, seen from every node: per-node latency and link caps."""

    __slots__ = ("latency_s", "link_bw", "on_node", "source_bw")

    def __init__(
        self, latency_s: FloatArray, link_bw: FloatArray, on_node: BoolArray, source_bw: float
    ) -> None:
        self.latency_s = latency_s
        self.link_bw = link_bw
        self.on_node = on_node
        self.source_bw = source_bw


class ClusterState:
    """Nodes, their usage and the network between their sites, column-wise."""

    def __init__(
        self,
        nodes: Sequence[types.Node],
        *,
        topology: types.Topology | None = None,
        placed: Iterable[tuple[types.Pod, str]] = (),
    ) -> None:
        """``placed``: pods already on the nodes (by node name) whose requests the nodes'
        ``used`` already counts; the inter-pod filters read their labels, ports and terms."""
        self.nodes = tuple(nodes)
        self.topology = topology or types.Topology()
        self.names = [n.name for n in self.nodes]
        self.index = {name: i for i, name in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise ValueError("node names must be unique")
        n = len(self.nodes)
        extra = {r for nd in self.nodes for r in nd.allocatable} - set(types.RESOURCES)
        self.resources: tuple[str, ...] = types.RESOURCES + tuple(sorted(extra))
        """The resource axes: cpu, memory, pods, then every other resource a node offers."""
        self.resource_index = {r: k for k, r in enumerate(self.resources)}
        self.resource_reasons = tuple(types.resource_reason(r) for r in self.resources)
        """Per axis, the reason of a node short of it."""
        width = len(self.resources)
        self.allocatable: FloatArray = np.array(
            [[nd.allocatable.amount(r) for r in self.resources] for nd in self.nodes],
            dtype=np.float64,
        ).reshape(n, width)
        # Usage is stored resource-major (one contiguous row per resource): every decision
        # reads it once per resource, and numpy broadcasts over one long row several times
        # faster than over a short inner axis (docs/benchmarks.md, scoring core).
        # ``used`` is the node-major view of the same memory.
        self.usage: FloatArray = np.ascontiguousarray(
            np.array(
                [[nd.used.amount(r) for r in self.resources] for nd in self.nodes],
                dtype=np.float64,
            )
            .reshape(n, width)
            .T
        )
        alloc2 = self.allocatable[:, :2].T
        self.zero_allocatable: BoolArray = np.ascontiguousarray(alloc2 <= 0)
        """2 x n: CPU and memory axes with no capacity."""
        self.any_zero_allocatable = bool(self.zero_allocatable.any())
        self.inv_allocatable: FloatArray = np.ascontiguousarray(
            np.where(alloc2 > 0, 1.0 / np.where(alloc2 > 0, alloc2, 1.0), 0.0)
        )
        """2 x n: 1 / allocatable CPU and memory (0 where there is none)."""
        self.version = 0
        """Bumped on every usage change; memoized per-usage values key on it."""
        self.memo: dict[str, Any] = {}
        self.tier: IntArray = np.array([_TIER_CODE[nd.tier] for nd in self.nodes], dtype=np.int64)
        self.bandwidth: FloatArray = np.array([nd.bandwidth_mbps for nd in self.nodes], np.float64)
        self.compute_rate: FloatArray = np.array([nd.compute_rate for nd in self.nodes], np.float64)
        self.ready: BoolArray = np.array([nd.ready for nd in self.nodes], dtype=bool)
        self.schedulable: BoolArray = np.array([nd.schedulable for nd in self.nodes], dtype=bool)
        self.hard_tainted: BoolArray = np.array(
            [any(t.effect in NO_SCHEDULE_EFFECTS for t in nd.taints) for nd in self.nodes],
            dtype=bool,
        )
        # Filters that do not depend on the pod, computed once per state (codes of filters.py:
        # 1 no tier label, 2 unschedulable, 3 not ready; first failure wins).
        base = np.zeros(n, dtype=np.int8)
        for code, bad in ((3, ~self.ready), (2, ~self.schedulable), (1, self.tier == TIER_NONE)):
            base[bad] = code
        self.base_code: npt.NDArray[np.int8] = base
        self.any_base_failure = bool(base.any())
        self.any_hard_taint = bool(self.hard_tainted.any())
        # Fit tolerance folded into the capacity once (see filters.FIT_EPSILON); axes x n.
        self.allocatable_fit: FloatArray = np.ascontiguousarray(self.allocatable.T + 1e-6)
        self.headroom: FloatArray = self.allocatable_fit - self.usage
        """axes x n: ``allocatable_fit - usage``, kept with the usage (a pod fits a node when
        no request exceeds its column), so that a decision compares once instead of adding
        the requests to the usage first."""
        self.inv_free_cpu: FloatArray = np.empty(n, dtype=np.float64)
        """1 / free CPU per node (free floored at 1e-12 millicores), kept with the usage: the
        locality reserve divides by it on every decision (``scoring.room_left``)."""
        self._inv_free_of(slice(None))
        self.sites = sorted({nd.site for nd in self.nodes})
        site_pos = {s: k for k, s in enumerate(self.sites)}
        self.site_index: IntArray = np.array(
            [site_pos[nd.site] for nd in self.nodes], dtype=np.int64
        )
        self._site_tier: dict[str, int] = {}
        self._site_bw: dict[str, float] = {}
        for nd in self.nodes:
            if nd.tier is not None:
                self._site_tier.setdefault(nd.site, _TIER_CODE[nd.tier])
            self._site_bw[nd.site] = max(self._site_bw.get(nd.site, 0.0), nd.bandwidth_mbps)
        for site, tier in self.topology.site_tiers.items():
            self._site_tier[site] = _TIER_CODE[tier]
        self._links: dict[tuple[str, str], types.Link] = {}
        for link in self.topology.links:
            self._links[(link.a, link.b)] = link
            self._links[(link.b, link.a)] = link
        self._sources: dict[str, SourceView] = {}
        self._tier_masks: dict[str, BoolArray] = {}
        self._cache: dict[Hashable, Any] = {}
        self.zeros: FloatArray = np.zeros(n, dtype=np.float64)
        """Read-only zeros, one per node (a term that is 0 everywhere)."""
        self.zeros.flags.writeable = False
        self._label_columns: dict[str, tuple[npt.NDArray[np.object_], BoolArray]] = {}
        self.placed: dict[int, dict[str, types.Pod]] = {}
        """Per node index, the pods placed there by id (see ``types.Pod.placement_id``)."""
        self.resident_work: FloatArray = np.zeros(n, dtype=np.float64)
        """Per node: the compute cost (work units) of the placed pods that declare one."""
        self.resident_plain: FloatArray = np.zeros(n, dtype=np.float64)
        """Per node: how many placed pods of the model (``Pod.annotated``) declare no compute
        cost. With ``resident_work`` it
        gives the service seconds queued on a node, which a placement there makes wait longer
        (``terms.Congestion``)."""
        self.sharers = contention.Sharers()
        """The placed pods of the model that compute or move data, as the sharing reading
        charges them (``contention.delays``)."""
        self.with_host_ports: dict[str, tuple[int, types.Pod]] = {}
        self.with_anti_affinity: dict[str, tuple[int, types.Pod]] = {}
        """Placed pods with host ports / required anti-affinity: the filters every pod must
        pass because of them, and nothing to do while both are empty."""
        self.scoring_later: dict[str, tuple[int, types.Pod]] = {}
        """Placed pods whose affinity terms score the pods after them (InterPodAffinity's
        symmetric part, ``types.Pod.scores_later_pods``): nothing to score while empty."""
        self.label_index: dict[tuple[str, str, str], dict[int, int]] = {}
        """(namespace, label key, value) -> node index -> how many placed pods carry it; the
        namespace ``""`` (never a real one) counts every namespace. Affinity terms and spread
        constraints selecting by one label read their nodes here instead of every pod."""
        for pod, node_name in placed:
            if node_name in self.index:
                self._place(pod, self.index[node_name])

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def used(self) -> FloatArray:
        """Usage per node, n x resources (a view of :attr:`usage`: writes go through)."""
        view: FloatArray = self.usage.T
        return view

    def copy(self) -> ClusterState:
        """A state sharing the immutable columns and caches but with its own usage."""
        clone = object.__new__(ClusterState)
        clone.__dict__.update(self.__dict__)
        clone.usage = self.usage.copy()
        clone.headroom = self.headroom.copy()
        clone.inv_free_cpu = self.inv_free_cpu.copy()
        clone.memo = {}
        clone.placed = {node: dict(pods) for node, pods in self.placed.items()}
        clone.resident_work = self.resident_work.copy()
        clone.resident_plain = self.resident_plain.copy()
        clone.sharers = self.sharers.copy()
        clone.with_host_ports = dict(self.with_host_ports)
        clone.with_anti_affinity = dict(self.with_anti_affinity)
        clone.scoring_later = dict(self.scoring_later)
        clone.label_index = {key: dict(nodes) for key, nodes in self.label_index.items()}
        return clone

    def with_node(self, node: types.Node) -> ClusterState | None:
        """This state with one known node's Node replaced, its usage and placed pods kept; or
        None when the change needs a state built from scratch.

        Why: a node's labels, taints, conditions or allocatable change far more often than its
        place in the network (kubelets and controllers relabel, cordon, taint), and building
        a state replays every placed pod: 20-150 ms on 1,000 nodes, paid per change by the
        binder and the extender (a fresh cluster's label churn was half the extender's CPU,
        docs/benchmarks.md, end to end). What this path leaves alone it cannot change: the
        node's tier, site, bandwidth and compute rate (the network columns, the per-source
        views and the pods' shares of links and CPU are built from them), and the resource
        axes (a new extended resource widens every column). For those it returns None.

        The result takes over this state's usage and placed pods, so this state must not be
        used after it (the view drops it); copies made before it (snapshots) keep their own
        usage and the columns they had: every changed column is a new array.
        """
        i = self.index.get(node.name)
        if i is None:
            return None
        old = self.nodes[i]
        if (
            node.tier != old.tier
            or node.site != old.site
            or node.bandwidth_mbps != old.bandwidth_mbps
            or node.compute_rate != old.compute_rate
            or not set(node.allocatable) <= set(self.resources)
        ):
            return None
        new = object.__new__(ClusterState)
        new.__dict__.update(self.__dict__)
        nodes = list(self.nodes)
        nodes[i] = dataclasses.replace(node, used=old.used)
        new.nodes = tuple(nodes)
        # Values cached from labels, taints and allocatable (selector masks, topology domains,
        # label columns, memoized terms) are recomputed on demand; the network's are kept.
        new._cache = {}
        new._label_columns = {}
        new.memo = {}
        new.version = self.version + 1
        if node.ready != old.ready or node.schedulable != old.schedulable:
            new.ready = self.ready.copy()
            new.ready[i] = node.ready
            new.schedulable = self.schedulable.copy()
            new.schedulable[i] = node.schedulable
            base = self.base_code.copy()
            # As in __init__: no tier label (1) before unschedulable (2) before not ready (3).
            base[i] = (
                1
                if node.tier is None
                else 2
                if not node.schedulable
                else 3
                if not node.ready
                else 0
            )
            new.base_code = base
            new.any_base_failure = bool(base.any())
        if node.taints != old.taints:
            new.hard_tainted = self.hard_tainted.copy()
            new.hard_tainted[i] = any(t.effect in NO_SCHEDULE_EFFECTS for t in node.taints)
            new.any_hard_taint = bool(new.hard_tainted.any())
        if node.allocatable != old.allocatable:
            row = np.array([node.allocatable.amount(r) for r in self.resources], np.float64)
            new.allocatable = self.allocatable.copy()
            new.allocatable[i] = row
            alloc2 = new.allocatable[i, :2]
            new.zero_allocatable = self.zero_allocatable.copy()
            new.zero_allocatable[:, i] = alloc2 <= 0
            new.any_zero_allocatable = bool(new.zero_allocatable.any())
            new.inv_allocatable = self.inv_allocatable.copy()
            new.inv_allocatable[:, i] = np.where(
                alloc2 > 0, 1.0 / np.where(alloc2 > 0, alloc2, 1.0), 0.0
            )
            new.allocatable_fit = self.allocatable_fit.copy()
            new.allocatable_fit[:, i] = row + 1e-6
            new.headroom = self.headroom.copy()
            new.inv_free_cpu = self.inv_free_cpu.copy()
            new._headroom_of(i)
        return new

    def _place(self, pod: types.Pod, node: int) -> None:
        pid = pod.placement_id
        on_node = self.placed.setdefault(node, {})
        if pid in on_node:
            self._unplace(on_node[pid], node)
            on_node = self.placed.setdefault(node, {})
        on_node[pid] = pod
        self._resident(pod, node, 1.0)
        for key, value in pod.labels.items():
            for namespace in (pod.namespace, ""):
                counts = self.label_index.setdefault((namespace, key, value), {})
                counts[node] = counts.get(node, 0) + 1
        if pod.host_ports:
            self.with_host_ports[pid] = (node, pod)
        if pod.anti_affinity:
            self.with_anti_affinity[pid] = (node, pod)
        if pod.scores_later_pods:
            self.scoring_later[pid] = (node, pod)

    def _unplace(self, pod: types.Pod, node: int) -> None:
        pid = pod.placement_id
        on_node = self.placed.get(node)
        gone = on_node.pop(pid, None) if on_node is not None else None
        if gone is None:
            return
        if not on_node:
            del self.placed[node]
        self._resident(gone, node, -1.0)
        for key, value in gone.labels.items():
            for namespace in (gone.namespace, ""):
                counts = self.label_index.get((namespace, key, value))
                if counts is None:
                    continue
                left = counts.get(node, 0) - 1
                if left > 0:
                    counts[node] = left
                else:
                    counts.pop(node, None)
                    if not counts:
                        del self.label_index[(namespace, key, value)]
        self.with_host_ports.pop(pid, None)
        self.with_anti_affinity.pop(pid, None)
        self.scoring_later.pop(pid, None)

    def _resident(self, pod: types.Pod, node: int, sign: float) -> None:
        """Count ``pod`` in (sign 1) or out of (-1) ``node``'s resident work: only a pod the
        model describes (``annotated``); another (a node's daemons, other applications)
        weighs in through its requests alone, its queueing unknown."""
        if not pod.annotated:
            return
        if sign > 0:
            self.sharers.add(pod, node, self)
        else:
            self.sharers.remove(pod.placement_id)
        if pod.compute_cost > 0:
            work = self.resident_work[node] + sign * pod.compute_cost
            self.resident_work[node] = max(work, 0.0)
        else:
            self.resident_plain[node] = max(self.resident_plain[node] + sign, 0.0)

    def resident_service(self, default_service_seconds: float) -> FloatArray:
        """Per node: the service seconds of the pods placed there, each pod's compute cost
        over the node's compute rate (``default_service_seconds`` for a pod without one), as
        the waiting term charges them."""
        seconds: FloatArray = self.resident_work / self.compute_rate
        seconds += self.resident_plain * default_service_seconds
        return seconds

    def domain_codes(self, key: str) -> tuple[IntArray, int]:
        """Per node, a code for its value of label ``key`` (-1 without it), and how many
        distinct values there are: a topology key's domains, cached per state."""
        return self.cached(("domains", key), _domain_codes)

    def vector(self, requests: Requests) -> FloatArray:
        """``requests`` along this state's resource axes.

        Named amounts (a pod's requests, or the pod itself) are the normal input; a plain
        sequence must already follow :attr:`resources`. Names without an axis are left out:
        no node offers them, so the filters never place such a pod.
        """
        if isinstance(requests, types.Pod):
            column, _ = requests.request_column(self.resources)
            return column[:, 0]
        if isinstance(requests, Mapping):
            return np.array([float(requests.get(r, 0.0)) for r in self.resources], dtype=np.float64)
        row = np.zeros(len(self.resources), dtype=np.float64)
        given = np.asarray(tuple(requests), dtype=np.float64)
        row[: len(given)] = given
        return row

    def assign(self, requests: Requests, node: int) -> None:
        """Add a pod's requests to ``node``'s usage (a placement or a reservation); given the
        pod itself, it is also placed there for the inter-pod filters (ports, affinity)."""
        self.usage[:, node] += self.vector(requests)
        self._headroom_of(node)
        if isinstance(requests, types.Pod):
            self._place(requests, node)
        self.version += 1

    def release(self, requests: Requests, node: int) -> None:
        """Undo :meth:`assign`; usage never goes below zero."""
        row = self.usage[:, node] - self.vector(requests)
        self.usage[:, node] = np.maximum(row, 0.0)
        self._headroom_of(node)
        if isinstance(requests, types.Pod):
            self._unplace(requests, node)
        self.version += 1

    def _headroom_of(self, node: int) -> None:
        """Recompute ``node``'s headroom from its usage (not by increments, which would drift
        from the usage by rounding)."""
        np.subtract(self.allocatable_fit[:, node], self.usage[:, node], out=self.headroom[:, node])
        self._inv_free_of(node)

    def _inv_free_of(self, node: int | slice) -> None:
        free = np.maximum(self.allocatable[node, 0] - self.usage[0, node], 1e-12)
        self.inv_free_cpu[node] = 1.0 / free

    def cached(self, key: K, compute: Callable[[ClusterState, K], V]) -> V:
        """``compute(self, key)``, once per state and its copies, for values that depend only
        on the nodes and the topology (never on usage): they are shared by every copy."""
        try:
            value: V = self._cache[key]
        except KeyError:
            value = self._cache[key] = compute(self, key)
        return value

    def outside_tier(self, tier: types.Tier) -> BoolArray:
        """Nodes not in ``tier`` (cached per state; callers must not write to it)."""
        key = f"outside-tier-{tier.value}"
        mask = self._tier_masks.get(key)
        if mask is None:
            mask = self.tier != _TIER_CODE[tier]
            mask.flags.writeable = False
            self._tier_masks[key] = mask
        return mask

    def site_tier(self, site: str) -> int:
        """Tier code of a site: declared, else its nodes', else edge (where data is made)."""
        return self._site_tier.get(site, TIER_EDGE)

    def label_column(self, key: str) -> tuple[npt.NDArray[np.object_], BoolArray]:
        """Every node's value of label ``key`` and whether it is present, cached."""
        cached = self._label_columns.get(key)
        if cached is None:
            values = np.array([nd.labels.get(key, "") for nd in self.nodes], dtype=object)
            present = np.array([key in nd.labels for nd in self.nodes], dtype=bool)
            cached = (values, present)
            self._label_columns[key] = cached
        return cached

    def source_view(self, data_source: str) -> SourceView:
        """Latency and bandwidth caps from ``data_source`` (a node name or a site) to each node.

        Cached per source: a burst of pods reading from the same camera site costs one pass.
        """
        view = self._sources.get(data_source)
        if view is not None:
            return view
        n = len(self.nodes)
        on_node = np.zeros(n, dtype=bool)
        if data_source in self.index:
            src_node = self.index[data_source]
            on_node[src_node] = True
            src_site = self.nodes[src_node].site
            source_bw = float(self.bandwidth[src_node])
        else:
            src_site = data_source
            source_bw = self._site_bw.get(src_site, math.nan)
        topo = self.topology
        tiers, position, links_from = self.cached("site-columns", _site_columns)
        # The defaults by tier, then the source's own site, then its declared links (which win).
        same_tier = tiers == self.site_tier(src_site)
        lat_by_site = np.where(
            same_tier, topo.same_tier_latency_ms, topo.cloud_edge_latency_ms
        ).astype(np.float64)
        bw_by_site = np.full(len(self.sites), math.inf, dtype=np.float64)
        if topo.same_tier_bandwidth_mbps is not None:
            bw_by_site[same_tier] = topo.same_tier_bandwidth_mbps
        if topo.cloud_edge_bandwidth_mbps is not None:
            bw_by_site[~same_tier] = topo.cloud_edge_bandwidth_mbps
        own = position.get(src_site)
        if own is not None:
            lat_by_site[own] = topo.same_site_latency_ms
            bw_by_site[own] = math.inf
        for k, link in links_from.get(src_site, ()):
            lat_by_site[k] = link.latency_ms
            bw_by_site[k] = math.inf if link.bandwidth_mbps is None else link.bandwidth_mbps
        view = SourceView(
            latency_s=lat_by_site[self.site_index] / 1000.0,
            link_bw=bw_by_site[self.site_index],
            on_node=on_node,
            source_bw=source_bw,
        )
        self._sources[data_source] = view
        return view


def _site_columns(
    state: ClusterState, _key: str
) -> tuple[IntArray, dict[str, int], dict[str, list[tuple[int, types.Link]]]]:
    """Per site of ``state.sites``: its tier code; each site's position; per site, its
    declared links to those sites (position, link). One pass per state instead of one per
    data source: a burst reading from every camera site of 1,000 nodes made one Python loop
    over every site per source."""
    tiers = np.array([state.site_tier(site) for site in state.sites], dtype=np.int64)
    position = {site: k for k, site in enumerate(state.sites)}
    links_from: dict[str, list[tuple[int, types.Link]]] = {}
    for (a, b), link in state._links.items():
        k = position.get(b)
        if k is not None:
            links_from.setdefault(a, []).append((k, link))
    return tiers, position, links_from


def _domain_codes(state: ClusterState, key: tuple[str, str]) -> tuple[IntArray, int]:
    values, present = state.label_column(key[1])
    codes = np.full(len(state), -1, dtype=np.int64)
    if present.any():
        _, inverse = np.unique(values[present].astype(str), return_inverse=True)
        codes[present] = inverse.reshape(-1)
    codes.flags.writeable = False
    return codes, int(codes.max(initial=-1)) + 1
