"""What a pod and the pods already placed do to each other as they run: the sharing reading
(:func:`.evaluator.grade_sharing`) seen from one pod about to be placed.

The greedy score compares nodes pod by pod. The seed charges a co-placed pod as an M/M/1
wait on the node's *requested* share, and the testbed measured that this is not how pods
load each other (docs/model.md, "Calibration"): a CPU-bound pod without a limit uses the
whole node while it runs, and shares it with the pods running beside it in proportion to
their CPU requests; a transfer shares each link it crosses with the transfers over it. The
joint solver already prices pairs of pods that way (:class:`.batch.Sharing`); this module
gives the greedy score the same prices, against the pods the state has placed:

* two pods on one node with work ``A`` and CPU request ``w`` each: pod ``p`` takes
  ``min(A_p w_q / w_p, A_q) / P`` longer, and ``q`` takes ``min(A_q w_p / w_q, A_p) / P``
  longer (weighted processor sharing; together ``(w_p + w_q) min(A_p/w_p, A_q/w_q) / P``);
* two transfers of ``D`` MB that cross a link together: each takes ``8 min(D_p, D_q) / rate``
  longer, ``rate`` the slowest link they share: the node's downlink (on one node), the
  source's uplink (from one source) and the topology link from the source to the node's
  site (from one source into one site), as the joint solver prices them.

The state keeps the pods it has placed in :class:`Sharers` (only the ones the model
describes: another pod loads a node through its requests, its work unknown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cloudedge.model import types

if TYPE_CHECKING:
    from cloudedge.model import state as state_mod

MEGABITS_PER_MEGABYTE = 8.0

_FIELDS = ("weight", "work", "ratio", "size")


class Sharers:
    """The placed pods that load others as they run, as columns (one row per pod, in no
    order): their node, CPU weight, work, work per weight, the megabytes they move over the
    network (0 when their data is on their node), their data source as a number and the site
    of their node. Rows are added and removed in O(1) (the last row fills a removed one), so
    a burst of decisions does not rebuild them."""

    def __init__(self, capacity: int = 64) -> None:
        self.count = 0
        self.node = np.zeros(capacity, dtype=np.int64)
        self.site = np.zeros(capacity, dtype=np.int64)
        self.source = np.full(capacity, -1, dtype=np.int64)
        self.weight = np.zeros(capacity, dtype=np.float64)
        self.work = np.zeros(capacity, dtype=np.float64)
        self.ratio = np.zeros(capacity, dtype=np.float64)
        self.size = np.zeros(capacity, dtype=np.float64)
        self.row: dict[str, int] = {}
        """Placement id -> row."""
        self.ids: list[str] = []
        """Row -> placement id."""
        self.sources: dict[str, int] = {}
        """Data source -> its number (numbers are never reused: a copy may share them)."""

    def copy(self) -> Sharers:
        """An independent copy (a state's copy must not see the original's later pods)."""
        clone = Sharers.__new__(Sharers)
        clone.count = self.count
        for name in ("node", "site", "source", *_FIELDS):
            setattr(clone, name, getattr(self, name).copy())
        clone.row = dict(self.row)
        clone.ids = list(self.ids)
        clone.sources = dict(self.sources)
        return clone

    def _grow(self) -> None:
        for name in ("node", "site", "source", *_FIELDS):
            old = getattr(self, name)
            new = np.zeros(2 * len(old), dtype=old.dtype)
            if name == "source":
                new[:] = -1
            new[: len(old)] = old
            setattr(self, name, new)

    def add(self, pod: types.Pod, node: int, cluster: state_mod.ClusterState) -> None:
        """Count ``pod`` on ``node`` (nothing for a pod that neither computes nor moves data)."""
        remote_mb = 0.0
        source = -1
        if (
            pod.data_source is not None
            and pod.data_size_mb > 0
            and not bool(cluster.source_view(pod.data_source).on_node[node])
        ):
            remote_mb = pod.data_size_mb
            source = self.sources.setdefault(pod.data_source, len(self.sources))
        if pod.compute_cost <= 0 and remote_mb <= 0:
            return
        self.remove(pod.placement_id)
        if self.count == len(self.node):
            self._grow()
        k = self.count
        weight = max(pod.requests.cpu, 1.0)
        self.node[k] = node
        self.site[k] = cluster.site_index[node]
        self.source[k] = source
        self.weight[k] = weight
        self.work[k] = max(pod.compute_cost, 0.0)
        self.ratio[k] = self.work[k] / weight
        self.size[k] = remote_mb
        self.row[pod.placement_id] = k
        self.ids.append(pod.placement_id)
        self.count += 1

    def remove(self, placement_id: str) -> None:
        """Forget a pod (nothing if it is not counted)."""
        k = self.row.pop(placement_id, None)
        if k is None:
            return
        last = self.count - 1
        if k != last:
            for name in ("node", "site", "source", *_FIELDS):
                column = getattr(self, name)
                column[k] = column[last]
            moved = self.ids[last]
            self.ids[k] = moved
            self.row[moved] = k
        self.ids.pop()
        self.count = last


def _inverse(rate: state_mod.FloatArray) -> state_mod.FloatArray:
    """1 / rate where the rate caps something (finite and > 0), else 0."""
    capped = np.isfinite(rate) & (rate > 0)
    out: state_mod.FloatArray = np.where(capped, 1.0 / np.where(capped, rate, 1.0), 0.0)
    return out


def _inverse_of(value: float) -> float:
    return 1.0 / value if np.isfinite(value) and value > 0 else 0.0


class Delays:
    """Per node, the seconds that placing a pod there adds, by the sharing reading: to its own
    processing (``cpu_own``), to the processing of the pods already there (``cpu_others``),
    and to its own transfer and, as much again, to the transfers it shares links with
    (``link``)."""

    __slots__ = ("cpu_others", "cpu_own", "link")

    def __init__(
        self,
        cpu_own: state_mod.FloatArray,
        cpu_others: state_mod.FloatArray,
        link: state_mod.FloatArray,
    ) -> None:
        self.cpu_own = cpu_own
        self.cpu_others = cpu_others
        self.link = link


def delays(pod: types.Pod, cluster: state_mod.ClusterState) -> Delays | None:
    """:class:`Delays` of ``pod`` on every node of ``cluster``, or None when it shares
    nothing with anybody (no placed pod computes or moves data). Memoized per pod and usage
    version: the waiting, transfer and congestion terms all read them."""
    key = (
        cluster.version,
        pod.placement_id,
        pod.compute_cost,
        pod.requests.cpu,
        pod.data_source,
        pod.data_size_mb,
    )
    memo = cluster.memo.get("contention")
    if memo is not None and memo[0] == key:
        found: Delays | None = memo[1]
        return found
    computed = _delays(pod, cluster)
    cluster.memo["contention"] = (key, computed)
    return computed


def _delays(pod: types.Pod, cluster: state_mod.ClusterState) -> Delays | None:
    sharers = cluster.sharers
    count = sharers.count
    if count == 0:
        return None
    n = len(cluster)
    node = sharers.node[:count]
    mine = sharers.row.get(pod.placement_id)
    keep: state_mod.FloatArray | None = None
    if mine is not None:  # the pod itself, already placed (explain of a bound pod)
        keep = np.ones(count, dtype=np.float64)
        keep[mine] = 0.0
    zeros = cluster.zeros
    cpu_own, cpu_others = zeros, zeros
    if pod.compute_cost > 0:
        weight = max(pod.requests.cpu, 1.0)
        per_weight = pod.compute_cost / weight
        own = np.minimum(per_weight * sharers.weight[:count], sharers.work[:count])
        others = np.minimum(per_weight, sharers.ratio[:count])
        if keep is not None:
            own *= keep
            others *= keep
        inv_rate = cluster.cached(("inverse", "compute_rate"), _inverse_compute_rate)
        cpu_own = np.bincount(node, own, minlength=n) * inv_rate
        cpu_others = np.bincount(node, others, minlength=n) * (weight * inv_rate)
    link = zeros
    if pod.data_source is not None and pod.data_size_mb > 0:
        link = _link_delays(pod, cluster, keep)
    return Delays(cpu_own, cpu_others, link)


def _inverse_compute_rate(
    cluster: state_mod.ClusterState, key: tuple[str, str]
) -> state_mod.FloatArray:
    return _inverse(cluster.compute_rate)


def _inverse_bandwidth(
    cluster: state_mod.ClusterState, key: tuple[str, str]
) -> state_mod.FloatArray:
    return _inverse(cluster.bandwidth)


def _link_delays(
    pod: types.Pod,
    cluster: state_mod.ClusterState,
    keep: state_mod.FloatArray | None,
) -> state_mod.FloatArray:
    """Seconds a transfer of ``pod`` from elsewhere and the transfers it meets on the node's
    downlink, the source's uplink and the topology link delay each other (0 where the data
    is on the node: nothing moves)."""
    sharers = cluster.sharers
    count = sharers.count
    view = cluster.source_view(pod.data_source or "")
    shared = np.minimum(pod.data_size_mb, sharers.size[:count])  # 0 for a local reader
    if keep is not None:
        shared = shared * keep
    if not shared.any():
        return cluster.zeros
    node = sharers.node[:count]
    code = sharers.sources.get(pod.data_source or "")
    # No placed pod has read this source yet (no code): none shares its uplink.
    same = np.zeros(count, dtype=bool) if code is None else sharers.source[:count] == code
    seconds = link_sums(
        shared[~same],
        node[~same],
        shared[same],
        node[same],
        sharers.site[:count][same],
        inv_down=cluster.cached(("inverse", "bandwidth"), _inverse_bandwidth),
        inv_up=_inverse_of(view.source_bw),
        inv_link=_inverse(view.link_bw),
        site_index=cluster.site_index,
        n_sites=len(cluster.sites),
    )
    seconds *= MEGABITS_PER_MEGABYTE
    seconds[view.on_node] = 0.0
    return seconds


def link_sums(
    other: state_mod.FloatArray,
    other_at: state_mod.IntArray,
    same: state_mod.FloatArray,
    same_at: state_mod.IntArray,
    same_site: state_mod.IntArray,
    *,
    inv_down: state_mod.FloatArray,
    inv_up: float,
    inv_link: state_mod.FloatArray,
    site_index: state_mod.IntArray,
    n_sites: int,
) -> state_mod.FloatArray:
    """Per node ``i`` where a transfer would land: the megabytes it shares with each placed
    transfer times the inverse rate of the slowest link the two cross together.

    ``other`` are the megabytes shared with transfers from other sources, on nodes
    ``other_at`` (they meet on the node's downlink only); ``same`` with transfers from the
    same source, on nodes ``same_at`` of sites ``same_site``: those meet on the source's
    uplink wherever they land, on the topology link into their site, and on the downlink of
    their node. Two transfers that cross the same links are paced together by the slowest
    of them, as the sharing reading of the final state takes the slowest link
    (:func:`.evaluator.grade_sharing`), not slowed by each link in turn.
    """
    n = len(inv_down)
    out: state_mod.FloatArray = np.bincount(other_at, weights=other, minlength=n) * inv_down
    if len(same) and same.any():
        slowest_across = np.maximum(inv_link, inv_up)  # per node: uplink or topology link
        by_site = np.bincount(same_site, weights=same, minlength=n_sites)
        out += float(same.sum()) * inv_up
        out += by_site[site_index] * (slowest_across - inv_up)
        on_node = np.bincount(same_at, weights=same, minlength=n)
        out += on_node * np.maximum(inv_down - slowest_across, 0.0)
    return out
