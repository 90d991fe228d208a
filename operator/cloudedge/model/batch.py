"""Congestion-aware joint placement of a batch of pods (strategies ``batch`` and ``optimal``).

Greedy commits one pod at a time and cannot take a decision back: a pod with no deadline and
no data on an edge node may take the last room that a later camera pod, whose data and
deadline tie it to that node, needed. This module places the batch jointly, on the state the
whole batch produces, in this order of priority:

1. as many pods as possible, every filter passed on the final state, deadlines included (the
   deadline by the queueing reading of :mod:`.evaluator`, the filter every mode applies);
   counted priority by priority, the highest first, as kube-scheduler's queue takes them (a
   pod of a higher ``spec.priority`` is never left pending for any number of lower ones);
2. then the least total completion time of the placed pods as they run together: the sharing
   reading (:func:`.evaluator.grade_sharing`, which the testbed's measurements bore out)
   made pairwise (:class:`Sharing`): each pod alone, plus what pods on one node add to each
   other's processing and transfers over one link to each other's transfer; and, with
   ``congestionModel: both`` (the default) or ``queueing``, each pod's M/M/1 wait on its
   node's final requested share (:func:`.evaluator.grade_assignment`'s), so that the
   placement is good for pods that serve a stream of work as well as for run-once ones.

How, within a time budget, keeping the best assignment found so far:

* starting points: greedy's and spread's placements (repaired: pods that miss their deadline
  on the final state are taken out), and insertions from scratch in two orders (most
  constrained first; smallest first, for overloaded clusters). Insertion charges each pod its
  marginal cost on the final state: its own completion plus what it and the pods already
  sharing its node and links add to each other's. Two more insertions
  (:func:`insert_cap_aware`) charge deadline-bound pods, placed first, for the capacity
  their cap takes from the node, so they share nodes and leave the others whole: the
  tightest first, or the loosest first (:func:`loose_first_order`), which on an overloaded
  cluster places the most pods;
* with ``use_milp`` (``optimal``, and small batches): a mixed-integer program solved by HiGHS
  (``highspy``): binary ``x[p,i]``, capacity rows, and the final-state deadline made linear:
  a pod with deadline ``D`` on node ``i`` meets it iff the node's final utilization stays
  below the threshold where ``S rho/(1-rho)`` reaches its slack, so one continuous
  utilization ``t_i`` per node and a two-term row per (pod, node) pair express it exactly.
  Phase 1 maximizes the count (its LP relaxation alone proves it when the bound rounds down
  to the incumbent's count); phase 2 keeps the count and minimizes the completion time with
  each (pod, node) pair priced against the best heuristic assignment;
* local search on the exact objective: insertion of unplaced pods (ejecting one blocker to
  another node, or trading a deadline pod that caps its node for more pods), moves, swaps
  and chains; for ``optimal``, when it stops with time left, ruin and recreate (each site
  emptied and refilled in turn) and the local search again.

Every assignment the search holds is feasible on the final state, and greedy's repaired
placement is one of the starting points, so the result is never worse than greedy's under the
solver's key (pods placed with every filter holding, then the objective).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gc
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from cloudedge.model import contention, evaluator, terms
from cloudedge.model import state as state_mod

COST_EPS = 1e-9
"""Improvements smaller than this (seconds) are noise, not progress."""


@dataclasses.dataclass
class SolveInfo:
    """What the solver did: for reports, metrics and the bench."""

    status: str = ""
    """``optimal`` (count and objective proven), ``count-proven``, ``time-limit``, ``heuristic``."""
    count_proven: bool = False
    lower_bound_s: float = math.nan
    """A lower bound on the total completion time of any placement of as many pods (the LP
    relaxation with each pair's completion alone on the node, which sharing only raises)."""
    max_count: int = -1
    """The MILP's count (the proven maximum when ``count_proven``)."""
    max_counts: tuple[int, ...] = ()
    """The MILP's count per priority rank, the highest first (:meth:`Assignment.counts`)."""
    total_s: float = math.nan
    """The kept assignment's total completion time on the final state, when there is a lower
    bound to compare it with (the MILP ran); else ``nan``: it is a pass over every placed
    pod, 5 ms of a 500-pod batch on 1,000 nodes that nothing would read."""
    solve_seconds: float = 0.0
    source: str = ""
    """Which starting point the kept assignment came from."""
    recreated: bool = False
    """Whether :func:`ruin_and_recreate` improved it after the local search stopped."""

    @property
    def gap(self) -> float:
        """Relative gap between the kept objective and the lower bound (``nan`` without one)."""
        if not math.isfinite(self.lower_bound_s) or self.lower_bound_s <= 0:
            return math.nan
        return (self.total_s - self.lower_bound_s) / self.lower_bound_s


class _Sums:
    """A multiset of ``(key, weight)`` pairs kept sorted by key, so that ``sum(min(d, key))``
    and ``sum(weight * min(d, key))`` over it take one bisection and slice sums (C loops)
    instead of a Python loop over its members.

    Pricing a pod on a node sums such minima over the pods it would share the node or a
    link with: the work of the shorter of two pods on one CPU, the megabytes of the smaller
    of two transfers on one link. A cloud node holds a hundred pods and a camera's source
    serves dozens, and the local search prices pods hundreds of thousands of times; a loop
    grows with the readers of a source, these sums with their logarithm. Measured (the local
    search from the most-constrained-first insertion to its end, same result): mixed-400
    seed 1, 48-52 s of CPU with loops, 43 s with these; mixed-250, within noise (7-8 s)."""

    __slots__ = ("keys", "products", "weights")

    def __init__(self) -> None:
        self.keys: list[float] = []
        self.weights: list[float] = []
        self.products: list[float] = []
        """``weight * key`` per member, in the order of :attr:`keys`."""

    def copy(self) -> _Sums:
        out = _Sums()
        out.keys, out.weights, out.products = self.keys[:], self.weights[:], self.products[:]
        return out

    def add(self, key: float, weight: float = 1.0) -> None:
        k = bisect.bisect_right(self.keys, key)
        self.keys.insert(k, key)
        self.weights.insert(k, weight)
        self.products.insert(k, key * weight)

    def discard(self, key: float, weight: float = 1.0) -> None:
        """Take out one member equal to ``(key, weight)``, which must be there."""
        k = bisect.bisect_left(self.keys, key)
        while self.weights[k] != weight:
            k += 1
        del self.keys[k], self.weights[k], self.products[k]

    def both_mins(self, d: float) -> tuple[float, float]:
        """``sum(min(d, key))`` and ``sum(weight * min(d, key))`` over the members."""
        keys = self.keys
        k = bisect.bisect_left(keys, d)
        return (
            sum(keys[:k]) + d * (len(keys) - k),
            sum(self.products[:k]) + d * sum(self.weights[k:]),
        )


def _mins(keys: list[float], d: float) -> float:
    """``sum(min(d, key))`` over ``keys``, sorted (:class:`_Sums`, unweighted: a plain
    sorted list, kept with :func:`bisect.insort`)."""
    k = bisect.bisect_left(keys, d)
    return sum(keys[:k]) + d * (len(keys) - k)


def _discard(keys: list[float], key: float) -> None:
    """Take one ``key`` out of sorted ``keys``, where it must be."""
    del keys[bisect.bisect_left(keys, key)]


class Assignment:
    """A feasible assignment with per-node accumulators, so moves are priced in O(nodes)."""

    def __init__(self, problem: evaluator.Problem) -> None:
        self.problem = problem
        n_nodes = len(problem.base)
        self.where = np.full(len(problem), -1, dtype=np.int64)
        cpu, mem = problem.start_utilization()
        self._start_cpu, self._start_mem = cpu, mem
        self.cpu = cpu.copy()
        self.mem = mem.copy()
        self.used = problem.start.copy()
        self.members: list[set[int]] = [set() for _ in range(n_nodes)]
        self.sharing = sharing(problem)
        self.fetching: list[set[int]] = [set() for _ in range(n_nodes)]
        """Per node: its pods whose data crosses the network (they share its downlink)."""
        n_pods = len(problem)
        # Per pod, kept as pods come and go, for pricing a pod on every node at once
        # (:meth:`shared_costs`): one pass over the batch's columns, masked, instead of
        # gathering the placed pods' values anew for each pod priced.
        self.node_at = np.zeros(n_pods, dtype=np.int64)
        """Per pod: its node (0 when unplaced: :attr:`on_mask` is 0 there)."""
        self.site_at = np.zeros(n_pods, dtype=np.int64)
        """Per pod: its node's site (as :attr:`Sharing.site`)."""
        self.on_mask = np.zeros(n_pods)
        """Per pod: 1.0 when placed."""
        self.fetch_mask = np.zeros(n_pods)
        """Per pod: 1.0 when placed where its data crosses the network."""
        self.source_readers: dict[int, set[int]] = {}
        """Per data source (:attr:`Sharing.source`): its placed pods whose data crosses the
        network, a handful even in a large batch."""
        # What pricing reads, as sorted sums (:class:`_Sums`): per node its pods by work per
        # CPU (weighted by CPU) and its fetching pods by data size; per data source
        # (:attr:`Sharing.source`) the sizes of its placed pods that fetch across the network
        # (they share its uplink, and by site the topology link): all of them, per site
        # (:meth:`_site_key`) and per node (:meth:`_node_key`).
        self.cpu_sums = [_Sums() for _ in range(n_nodes)]
        self.fetch_sums: list[list[float]] = [[] for _ in range(n_nodes)]
        self.source_sums: dict[int, list[float]] = {}
        self.source_site_sums: dict[int, list[float]] = {}
        self.source_node_sums: dict[int, list[float]] = {}
        self.node_slack = np.full(n_nodes, math.inf)
        self.slack, self.slack_limit = _slacks(problem)
        self.fit_cap = problem.capacity + 1e-6
        # Kept per node as the usage changes, so that pricing a pod on every node reads them
        # instead of recomputing them from the usage (one node changes per add or remove).
        self.room = self.fit_cap - self.used
        """Per node and resource: what still fits."""
        self.node_limit = np.full(n_nodes, math.inf)
        """Per node: the largest congestion factor its pods' deadlines allow (with the
        rounding tolerance)."""
        reading = problem.config.congestion_model
        self.shares = reading.shares
        """The objective charges what pods sharing a node or a link add to each other's
        completion as they run (:class:`Sharing`)."""
        self.queues = reading.queues
        """The objective charges each pod the M/M/1 wait of its node's final requested
        share, ``S_p g(rho_i)`` (:func:`.evaluator.grade_assignment`'s wait)."""
        self.factor = evaluator.congestion(np.maximum(cpu, mem), problem.max_utilization)
        """Per node: ``g(rho) = rho / (1 - rho)`` of its utilization now (capped)."""
        self._start_service = (
            problem.base.resident_service(problem.config.default_service_seconds)
            if self.queues
            else np.zeros(n_nodes)
        )
        self._start_wait = float(self._start_service @ self.factor)
        self.service_on = self._start_service.copy()
        """Per node: the service seconds of the pods there, those the starting cluster
        already holds (earlier batches) and the batch's: what its wait weighs. A pod that
        joins a node makes the pods already placed there wait longer too, as greedy's
        congestion term charges it."""

    def _refresh(self, i: int) -> None:
        """Recompute node ``i``'s kept columns from its usage."""
        self.room[i] = self.fit_cap[i] - self.used[i]
        self.node_limit[i] = self.node_slack[i] * (1 + 1e-12)
        self.factor[i] = _g(
            max(float(self.cpu[i]), float(self.mem[i])), self.problem.max_utilization
        )

    def copy(self) -> Assignment:
        clone = object.__new__(Assignment)
        clone.__dict__.update(self.__dict__)
        clone.where = self.where.copy()
        clone.cpu, clone.mem = self.cpu.copy(), self.mem.copy()
        clone.used = self.used.copy()
        clone.members = [set(m) for m in self.members]
        clone.fetching = [set(m) for m in self.fetching]
        clone.node_at, clone.site_at = self.node_at.copy(), self.site_at.copy()
        clone.on_mask, clone.fetch_mask = self.on_mask.copy(), self.fetch_mask.copy()
        clone.source_readers = {k: set(v) for k, v in self.source_readers.items()}
        clone.cpu_sums = [b.copy() for b in self.cpu_sums]
        clone.fetch_sums = [b[:] for b in self.fetch_sums]
        clone.source_sums = {k: b[:] for k, b in self.source_sums.items()}
        clone.source_site_sums = {k: b[:] for k, b in self.source_site_sums.items()}
        clone.source_node_sums = {k: b[:] for k, b in self.source_node_sums.items()}
        clone.node_slack = self.node_slack.copy()
        clone.room = self.room.copy()
        clone.node_limit = self.node_limit.copy()
        clone.service_on = self.service_on.copy()
        clone.factor = self.factor.copy()
        return clone

    # -- accounting -------------------------------------------------------------------
    def rho(self) -> state_mod.FloatArray:
        out: state_mod.FloatArray = np.maximum(self.cpu, self.mem)
        return out

    def total(self) -> float:
        """Total completion time of the placed pods on the final state."""
        placed = np.flatnonzero(self.where >= 0)
        out = float(self.sharing.alone[placed, self.where[placed]].sum())
        if self.shares:
            # Each pair of pods that share a node or a link counted once: half of every
            # pod's interference with the others.
            out += 0.5 * sum(self.shared_with(int(p), int(self.where[p])) for p in placed)
        if self.queues:
            # The waits of the batch's pods, and what they add to the waits of the pods
            # already placed (their waits before the batch are not the batch's).
            out += float(self.service_on @ self.factor) - self._start_wait
        return out

    @property
    def placed(self) -> int:
        return int(np.count_nonzero(self.where >= 0))

    def counts(self) -> tuple[int, ...]:
        """Pods placed per priority rank, the highest first (:attr:`.evaluator.Problem.tier`):
        compared as tuples, more pods of a higher priority win over any number of lower ones."""
        placed = self.problem.tier[self.where >= 0]
        return tuple(np.bincount(placed, minlength=self.problem.tiers).tolist())

    def key(self) -> tuple[float, ...]:
        """Most pods placed, rank by rank from the highest priority, then the least total."""
        return (*self.counts(), -self.total())

    def add(self, p: int, i: int) -> None:
        pr = self.problem
        self.where[p] = i
        self.cpu[i] += pr.cpu_share[p, i]
        self.mem[i] += pr.mem_share[p, i]
        self.used[i] += pr.requests[p]
        self.service_on[i] += pr.service[p, i]
        self.members[i].add(p)
        sh = self.sharing
        self.cpu_sums[i].add(sh.ratio_of[p], sh.weight_of[p])
        self.node_at[p] = i
        self.site_at[p] = sh.site_of[i]
        self.on_mask[p] = 1.0
        if sh.remote[p, i]:
            self.fetching[i].add(p)
            self.fetch_mask[p] = 1.0
            source, size = sh.source_of[p], sh.size_of[p]
            self.source_readers.setdefault(source, set()).add(p)
            bisect.insort(self.fetch_sums[i], size)
            for sums, key in (
                (self.source_sums, source),
                (self.source_site_sums, self._site_key(source, i)),
                (self.source_node_sums, self._node_key(source, i)),
            ):
                found = sums.get(key)
                if found is None:
                    sums[key] = [size]
                else:
                    bisect.insort(found, size)
        self.node_slack[i] = min(self.node_slack[i], self.slack[p, i])
        self._refresh(i)

    def remove(self, p: int) -> int:
        pr = self.problem
        i = int(self.where[p])
        self.where[p] = -1
        self.cpu[i] -= pr.cpu_share[p, i]
        self.mem[i] -= pr.mem_share[p, i]
        self.used[i] -= pr.requests[p]
        self.service_on[i] -= pr.service[p, i]
        members = self.members[i]
        members.discard(p)
        sh = self.sharing
        self.cpu_sums[i].discard(sh.ratio_of[p], sh.weight_of[p])
        self.on_mask[p] = 0.0
        self.fetch_mask[p] = 0.0
        if p in self.fetching[i]:
            self.fetching[i].discard(p)
            source, size = sh.source_of[p], sh.size_of[p]
            self.source_readers[source].discard(p)
            _discard(self.fetch_sums[i], size)
            _discard(self.source_sums[source], size)
            _discard(self.source_site_sums[self._site_key(source, i)], size)
            _discard(self.source_node_sums[self._node_key(source, i)], size)
        if not members:  # no rounding residue on an empty node
            self.cpu[i], self.mem[i] = self._start_cpu[i], self._start_mem[i]
            self.used[i] = pr.start[i]
            self.service_on[i] = self._start_service[i]
            self.node_slack[i] = math.inf
        elif self.slack[p, i] <= self.node_slack[i]:  # it was the tightest: recompute
            column = self.slack[:, i]
            self.node_slack[i] = min(column[q] for q in members)
        self._refresh(i)
        return i

    # -- pricing ----------------------------------------------------------------------
    def joinable(self, p: int) -> tuple[npt.NDArray[np.bool_], state_mod.FloatArray]:
        """Per node: whether ``p`` may join it (allowed, fits, every deadline there and its
        own still met), and the node's congestion factor if it did."""
        pr = self.problem
        g_new = evaluator.congestion(
            np.maximum(self.cpu + pr.cpu_share[p], self.mem + pr.mem_share[p]),
            pr.max_utilization,
        )
        ok = pr.allowed[p] & (g_new <= np.minimum(self.node_limit, self.slack_limit[p]))
        # Column by column: np.all over the rows' axis was 49 us of a 1,000-node pricing,
        # three comparisons 9 us.
        room = self.room
        for r, request in enumerate(pr.requests[p].tolist()):
            ok &= room[:, r] >= request
        return ok, g_new

    def insert_costs(self, p: int) -> state_mod.FloatArray:
        """Per node: the total's increase if ``p`` joined it (inf where it may not)."""
        pr = self.problem
        ok, g_new = self.joinable(p)
        if not ok.any():
            # On an overloaded cluster most pods the search offers fit nowhere: their
            # costs, the sharing terms above all, would be priced for nothing.
            return np.full(len(ok), math.inf)
        cost = self.sharing.alone[p]
        if self.shares:
            cost = cost + self.shared_costs(p)
        if self.queues:
            # Its own wait, and what its share adds to the wait of the pods already there.
            cost = cost + pr.service[p] * g_new + self.service_on * (g_new - self.factor)
        out: state_mod.FloatArray = np.where(ok, cost, math.inf)
        return out

    def insert_cost(self, p: int, i: int) -> float:
        """:meth:`insert_costs` for one node (a swap prices two nodes, not all of them)."""
        pr = self.problem
        if not pr.allowed[p, i]:
            return math.inf
        used, req, cap = self.used[i].tolist(), pr.requests[p].tolist(), self.fit_cap[i].tolist()
        if any(u + r > c for u, r, c in zip(used, req, cap, strict=True)):
            return math.inf
        cpu, mem = float(self.cpu[i]), float(self.mem[i])
        g_new = _g(
            max(cpu + float(pr.cpu_share[p, i]), mem + float(pr.mem_share[p, i])),
            pr.max_utilization,
        )
        limit = min(float(self.node_slack[i]), float(self.slack[p, i]))
        if g_new > limit * (1 + 1e-12):
            return math.inf
        cost = float(self.sharing.alone[p, i])
        if self.shares:
            cost += self.shared_with(p, i)
        if self.queues:
            waits = float(self.service_on[i])
            cost += float(pr.service[p, i]) * g_new + waits * (g_new - float(self.factor[i]))
        return cost

    def removal_gain(self, p: int) -> float:
        """How much the total drops if ``p`` leaves its node."""
        i = int(self.where[p])
        gain = float(self.sharing.alone[p, i])
        if self.shares:
            gain += self.shared_with(p, i)
        if self.queues:
            pr = self.problem
            now = float(self.factor[i])
            after = _g(
                max(
                    float(self.cpu[i] - pr.cpu_share[p, i]),
                    float(self.mem[i] - pr.mem_share[p, i]),
                ),
                pr.max_utilization,
            )
            own = float(pr.service[p, i])
            gain += own * now + (float(self.service_on[i]) - own) * (now - after)
        return gain

    def shared_costs(self, p: int) -> state_mod.FloatArray:
        """Per node: what ``p`` there and the placed pods would add to each other's completion
        (:class:`Sharing`), seconds.

        Sums over every pod of the batch with the unplaced ones masked out
        (:attr:`on_mask`, :attr:`fetch_mask`): each numpy call costs microseconds whatever
        its length here, and gathering the placed pods' columns first took a third of the
        calls of pricing one pod on 1,000 nodes."""
        sh = self.sharing
        n_nodes = len(sh.inv_rate)
        placed_here = self.where[p] >= 0  # its own pair is not a pair
        out: state_mod.FloatArray = np.zeros(n_nodes)
        if sh.work_of[p] > 0:
            cpu = np.minimum(sh.ratio_of[p], sh.ratio)
            cpu *= sh.weight + sh.weight_of[p]
            cpu *= self.on_mask
            if placed_here:
                cpu[p] = 0.0
            out = np.bincount(self.node_at, weights=cpu, minlength=n_nodes) * sh.inv_rate
        source = sh.source_of[p]
        if source < 0:
            return out
        # Every placed transfer shares the node's downlink with p's (one pass over the batch);
        # those from p's own source, a handful, share more (:func:`.contention.link_sums`):
        # its uplink everywhere, the topology link into their site, and on their node the
        # slowest of the three instead of the downlink.
        mbit = np.minimum(sh.size_of[p], sh.size)
        mbit *= self.fetch_mask
        if placed_here:
            mbit[p] = 0.0
        links: state_mod.FloatArray = (
            np.bincount(self.node_at, weights=mbit, minlength=n_nodes) * sh.inv_down
        )
        readers = self.source_readers.get(source)
        if readers and (len(readers) > 1 or p not in readers):
            d_p, up = sh.size_of[p], sh.inv_up_of[p]
            link_p = sh.inv_link[p]
            everywhere = 0.0
            by_site: dict[int, float] = {}
            by_node: dict[int, float] = {}
            for q in readers:
                if q == p:
                    continue
                shared = min(d_p, sh.size_of[q])
                i = int(self.where[q])
                everywhere += shared
                by_site[sh.site_of[i]] = by_site.get(sh.site_of[i], 0.0) + shared
                by_node[i] = by_node.get(i, 0.0) + shared
            links += everywhere * up
            for site, shared in by_site.items():
                nodes = sh.site_nodes[site]
                links[nodes] += shared * (np.maximum(link_p[nodes], up) - up)
            for i, shared in by_node.items():
                down, across = sh.inv_down_of[i], max(float(link_p[i]), up)
                links[i] += shared * (max(down - across, 0.0) - down)
        links *= 2.0 * terms.MEGABITS_PER_MEGABYTE
        out += np.where(sh.remote[p], links, 0.0)
        return out

    def _site_key(self, source: int, i: int) -> int:
        """Key of :attr:`source_site_sums`: ``source`` and the site of node ``i``."""
        return source * self.sharing.n_sites + self.sharing.site_of[i]

    def _node_key(self, source: int, i: int) -> int:
        """Key of :attr:`source_node_sums`: ``source`` and node ``i``."""
        return source * len(self.sharing.site_of) + i

    def shared_with(self, p: int, i: int) -> float:
        """:meth:`shared_costs` on node ``i`` alone, from the pods that share its node and
        links (kept per node and per source: a move prices two nodes, not the batch)."""
        sh = self.sharing
        cost = 0.0
        if sh.work_of[p] > 0:
            # Over the node's other pods q: (w_p + w_q) min(r_p, r_q).
            w_p, r_p = sh.weight_of[p], sh.ratio_of[p]
            mins, weighted = self.cpu_sums[i].both_mins(r_p)
            cpu = w_p * mins + weighted
            if self.where[p] == i:  # its own pair is not a pair
                cpu -= 2.0 * w_p * r_p
            cost += max(cpu, 0.0) * sh.inv_rate_of[i]
        if not sh.remote[p, i]:
            return cost
        return cost + 2.0 * terms.MEGABITS_PER_MEGABYTE * self.link_megabits(p, i)

    def link_megabits(self, p: int, i: int) -> float:
        """Over the placed transfers ``p``'s transfer to node ``i`` would meet (its data
        crosses the network there): the megabytes each shares with it times the inverse rate
        of the slowest link the two cross together (:func:`.contention.link_sums`): the
        node's downlink; from the same source also its uplink, and the topology link into
        the node's site when both land in that site.

        The three rates nest (``up <= across <= here``), so the readers of ``p``'s source
        are summed at ``up``, those in the node's site add ``across - up`` and those on the
        node ``here - across``: four sorted sums (:class:`_Sums`) answer it."""
        sh = self.sharing
        d_p, source_p = sh.size_of[p], sh.source_of[p]
        down = sh.inv_down_of[i]
        on_node = self.source_node_sums.get(self._node_key(source_p, i))
        same_node = _mins(on_node, d_p) if on_node is not None else 0.0
        # The node's other transfers, from other sources, share its downlink only.
        total = max(_mins(self.fetch_sums[i], d_p) - same_node, 0.0) * down
        everywhere = self.source_sums.get(source_p)
        if not everywhere:
            return total
        j = int(self.where[p])
        # p's own transfer, where it is placed, is not a pair.
        own = j >= 0 and p in self.fetching[j]
        site_i = sh.site_of[i]
        in_site = self.source_site_sums.get(self._site_key(source_p, i))
        same_site = _mins(in_site, d_p) if in_site is not None else 0.0
        same_all = _mins(everywhere, d_p)
        if own:
            same_all -= d_p
            if sh.site_of[j] == site_i:
                same_site -= d_p
                if j == i:
                    same_node -= d_p
        up = sh.inv_up_of[p]
        across = max(up, float(sh.inv_link[p, i]))
        here = max(across, down)
        return (
            total
            + max(same_all, 0.0) * up
            + max(same_site, 0.0) * (across - up)
            + max(same_node, 0.0) * (here - across)
        )


def _slacks(problem: evaluator.Problem) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """The problem's slack matrix and the same with the rounding tolerance, computed once per
    problem (every starting point's assignment reads them; each was a pods x nodes pass)."""
    cached: tuple[state_mod.FloatArray, state_mod.FloatArray] | None = problem.__dict__.get(
        "_slacks"
    )
    if cached is None:
        slack = problem.slack()
        cached = problem.__dict__["_slacks"] = (slack, slack * (1 + 1e-12))
    return cached


@dataclasses.dataclass(frozen=True)
class Sharing:
    """What the pods of a batch do to each other as they run: the sharing reading
    (:func:`.evaluator.grade_sharing`) made pairwise, so that a placement's cost is a sum
    over pods and pairs and each move is priced from the pods it touches.

    Two pods on one node share its compute rate in proportion to their CPU requests
    (weighted processor sharing): together they take ``(w_p + w_q) min(A_p/w_p, A_q/w_q) / P``
    longer than each alone (the work of the shorter, as both see it). Two transfers that
    cross a link together share it fairly: ``2 * 8 min(D_p, D_q) / rate`` longer, ``rate``
    the slowest link the two share of the node's downlink, the source's uplink and the
    topology link from the source to the node's site (:func:`.contention.link_sums`; the
    sharing reading keeps the slowest link of each transfer, so this sum over pairs is an
    upper bound of the transfers' part). Alone, a pod's completion is the fixed part of the
    problem (transfer at the bottleneck, ``A_p / P``) plus the same pairwise prices against
    the pods the starting cluster already holds (:attr:`alone`).
    """

    alone: state_mod.FloatArray
    """Pods x nodes: the pod's completion on the node with no other pod of the batch there:
    the problem's fixed time (transfer at the bottleneck, ``A_p / P``) plus what it and the
    pods already placed on the starting cluster (earlier batches, pods bound before) add to
    each other's completion (:func:`.contention.delays`; 0 on a starting cluster without
    any)."""
    weight: state_mod.FloatArray
    """Per pod: CPU request (at least 1 millicore): its share of the node."""
    work: state_mod.FloatArray
    """Per pod: compute cost (work units)."""
    ratio: state_mod.FloatArray
    """Per pod: work per weight."""
    inv_rate: state_mod.FloatArray
    """Per node: 1 / compute rate (0 where there is none)."""
    size: state_mod.FloatArray
    """Per pod: data size, MB."""
    source: state_mod.IntArray
    """Per pod: its data source as a number, -1 without data to move."""
    remote: npt.NDArray[np.bool_]
    """Pods x nodes: the pod's data crosses the network to reach the node."""
    inv_down: state_mod.FloatArray
    """Per node: 1 / its bandwidth (0 where uncapped)."""
    inv_up: state_mod.FloatArray
    """Per pod: 1 / its source's uplink."""
    inv_link: state_mod.FloatArray
    """Pods x nodes: 1 / the topology link from the pod's source to the node's site."""
    site: state_mod.IntArray
    """Per node: its site as a number."""
    n_sites: int
    # The same as plain Python lists: pricing one node sums over a handful of pods, where a
    # numpy call costs more than the arithmetic.
    weight_of: list[float]
    ratio_of: list[float]
    work_of: list[float]
    size_of: list[float]
    source_of: list[int]
    site_of: list[int]
    site_nodes: list[state_mod.IntArray]
    """Per site (as :attr:`site`): its nodes."""
    inv_rate_of: list[float]
    inv_down_of: list[float]
    inv_up_of: list[float]


def _inverse(rate: state_mod.FloatArray) -> state_mod.FloatArray:
    """1 / rate where the rate caps something (finite and > 0), else 0."""
    capped = np.isfinite(rate) & (rate > 0)
    out: state_mod.FloatArray = np.where(capped, 1.0 / np.where(capped, rate, 1.0), 0.0)
    return out


def sharing(problem: evaluator.Problem) -> Sharing:
    """:class:`Sharing` of ``problem``, computed once and kept on it."""
    cached: Sharing | None = problem.__dict__.get("_sharing")
    if cached is not None:
        return cached
    base = problem.base
    n_pods, n_nodes = len(problem), len(base)
    weight = np.maximum(problem.requests[:, 0], 1.0)
    work = np.array([pod.compute_cost for pod in problem.pods], dtype=np.float64)
    size = np.array([pod.data_size_mb for pod in problem.pods], dtype=np.float64)
    source = np.full(n_pods, -1, dtype=np.int64)
    numbers: dict[str, int] = {}
    for p, pod in enumerate(problem.pods):
        if pod.data_source is not None and pod.data_size_mb > 0:
            source[p] = numbers.setdefault(pod.data_source, len(numbers))
    # One row per data source, then one row per pod taken from its source's (the last row
    # stands for "no data to move"): a burst reads from far fewer sources than it has pods,
    # and a pass per pod was 20 ms of a 500-pod batch on 1,000 nodes.
    views = [base.source_view(name) for name in numbers]
    far = np.zeros((len(views) + 1, n_nodes), dtype=bool)
    links = np.zeros((len(views) + 1, n_nodes))
    ups = np.zeros(len(views) + 1)
    if views:
        far[:-1] = ~np.stack([view.on_node for view in views])
        links[:-1] = _inverse(np.stack([view.link_bw for view in views]))
        ups[:-1] = _inverse(np.array([view.source_bw for view in views], dtype=np.float64))
    remote = far[source]
    inv_up = ups[source]
    inv_link = links[source]
    site = np.asarray(base.site_index, dtype=np.int64)
    ratio = work / weight
    inv_rate = _inverse(np.asarray(base.compute_rate, dtype=np.float64))
    inv_down = _inverse(np.asarray(base.bandwidth, dtype=np.float64))
    n_sites = int(site.max()) + 1 if len(site) else 0
    by_site = np.argsort(site, kind="stable")
    cached = Sharing(
        alone=_alone(problem),
        weight=weight,
        work=work,
        ratio=ratio,
        inv_rate=inv_rate,
        size=size,
        source=source,
        remote=remote,
        inv_down=inv_down,
        inv_up=inv_up,
        inv_link=inv_link,
        site=site,
        n_sites=n_sites,
        weight_of=weight.tolist(),
        ratio_of=ratio.tolist(),
        work_of=work.tolist(),
        size_of=size.tolist(),
        source_of=source.tolist(),
        site_of=site.tolist(),
        site_nodes=np.split(by_site, np.searchsorted(site[by_site], np.arange(1, n_sites))),
        inv_rate_of=inv_rate.tolist(),
        inv_down_of=inv_down.tolist(),
        inv_up_of=inv_up.tolist(),
    )
    problem.__dict__["_sharing"] = cached
    return cached


def _alone(problem: evaluator.Problem) -> state_mod.FloatArray:
    """:attr:`Sharing.alone`: the fixed time, plus, for each pod and node, the sharing
    reading's delays between the pod and the pods the starting cluster already holds there
    or on its links. A batch placed after others (live batch mode, a pod bound before) must
    see the CPU and links it would share with them: they are fixed, so the price is per pod
    and node, like the fixed time."""
    base = problem.base
    if base.sharers.count == 0 or not problem.config.congestion_model.shares:
        return problem.fixed
    out = problem.fixed.copy()
    for p, pod in enumerate(problem.pods):
        found = contention.delays(pod, base)
        if found is not None:
            out[p] += found.cpu_own
            out[p] += found.cpu_others
            out[p] += 2.0 * found.link
    return out


def _g(rho: float, max_utilization: float) -> float:
    """:func:`evaluator.congestion` for one node, in plain floats (the search's inner loop)."""
    capped = min(rho, max_utilization)
    return capped / (1.0 - capped)


_GC_LOCK = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off for the duration of a solve.

    The solve allocates no reference cycles (everything it makes is freed by reference
    counting), but a full collection that happens to start during it walks every object of
    the process: measured on 500 pods and 1,000 nodes, the one batch in 60 that met a
    generation-2 collection took 212 ms against a median of 162 ms, and none did with the
    collector off (bench, "Joint solve time"). Process-wide, so nested and concurrent solves
    share one hold; the collector comes back as it was when the last one ends.
    """
    global _gc_holders, _gc_was_enabled
    with _GC_LOCK:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


EXACT_SAFETY_S = 30.0
"""The wall-clock cap of an exact solve (:func:`solve` with ``exact``): a safety net for a
pathological program, far above what a small batch takes (well under a second)."""


class Budget:
    """A wall-clock budget: solvers check it between steps and keep the best so far.

    ``exact``: time does not cut the search, only convergence ends it (with
    :data:`EXACT_SAFETY_S` as a safety net), so the answer does not depend on the machine's
    speed or load: the live binder and ``simulate`` then agree on the same batch.
    """

    def __init__(self, seconds: float, *, exact: bool = False) -> None:
        self.start = time.monotonic()
        self.exact = exact
        self.end = self.start + (EXACT_SAFETY_S if exact else max(seconds, 0.0))

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.0)

    def over(self) -> bool:
        return time.monotonic() >= self.end


def from_nodes(problem: evaluator.Problem, nodes: Sequence[int | None]) -> Assignment:
    """An assignment from node indices, with pods that break a filter on the final state
    (capacity, or a deadline missed because of later pods) taken out, latest first."""
    a = Assignment(problem)
    for p, i in enumerate(nodes):
        if i is not None and problem.allowed[p, i]:
            a.add(p, i)
    # Over capacity (a start that was not ours): drop until it fits.
    for i in range(len(problem.base)):
        while a.members[i] and np.any(a.used[i] > a.fit_cap[i]):
            a.remove(max(a.members[i]))
    # Deadlines on the final state: drop the pod that misses its own by the most, repeat
    # (removing load only lowers the others' waits, so on-time pods stay on time).
    while True:
        g = evaluator.congestion(a.rho(), problem.max_utilization)
        worst, worst_over = -1, 0.0
        for p in np.flatnonzero(a.where >= 0).tolist():
            i = int(a.where[p])
            over = float(g[i] - a.slack[p, i])
            if over > 1e-12 * max(1.0, abs(float(a.slack[p, i]))) and over > worst_over:
                worst, worst_over = p, over
        if worst < 0:
            return a
        a.remove(worst)


MAX_WORTH = 1e6
"""The largest total worth the MILP is given (:func:`priority_worth`): HiGHS's relative gap
(1e-6) must stay below one pod of the lowest rank. A batch of many pods over three or more
ranks (priorities, and pods that waited within one) is above it and is solved by the
heuristics alone."""


def priority_worth(problem: evaluator.Problem) -> state_mod.FloatArray:
    """Per pod: ``(pods + 1) ** (ranks below its own)``, more than all the pods of the lower
    ranks together, so the worth of an assignment orders as its :meth:`Assignment.counts`
    do; all 1 when the batch has one priority."""
    cached: state_mod.FloatArray | None = problem.__dict__.get("_priority_worth")
    if cached is None:
        below = (problem.tiers - 1 - problem.tier).astype(np.float64)
        cached = problem.__dict__["_priority_worth"] = np.power(float(len(problem) + 1), below)
    return cached


def by_priority(problem: evaluator.Problem, order: list[int]) -> list[int]:
    """``order`` with the pods of a higher priority first, each rank in ``order``'s order
    (a stable sort): insertion gives them the room before lower ones can take it."""
    if problem.tiers == 1:
        return order
    tier = problem.tier
    return sorted(order, key=lambda p: int(tier[p]))


def constrained_first(problem: evaluator.Problem) -> list[int]:
    """Insertion order: deadline-bound pods first, fewest possible nodes first; then the
    pods with the most to lose (the largest regret: how much longer they take on their
    second-best node than on their best, alone), big requests breaking ties."""
    choices = problem.allowed.sum(axis=1)
    has_deadline = np.isfinite(problem.limit)
    size = problem.requests[:, 0]
    alone = np.where(problem.allowed, problem.alone_ect, math.inf)
    if alone.shape[1] >= 2:
        two = np.partition(alone, 1, axis=1)[:, :2]
        with np.errstate(invalid="ignore"):  # inf - inf: a pod with no node at all
            regret = np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], math.inf)
    else:
        regret = np.full(len(problem), math.inf)
    return by_priority(
        problem,
        sorted(
            range(len(problem)),
            key=lambda p: (
                not has_deadline[p],
                int(choices[p]) if has_deadline[p] else 0,
                -float(regret[p]),
                -float(size[p]),
                p,
            ),
        ),
    )


def small_first_order(problem: evaluator.Problem) -> list[int]:
    """:func:`small_first`, computed once per problem (the search asks on each pass)."""
    cached: list[int] | None = problem.__dict__.get("_small_first")
    if cached is None:
        cached = problem.__dict__["_small_first"] = small_first(problem)
    return cached


def small_first(problem: evaluator.Problem) -> list[int]:
    """Insertion order for an overloaded cluster: the smallest requests first, deadline-bound
    pods last. A deadline pod caps its node's utilization (its wait must stay within its
    slack), so when not everything fits, placing it first can cost several other pods:
    the count comes first, and this order finds the larger counts that
    :func:`constrained_first` misses."""
    has_deadline = np.isfinite(problem.limit)
    share = np.where(problem.allowed, np.maximum(problem.cpu_share, problem.mem_share), np.inf)
    smallest = share.min(axis=1) if share.shape[1] else np.zeros(len(problem))
    return by_priority(
        problem,
        sorted(range(len(problem)), key=lambda p: (bool(has_deadline[p]), float(smallest[p]), p)),
    )


def utilization_cap(slack: state_mod.FloatArray, max_utilization: float) -> state_mod.FloatArray:
    """The highest utilization at which ``rho/(1-rho)`` stays within ``slack`` (the node's
    cap when a pod with that slack is on it); ``max_utilization`` without a deadline."""
    with np.errstate(invalid="ignore"):
        cap = np.where(np.isfinite(slack), slack / (1.0 + np.maximum(slack, 0.0)), max_utilization)
    out: state_mod.FloatArray = np.clip(cap, 0.0, max_utilization)
    return out


def _deadline_pods_first(problem: evaluator.Problem, *, tightest: bool) -> list[int]:
    """Deadline-bound pods first, by slack (their largest on any node), the tightest first
    (fewest possible nodes before that) or the loosest; then the others, smallest first."""
    has_deadline = np.isfinite(problem.limit)
    choices = problem.allowed.sum(axis=1)
    slack = np.where(problem.allowed, problem.slack(), -math.inf).max(axis=1)
    share = np.where(problem.allowed, np.maximum(problem.cpu_share, problem.mem_share), np.inf)
    smallest = share.min(axis=1) if share.shape[1] else np.zeros(len(problem))

    def key(p: int) -> tuple[int, int, float, int]:
        if not has_deadline[p]:
            return (1, 0, float(smallest[p]), p)
        if tightest:
            return (0, int(choices[p]), float(slack[p]), p)
        return (0, 0, -float(slack[p]), p)

    return by_priority(problem, sorted(range(len(problem)), key=key))


def cap_aware_order(problem: evaluator.Problem) -> list[int]:
    """Deadline-bound pods first, fewest possible nodes first, then the tightest; then the
    others, smallest first (the order of :func:`insert_cap_aware`)."""
    return _deadline_pods_first(problem, tightest=True)


def loose_first_order(problem: evaluator.Problem) -> list[int]:
    """Deadline-bound pods first, the loosest first (the largest slack on any node), then
    the others, smallest first: the second order of :func:`insert_cap_aware`.

    Pods with room to spare lower a node's cap little, so placed first they fill the nodes
    they share at a high cap, and the tighter ones that follow join them only where the cap
    they would set still holds the pods there. On the bench's overloaded draws (mixed, 400
    pods) this start places the most pods on seven of eight seeds (seed 2: 294 against
    :func:`cap_aware_order`'s 234), and after 2 s of search 17 to 24 pods more than the best
    other start did on four of them. :func:`cap_aware_order` stays a start: where few pods
    compete for nodes, the tightest first packs best."""
    return _deadline_pods_first(problem, tightest=False)


def insert_cap_aware(a: Assignment, order: Sequence[int], budget: Budget) -> None:
    """Insert each unplaced pod of ``order`` where it lowers the nodes' caps least, then
    where it adds the least to the total.

    A deadline-bound pod caps its node's utilization for every pod after it (the node's
    wait must stay within its slack). Inserted by cost alone, such pods spread over many
    nodes and cap them all, and an overloaded cluster then holds far fewer pods than it
    could. Charging each pod the capacity its cap takes away (CPU the node can no longer
    fill) sends deadline pods with similar slack to the same nodes and leaves the others
    whole for the pods without a deadline: the count comes first.
    """
    insert_all(a, order, budget, pick=_least_cap_damage)


def _least_cap_damage(a: Assignment, p: int, cost: state_mod.FloatArray) -> int:
    """Among the nodes ``p`` may join (finite ``cost``), the one whose cap it lowers least
    (in CPU the node can no longer fill), then the cheapest."""
    pr = a.problem
    cap_now = utilization_cap(a.node_slack, pr.max_utilization)
    cap_new = utilization_cap(np.minimum(a.node_slack, a.slack[p]), pr.max_utilization)
    damage = np.round((cap_now - cap_new) * pr.capacity[:, 0], 3)
    candidates = np.flatnonzero(np.isfinite(cost))
    tied = candidates[damage[candidates] <= damage[candidates].min()]
    return int(tied[np.argmin(cost[tied])])


def insert_all(
    a: Assignment,
    order: Sequence[int],
    budget: Budget,
    *,
    pick: Callable[[Assignment, int, state_mod.FloatArray], int] | None = None,
) -> None:
    """Insert each unplaced pod of ``order`` where it adds the least to the total, or on the
    node ``pick`` chooses among those it may join (finite cost)."""
    for p in order:
        if a.where[p] >= 0:
            continue
        if budget.over():
            return
        cost = a.insert_costs(p)
        i = int(np.argmin(cost))
        if math.isfinite(cost[i]):
            a.add(p, i if pick is None else pick(a, p, cost))


NEAR_NODES = 32
"""Candidate nodes per pod kept by :func:`nearest` on a large cluster: the search's moves,
swaps, chains and ejections try a handful of them, so a full sort of every row is waste."""


def nearest(problem: evaluator.Problem) -> state_mod.IntArray:
    """Per pod, nodes by its completion alone there (allowed ones only, fastest first):
    every node on a cluster of at most :data:`NEAR_NODES`, else its :data:`NEAR_NODES`
    fastest. Computed once per problem: sorting every row took 25-30 ms for 500 pods on 1,000
    nodes, and the search sorted them again on each pass, past its budget."""
    cached: state_mod.IntArray | None = problem.__dict__.get("_nearest")
    if cached is not None:
        return cached
    ect = np.where(problem.allowed, problem.alone_ect, math.inf)
    n_nodes = ect.shape[1]
    if n_nodes <= NEAR_NODES:
        out: state_mod.IntArray = np.argsort(ect, axis=1, kind="stable")
    else:
        part = np.argpartition(ect, NEAR_NODES - 1, axis=1)[:, :NEAR_NODES]
        order = np.argsort(np.take_along_axis(ect, part, axis=1), axis=1, kind="stable")
        out = np.take_along_axis(part, order, axis=1)
    problem.__dict__["_nearest"] = out
    return out


def constrained_order(problem: evaluator.Problem) -> list[int]:
    """:func:`constrained_first`, computed once per problem (the search asks on each pass)."""
    cached: list[int] | None = problem.__dict__.get("_constrained_first")
    if cached is None:
        cached = problem.__dict__["_constrained_first"] = constrained_first(problem)
    return cached


EJECT_NODES = 6
"""Nodes tried per unplaced pod when ejecting: those where it would finish soonest alone."""


def _unplaced_with_targets(a: Assignment, budget: Budget) -> Iterator[tuple[int, list[int]]]:
    """Each unplaced pod that may run somewhere, most constrained first, with the nodes
    (at most :data:`EJECT_NODES`, allowed ones) where it would finish soonest alone; stops
    when the budget is spent. Made room for on those nodes, it would run best."""
    pr = a.problem
    near = nearest(pr)
    for p in constrained_order(pr):
        if a.where[p] >= 0 or not pr.allowed[p].any():
            continue
        if budget.over():
            return
        targets = []
        for i in near[p, :EJECT_NODES].tolist():
            if not pr.allowed[p, i]:
                break
            targets.append(i)
        yield p, targets


def insert_with_ejection(a: Assignment, budget: Budget) -> bool:
    """Place unplaced pods by moving one pod out of their way each; True when any was placed.

    Per unplaced pod, the :data:`EJECT_NODES` nodes where it would finish soonest, and on
    each the :data:`SWAP_PARTNERS` largest pods (the ones whose leaving frees most room).
    """
    pr = a.problem
    placed_any = False
    # Whether a placed pod may go to another node: what ``p`` does to its node does not
    # change that for the others, so it is asked once per pod until something moves.
    elsewhere: dict[int, bool] = {}
    # Per node, its SWAP_PARTNERS largest pods, until something moves.
    largest: dict[int, list[int]] = {}
    for p, targets in _unplaced_with_targets(a, budget):
        best: tuple[float, int, int, int] | None = None
        for i in targets:
            if budget.over():  # a target costs up to a few ms of pricing on a large batch
                break
            if i not in largest:
                by_size = sorted(a.members[i], key=lambda m: -float(pr.requests[m, 0]))
                largest[i] = by_size[:SWAP_PARTNERS]
            for q in _may_make_room(a, p, i, largest[i]):
                if q not in elsewhere:
                    ok, _ = a.joinable(q)
                    ok[a.where[q]] = False
                    elsewhere[q] = bool(ok.any())
                if not elsewhere[q]:
                    continue
                a.remove(q)
                cost_p = a.insert_cost(p, i)
                if math.isfinite(cost_p):
                    a.add(p, i)
                    cost_q = a.insert_costs(q)
                    cost_q[i] = math.inf
                    j = int(np.argmin(cost_q))
                    a.remove(p)
                    if math.isfinite(cost_q[j]):
                        delta = float(cost_p + cost_q[j])
                        if best is None or delta < best[0]:
                            best = (delta, i, q, j)
                a.add(q, i)
        if best is not None:
            _, i, q, j = best
            a.remove(q)
            a.add(p, i)
            a.add(q, j)
            placed_any = True
            elsewhere.clear()
            largest.clear()
    return placed_any


def _may_make_room(a: Assignment, p: int, i: int, members: list[int]) -> list[int]:
    """Those of ``members`` (pods on node ``i``) whose leaving could let ``p`` in: its
    requests fit in the room they free, and the node's utilization without them and with
    ``p`` stays within ``p``'s own deadline cap there. A necessary test, done for all of
    them at once: most trials of an overloaded cluster fail it, and each would otherwise
    cost a removal, a pricing and an addition."""
    if not members:
        return members
    pr = a.problem
    q = np.asarray(members, dtype=np.int64)
    used = a.used[i] - pr.requests[q] + pr.requests[p]
    fits = np.all(used <= a.fit_cap[i] * (1 + 1e-9), axis=1)
    rho = np.maximum(
        a.cpu[i] - pr.cpu_share[q, i] + pr.cpu_share[p, i],
        a.mem[i] - pr.mem_share[q, i] + pr.mem_share[p, i],
    )
    g = evaluator.congestion(rho, pr.max_utilization)
    fits &= g <= a.slack[p, i] * (1 + 1e-9)
    return [m for m, ok in zip(members, fits.tolist(), strict=True) if ok]


def improve_exchanges(a: Assignment, budget: Budget) -> bool:
    """Give a placed pod's room to an unplaced pod when the total drops; True when any did.

    The count stays the same, so only the second part of the key can improve: with fewer
    places than pods, *which* pods wait is free, and those that wait should be the ones whose
    completion costs most. Insertion picks the pods in the order it meets them and never
    takes that choice back. The evicted pod is tried elsewhere by the insertion that follows.
    Per unplaced pod, the :data:`EJECT_NODES` nodes where it would finish soonest, and on
    each the :data:`SWAP_PARTNERS` pods whose leaving lowers the total most.
    """
    tier = a.problem.tier
    exchanged = False
    # Per node, its pods by what their leaving saves, most first: the same for every
    # unplaced pod that targets the node. Only the node of an exchange is ranked again (the
    # pods' transfers elsewhere may save a little more or less now, which only changes
    # which partners are tried); each trial prices the gain afresh.
    ranked: dict[int, list[int]] = {}
    for p, targets in _unplaced_with_targets(a, budget):
        best: tuple[int, float, int, int] | None = None
        for i in targets:
            if i not in ranked:
                gains = {q: a.removal_gain(q) for q in a.members[i]}
                ranked[i] = sorted(gains, key=lambda m: -gains[m])
            # Never a pod of a higher priority out for ``p``; one of a lower priority goes
            # whatever the total does (the counts of the higher ranks come first).
            partners = [q for q in ranked[i] if tier[q] >= tier[p]][:SWAP_PARTNERS]
            exchange = _Exchange(a, p, i)
            for q in _may_make_room(a, p, i, partners):
                delta = exchange.change(q)
                if not math.isfinite(delta):
                    continue
                rank = int(tier[p]) - int(tier[q])
                if (rank < 0 or delta < -COST_EPS) and (best is None or (rank, delta) < best[:2]):
                    best = (rank, delta, i, q)
        if best is not None:
            _, _, i, q = best
            a.remove(q)
            a.add(p, i)
            exchanged = True
            del ranked[i]
    return exchanged


def improve_moves(a: Assignment, budget: Budget) -> bool:
    """Move single pods to the node where the total drops most; True when any moved."""
    moved = False
    for p in np.flatnonzero(a.where >= 0).tolist():
        if budget.over():
            break
        gain = a.removal_gain(p)
        i = a.remove(p)
        cost = a.insert_costs(p)
        j = int(np.argmin(cost))
        if j != i and cost[j] < gain - COST_EPS:
            a.add(p, j)
            moved = True
        else:
            a.add(p, i)
    return moved


def improve_chains(a: Assignment, budget: Budget, *, targets: int = 4) -> bool:
    """Move a pod to a node that has no room for it, by moving one pod of that node to a
    third node; True when any chain lowered the total. Sizes differ, so a swap often cannot
    free the room a data-heavy pod needs next to its data, while such a chain can."""
    pr = a.problem
    improved = False
    near = nearest(pr)
    for p in np.flatnonzero(a.where >= 0).tolist():
        if budget.over():
            break
        i = int(a.where[p])
        tried = 0
        for j in near[p].tolist():
            if tried >= targets or pr.alone_ect[p, j] >= pr.alone_ect[p, i]:
                break
            if j == i or not pr.allowed[p, j] or not a.members[j]:
                continue
            tried += 1
            if _try_chain(a, p, i, j):
                improved = True
                break
    return improved


def least_insert_costs(a: Assignment) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """Per pod and node, a floor on what the total grows by when the pod joins the node, in
    any state of the search (inf where it may not go); and per pod, its two smallest floors
    over the nodes, for the least one elsewhere than a given node.

    Joining a node adds the pod's own time there (:attr:`Sharing.alone`), what it shares
    with the pods there and on its links (never negative), and, charged by the queueing
    reading, its own wait at a utilization no lower than the node's at the start with the
    pod alone, plus what it adds to the others' (never negative). Cached on the problem per
    reading, as :func:`nearest` is."""
    pr = a.problem
    key = "_least_insert_queues" if a.queues else "_least_insert"
    cached: tuple[state_mod.FloatArray, state_mod.FloatArray] | None = pr.__dict__.get(key)
    if cached is not None:
        return cached
    floor = a.sharing.alone.copy()
    if a.queues:
        floor += pr.alone_ect - pr.fixed
    floor[~pr.allowed] = math.inf
    if floor.shape[1] >= 2:
        two = np.partition(floor, 1, axis=1)[:, :2]
    else:
        two = np.concatenate([floor, np.full((len(floor), 1), math.inf)], axis=1)
    pr.__dict__[key] = (floor, two)
    return floor, two


def _chain_may_gain(a: Assignment, p: int, j: int, gain_p: float, q: int) -> bool:
    """Whether moving ``p`` to ``j`` and ``q`` (on ``j``) elsewhere can lower the total at
    all, priced without moving anything: ``p``'s floor on ``j`` and ``q``'s least floor on
    another node against the two removal gains as they are now (``q``'s can only shrink once
    ``p`` has left: ``p`` may share a link with it, never a node). Most chains the search
    tries cannot, and pricing one by moving the pods took 0.3 ms."""
    floor, two = least_insert_costs(a)
    least_q = float(two[q, 1]) if floor[q, j] <= two[q, 0] else float(two[q, 0])
    return bool(floor[p, j] + least_q < gain_p + a.removal_gain(q) - COST_EPS)


def _try_chain(a: Assignment, p: int, i: int, j: int) -> bool:
    """``p`` from ``i`` to ``j``, one pod ``q`` of ``j`` to wherever it adds least."""
    pr = a.problem
    others = sorted(a.members[j], key=lambda q: float(pr.requests[q, 0]))[-SWAP_PARTNERS:]
    gain_p = a.removal_gain(p)
    others = [q for q in others if _chain_may_gain(a, p, j, gain_p, q)]
    if not others:
        return False
    a.remove(p)
    for q in others:
        gain_q = a.removal_gain(q)
        a.remove(q)
        cost_p = a.insert_cost(p, j)
        if math.isfinite(cost_p):
            a.add(p, j)
            cost_q = a.insert_costs(q)
            cost_q[j] = math.inf
            k = int(np.argmin(cost_q))
            if cost_p + float(cost_q[k]) < gain_p + gain_q - COST_EPS:
                a.add(q, k)
                return True
            a.remove(p)
        a.add(q, j)
    a.add(p, i)
    return False


def improve_swaps(a: Assignment, budget: Budget, *, per_pod: int = 4) -> bool:
    """Swap two pods on different nodes when the total drops; each pod tries the pods of
    the ``per_pod`` other nodes where it would complete soonest alone. True when any swap
    was made."""
    pr = a.problem
    swapped = False
    near = nearest(pr)
    for p in np.flatnonzero(a.where >= 0).tolist():
        if budget.over():
            break
        i = int(a.where[p])
        tried = 0
        for j in near[p].tolist():
            if tried >= per_pod:
                break
            if j == i or not pr.allowed[p, j] or not a.members[j]:
                continue
            tried += 1
            if _try_swaps(a, p, i, j):
                swapped = True
                break
    return swapped


SWAP_PARTNERS = 8
"""Pods of the other node tried per swap: those whose own move gains most in fixed time
(transfer + processing). A cloud node holds a hundred pods; trying all is quadratic."""


def _try_swaps(a: Assignment, p: int, i: int, j: int) -> bool:
    """Swap ``p`` (on ``i``) with a pod of ``j`` when that makes the total drop."""
    pr = a.problem
    others = [q for q in a.members[j] if pr.allowed[q, i]]
    if not others:
        return False
    if len(others) > SWAP_PARTNERS:
        alone = a.sharing.alone
        gain = alone[others, j] - alone[others, i]
        others = [others[k] for k in np.argsort(-gain, kind="stable")[:SWAP_PARTNERS].tolist()]
    swap = _Swap(a, p, i, j)
    for q in others:
        if swap.priced_in_place(q):
            if swap.change(q) < -COST_EPS:
                _swap(a, p, q)
                return True
        elif _swap_if_better(a, p, q):
            return True
    return False


def _swap(a: Assignment, p: int, q: int) -> None:
    """Put ``p`` on ``q``'s node and ``q`` on ``p``'s."""
    i = a.remove(p)
    j = a.remove(q)
    a.add(p, j)
    a.add(q, i)


def _swap_if_better(a: Assignment, p: int, q: int) -> bool:
    """Swap ``p`` and ``q`` when the total drops, priced by taking them out and putting them
    back; the assignment is as it was when it does not."""
    gain_p = a.removal_gain(p)
    i = a.remove(p)
    gain_q = a.removal_gain(q)
    j = a.remove(q)
    cost_p = a.insert_cost(p, j)
    if math.isfinite(cost_p):
        a.add(p, j)
        cost_q = a.insert_cost(q, i)
        if cost_p + cost_q < gain_p + gain_q - COST_EPS:
            a.add(q, i)
            return True
        a.remove(p)
    a.add(q, j)
    a.add(p, i)
    return False


class _Swap:
    """The change of the total if ``p`` (on ``i``) and a pod ``q`` of ``j`` traded nodes,
    computed from the kept sums without changing the assignment.

    A swap tried by taking both pods out and putting them back is four updates of every
    sum they are in; most swaps tried do not lower the total (one in 250 on mixed-250),
    so pricing them in place is most of the local search's time saved. Exact for two pods
    with different data sources, which meet only where one of them is: on ``j``, ``p``
    would share the CPU and the downlink with the pods there but ``q``; on ``i``, ``q``
    with the pods there but ``p``. Two pods reading one source also share its uplink and
    the links into their sites wherever they are; :func:`_swap_if_better` prices those."""

    def __init__(self, a: Assignment, p: int, i: int, j: int) -> None:
        self.a, self.p, self.i, self.j = a, p, i, j
        pr, sh = a.problem, a.sharing
        self.gain_alone_p = float(sh.alone[p, i] - sh.alone[p, j])
        self.shared_p_here = a.shared_with(p, i) if a.shares else 0.0
        self.shared_p_there = a.shared_with(p, j) if a.shares else 0.0
        self.request_p = pr.requests[p].tolist()
        self.room_i = (a.room[i] + pr.requests[p]).tolist()
        self.room_j = a.room[j].tolist()
        # The deadlines that stay on each node: i's without p, j's without q.
        self.slack_i = _slack_without(_tightest(a, i), p)
        self.tight_j = _tightest(a, j)

    def priced_in_place(self, q: int) -> bool:
        """Whether :meth:`change` is exact for ``q``: ``p`` and ``q`` do not read one source."""
        source = self.a.sharing.source_of[self.p]
        return source < 0 or self.a.sharing.source_of[q] != source

    def change(self, q: int) -> float:
        """The total's change if ``p`` and ``q`` traded nodes (inf when either no longer fits
        its new node, its resources or the deadlines there)."""
        a, p, i, j = self.a, self.p, self.i, self.j
        pr, sh = a.problem, a.sharing
        request_q = pr.requests[q].tolist()
        for r_p, r_q, room_i, room_j in zip(
            self.request_p, request_q, self.room_i, self.room_j, strict=True
        ):
            if r_q > room_i or r_p > room_j + r_q:
                return math.inf
        rho_i = _shared_rho(a, i, p, q)
        rho_j = _shared_rho(a, j, q, p)
        g_i = _g(rho_i, pr.max_utilization)
        g_j = _g(rho_j, pr.max_utilization)
        slack_j = _slack_without(self.tight_j, q)
        if g_i > min(self.slack_i, float(a.slack[q, i])) * (1 + 1e-12):
            return math.inf
        if g_j > min(slack_j, float(a.slack[p, j])) * (1 + 1e-12):
            return math.inf
        change = float(sh.alone[q, i] - sh.alone[q, j]) - self.gain_alone_p
        if a.shares:
            change += (
                self.shared_p_there
                - _pair(a, p, q, j)
                + a.shared_with(q, i)
                - _pair(a, q, p, i)
                - self.shared_p_here
                - a.shared_with(q, j)
            )
        if a.queues:
            change += _wait_after(a, i, p, q, g_i) + _wait_after(a, j, q, p, g_j)
        return change


class _Exchange:
    """The change of the total if the unplaced pod ``p`` took the place of a pod ``q`` of
    node ``i``, which then waits: computed from the kept sums, as :class:`_Swap` prices a
    swap, when the two read different sources; by taking ``q`` out and putting it back
    when they read one (they share its uplink)."""

    def __init__(self, a: Assignment, p: int, i: int) -> None:
        self.a, self.p, self.i = a, p, i
        pr = a.problem
        self.request_p = pr.requests[p].tolist()
        self.room_i = a.room[i].tolist()
        self.shared_p = a.shared_with(p, i) if a.shares else 0.0
        self.tight = _tightest(a, i)

    def change(self, q: int) -> float:
        """The total's change if ``p`` took ``q``'s place (inf when it does not fit there)."""
        a, p, i = self.a, self.p, self.i
        pr, sh = a.problem, a.sharing
        source = sh.source_of[p]
        if source >= 0 and sh.source_of[q] == source:
            gain = a.removal_gain(q)
            a.remove(q)
            cost = a.insert_cost(p, i)
            a.add(q, i)
            return cost - gain
        request_q = pr.requests[q].tolist()
        for r_p, r_q, room in zip(self.request_p, request_q, self.room_i, strict=True):
            if r_p > room + r_q:
                return math.inf
        g_new = _g(_shared_rho(a, i, q, p), pr.max_utilization)
        slack = _slack_without(self.tight, q)
        if g_new > min(slack, float(a.slack[p, i])) * (1 + 1e-12):
            return math.inf
        change = float(sh.alone[p, i] - sh.alone[q, i])
        if a.shares:
            change += self.shared_p - _pair(a, p, q, i) - a.shared_with(q, i)
        if a.queues:
            change += _wait_after(a, i, q, p, g_new)
        return change


def _tightest(a: Assignment, i: int) -> list[tuple[float, int]]:
    """Node ``i``'s two tightest deadlines: (the pod's slack there, the pod)."""
    return sorted((float(a.slack[m, i]), m) for m in a.members[i])[:2]


def _slack_without(tightest: list[tuple[float, int]], leaving: int) -> float:
    """The node's slack (:attr:`Assignment.node_slack`) once ``leaving`` is gone from it."""
    return next((slack for slack, m in tightest if m != leaving), math.inf)


def _shared_rho(a: Assignment, i: int, leaving: int, joining: int) -> float:
    """Node ``i``'s utilization once ``leaving`` gave its place there to ``joining``."""
    pr = a.problem
    return max(
        float(a.cpu[i] - pr.cpu_share[leaving, i] + pr.cpu_share[joining, i]),
        float(a.mem[i] - pr.mem_share[leaving, i] + pr.mem_share[joining, i]),
    )


def _wait_after(a: Assignment, i: int, leaving: int, joining: int, g_new: float) -> float:
    """How the M/M/1 waits of node ``i``'s pods change when ``leaving`` gives its place there
    to ``joining`` and the node's congestion factor becomes ``g_new``."""
    pr = a.problem
    service = float(a.service_on[i] - pr.service[leaving, i] + pr.service[joining, i])
    return service * g_new - float(a.service_on[i]) * float(a.factor[i])


def _pair(a: Assignment, p: int, q: int, i: int) -> float:
    """What ``p`` on node ``i`` and ``q``, there already, add to each other's completion: the
    CPU they share, and the downlink when both read data over it (pods of different
    sources share no other link)."""
    sh = a.sharing
    cost = (
        (sh.weight_of[p] + sh.weight_of[q])
        * min(sh.ratio_of[p], sh.ratio_of[q])
        * sh.inv_rate_of[i]
    )
    if sh.remote[p, i] and q in a.fetching[i]:
        cost += (
            2.0
            * terms.MEGABITS_PER_MEGABYTE
            * min(sh.size_of[p], sh.size_of[q])
            * sh.inv_down_of[i]
        )
    return float(cost)


TRADE_NODES = 8
"""Nodes tried per pass of :func:`trade_for_count`: those whose cap is tightest."""


def trade_for_count(a: Assignment, budget: Budget) -> Assignment:
    """Take out the deadline-bound pod that caps a node hardest, or all the deadline-bound
    pods of that node, when that lets more pods in.

    A pod with a deadline caps its node's utilization (its wait must stay within its
    slack). On an overloaded cluster, dropping it can make room for several pods; the count
    comes first, so such a trade is kept when the counts grow, rank by rank
    (:meth:`Assignment.counts`; the dropped pods are re-inserted anywhere they still fit).
    Moves and exchanges, which lower the total, can gather several tight pods on one large
    node; only taking them all out lifts its cap (mixed-400 seed 4: a 16-CPU node held at
    18% by five cameras; 293 pods placed in 2 s against 277 with one pod at a time).
    Returns the assignment to continue with.
    """
    if budget.over():
        # What follows before the first trial (an order of the batch, the nodes by slack)
        # was 5-10 ms of a 500-pod batch on 1,000 nodes past the live binder's budget.
        return a
    pr = a.problem
    order = small_first_order(pr)
    by_slack = np.argsort(a.node_slack, kind="stable").tolist()
    capped = [i for i in by_slack if math.isfinite(a.node_slack[i])]
    for i in capped[:TRADE_NODES]:
        bound = sorted(
            (m for m in a.members[i] if math.isfinite(a.slack[m, i])),
            key=lambda m: float(a.slack[m, i]),
        )
        # The tightest pod alone; failing that, all of them: several tight pods on one
        # node (moved there for their own speed) hold its cap down together, and taking
        # out one of them leaves it where it was.
        for out in (bound[:1], bound) if len(bound) > 1 else (bound,):
            if budget.over():
                return a
            trial = a.copy()
            for q in out:
                trial.remove(q)
            taken = set(out)
            insert_all(trial, [p for p in order if p not in taken and trial.where[p] < 0], budget)
            insert_all(trial, out, budget)
            if trial.counts() > a.counts():
                a = trial
                break
    return a


RECREATE_SHARE = 0.5
"""Share of the budget the local search left that :func:`ruin_and_recreate` gets; a second
local search from what it found gets the rest."""


def _better(trial: Assignment, a: Assignment) -> bool:
    """``trial`` places more pods (rank by rank), or as many for a total lower by more than
    noise."""
    counts, before = trial.counts(), a.counts()
    if counts != before:
        return counts > before
    return trial.total() < a.total() - COST_EPS


def ruin_and_recreate(a: Assignment, budget: Budget) -> Assignment:
    """Take out the pods of one site (those on its nodes, and those that would complete
    soonest alone there), insert them again in another order, and keep the result when it
    is better (:func:`_better`); each site in turn, four orders each (most constrained
    first, the most data first, the largest request first, the smallest first), until a
    round changes nothing.

    Moves, swaps and chains change one, two or three pods at a time, and where they stop
    depends on the start: where the nodes next to a site's data are filled with pods that
    could run anywhere, and no single exchange frees them, the data-heavy pods stay on the
    cloud behind its capped link. Emptying the site and filling it again, the pods that
    need it most first, reaches what those steps cannot: on mixed-250 (seed 2), given 30 s
    (``optimal``), the local search from the kept start stopped at a total of 5,672 s, and
    at 5,467 s after this (its ends from the seven starts ranged from 4,075 to 6,275 s).
    ``optimal`` runs it with the time the local search leaves (:func:`solve`'s
    ``recreate``); ``batch`` does not, since the live binder's next batch waits for this
    one (docs/model.md, "Joint placement", says what each order of the steps measured).
    Deterministic: no random choice."""
    pr = a.problem
    order = constrained_order(pr)
    rank = np.empty(len(pr), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
    sh = a.sharing
    site = np.asarray(sh.site)
    home = site[nearest(pr)[:, 0]]
    data = np.asarray(sh.size_of, dtype=np.float64)
    cpu = pr.requests[:, 0]
    orders: tuple[Callable[[int], tuple[float, ...]], ...] = (
        lambda p: (float(rank[p]),),
        lambda p: (-float(data[p]), float(rank[p])),
        lambda p: (-float(cpu[p]), float(rank[p])),
        lambda p: (float(cpu[p]), float(rank[p])),
    )
    changed = True
    while changed:
        changed = False
        for s in range(sh.n_sites):
            for how in orders:
                if budget.over():
                    return a
                placed = np.flatnonzero(a.where >= 0)
                taken = placed[(site[a.where[placed]] == s) | (home[placed] == s)].tolist()
                if not taken:
                    break
                trial = a.copy()
                for p in taken:
                    trial.remove(p)
                insert_all(trial, sorted(taken, key=how), budget)
                insert_all(trial, order, budget)
                if _better(trial, a):
                    a, changed = trial, True
    return a


def local_search(a: Assignment, budget: Budget) -> Assignment:
    """Insertions (with ejection, or trading a capping pod for more), exchanges of a placed
    pod for an unplaced one, moves and swaps until nothing improves or time is up."""
    order = constrained_order(a.problem)
    while not budget.over():
        insert_all(a, order, budget)
        if a.placed < len(a.problem):
            if insert_with_ejection(a, budget):
                continue
            before = a.counts()
            a = trade_for_count(a, budget)
            if a.counts() > before:
                continue
            if improve_exchanges(a, budget):
                continue
        if improve_moves(a, budget):
            continue
        if improve_swaps(a, budget):
            continue
        if not improve_chains(a, budget):
            break
    return a


def solve_milp(
    problem: evaluator.Problem,
    incumbent: Assignment,
    budget: Budget,
    info: SolveInfo,
) -> list[int | None] | None:
    """The count-then-cost program on HiGHS (see the module docstring); None without a
    solution in the budget. Records the proven count and the LP lower bound in ``info``."""
    import highspy  # a compiled extension: imported where it is used

    pairs_p, pairs_i = np.nonzero(problem.allowed)
    nvar_x = len(pairs_p)
    if nvar_x == 0:
        info.count_proven = True
        return None
    n_pods = len(problem)
    slack = incumbent.slack[pairs_p, pairs_i]
    g_max = float(evaluator.congestion(problem.max_utilization, problem.max_utilization))
    dl = np.flatnonzero(slack < g_max)
    dl_nodes = np.unique(pairs_i[dl])
    t_col = {int(i): nvar_x + k for k, i in enumerate(dl_nodes.tolist())}
    ncol = nvar_x + len(t_col)
    rows: list[sparse.coo_array] = []
    lower: list[state_mod.FloatArray] = []
    upper: list[state_mod.FloatArray] = []
    xs = np.arange(nvar_x)
    # One node per pod.
    rows.append(sparse.coo_array((np.ones(nvar_x), (pairs_p, xs)), shape=(n_pods, ncol)))
    lower.append(np.full(n_pods, -math.inf))
    upper.append(np.ones(n_pods))
    # Capacity on every resource, one row per node some pod may use: a node no pod of the
    # batch may use (cordoned, full, filtered out) adds no row, so the program, and the
    # answer HiGHS picks among equal optima, is the same with or without such nodes.
    cap_nodes = np.unique(pairs_i)
    cap_row = np.searchsorted(cap_nodes, pairs_i)
    for r in range(problem.requests.shape[1]):
        coeff = problem.requests[pairs_p, r]
        keep = coeff > 0
        if not keep.any():
            continue
        # In shares of the node's capacity: bytes and millicores in one matrix would leave
        # HiGHS with coefficients twelve orders of magnitude apart.
        scale = 1.0 / np.maximum(problem.capacity[:, r], 1.0)
        rows.append(
            sparse.coo_array(
                (coeff[keep] * scale[pairs_i[keep]], (cap_row[keep], xs[keep])),
                shape=(len(cap_nodes), ncol),
            )
        )
        lower.append(np.full(len(cap_nodes), -math.inf))
        upper.append((problem.free[:, r] * scale)[cap_nodes] + 1e-9)
    # Final utilization t_i >= start + sum share * x, on CPU and on memory.
    if t_col:
        start_cpu, start_mem = problem.start_utilization()
        node_row = {i: k for k, i in enumerate(t_col)}
        on_dl = np.isin(pairs_i, dl_nodes)
        rr = np.array([node_row[int(i)] for i in pairs_i[on_dl]], dtype=np.int64)
        tcols = np.array(list(t_col.values()), dtype=np.int64)
        tr = np.arange(len(t_col))
        for share, start in (
            (problem.cpu_share[pairs_p, pairs_i], start_cpu),
            (problem.mem_share[pairs_p, pairs_i], start_mem),
        ):
            data = np.concatenate([np.minimum(share[on_dl], 1e6), -np.ones(len(tr))])
            r_idx = np.concatenate([rr, tr])
            c_idx = np.concatenate([xs[on_dl], tcols])
            rows.append(sparse.coo_array((data, (r_idx, c_idx)), shape=(len(t_col), ncol)))
            lower.append(np.full(len(t_col), -math.inf))
            upper.append(-start[dl_nodes])
        # Deadline of pair k: t_i + (1 - rho*_k) x_k <= 1, rho* = slack / (1 + slack).
        thr = np.maximum(slack[dl], 0.0) / (1.0 + np.maximum(slack[dl], 0.0))
        thr = np.where(slack[dl] < 0, -1.0, thr)
        k_rows = np.arange(len(dl))
        tcol_of = np.array([t_col[int(i)] for i in pairs_i[dl]], dtype=np.int64)
        data = np.concatenate([np.ones(len(dl)), 1.0 - thr])
        rows.append(
            sparse.coo_array(
                (data, (np.concatenate([k_rows, k_rows]), np.concatenate([tcol_of, dl]))),
                shape=(len(dl), ncol),
            )
        )
        lower.append(np.full(len(dl), -math.inf))
        upper.append(np.ones(len(dl)))
    a_mat = sparse.vstack(rows).tocsc()
    row_lo = np.concatenate(lower)
    row_hi = np.concatenate(upper)

    def model(cost: state_mod.FloatArray, *, integer: bool) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_ = ncol
        lp.num_row_ = a_mat.shape[0]
        lp.col_cost_ = np.concatenate([cost, np.zeros(len(t_col))])
        lp.col_lower_ = np.zeros(ncol)
        lp.col_upper_ = np.concatenate([np.ones(nvar_x), np.full(len(t_col), 1e6)])
        lp.row_lower_ = row_lo
        lp.row_upper_ = row_hi
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a_mat.indptr
        lp.a_matrix_.index_ = a_mat.indices
        lp.a_matrix_.value_ = a_mat.data
        if integer:
            lp.integrality_ = [highspy.HighsVarType.kInteger] * nvar_x + [
                highspy.HighsVarType.kContinuous
            ] * len(t_col)
        return lp

    def start_vector(a: Assignment) -> list[float]:
        x = np.zeros(ncol)
        sel = a.where[pairs_p] == pairs_i
        x[:nvar_x] = sel
        if t_col:
            rho = a.rho()
            for i, c in t_col.items():
                x[c] = rho[i]
        return x.tolist()

    def run(lp: highspy.HighsLp, start: list[float] | None) -> tuple[Any, Any, Any]:
        h = _new_highs()
        h.setOptionValue("output_flag", os.environ.get("CLOUDEDGE_HIGHS_LOG") == "1")
        h.setOptionValue("time_limit", max(budget.left(), 0.01))
        h.setOptionValue("mip_rel_gap", 1e-6)
        # Probing (in presolve) on these assignment rows can spend the whole budget before
        # the first LP; HiGHS's own log suggests turning it off (rule bit 2^15).
        h.setOptionValue("presolve_rule_off", 1 << 15)
        h.passModel(lp)
        if start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = start
            h.setSolution(sol)
        h.run()
        return h, h.getModelStatus(), h.getInfo()

    optimal = highspy.HighsModelStatus.kOptimal
    # Phase 1: most pods, rank by rank from the highest priority: pod p is worth
    # (pods + 1) ** (ranks below it), more than every pod of the lower ranks together, so the
    # largest worth is the largest counts compared rank by rank. The LP relaxation first:
    # when its bound rounds down to the incumbent's worth, that is proven and the integer
    # program is not needed.
    worth = priority_worth(problem)[pairs_p]

    def value_of(a: Assignment) -> float:
        return float(priority_worth(problem)[a.where >= 0].sum())

    _, status0, info0 = run(model(-worth, integer=False), None)
    lp_value = math.floor(-float(info0.objective_function_value) + 1e-6)
    if status0 == optimal and lp_value <= value_of(incumbent):
        x1 = (incumbent.where[pairs_p] == pairs_i).astype(np.float64)
        value = value_of(incumbent)
        info.count_proven = True
    else:
        h1, status1, info1 = run(model(-worth, integer=True), start_vector(incumbent))
        sol1 = h1.getSolution()
        if not sol1.value_valid:
            return None
        x1 = np.asarray(sol1.col_value)[:nvar_x]
        value = float(round(float(x1 @ worth)))
        bound = -float(info1.mip_dual_bound)
        info.count_proven = status1 == optimal or (
            math.isfinite(bound) and math.floor(bound + 1e-6) <= value
        )
    chosen = pairs_p[x1 > 0.5]
    info.max_count = len(chosen)
    info.max_counts = tuple(np.bincount(problem.tier[chosen], minlength=problem.tiers).tolist())
    # Phase 2: keep the counts, least completion time, each pair priced against the
    # incumbent (or phase 1's answer when it is worth more): the pod's completion alone plus
    # what it and the pods there would add to each other's.
    ref = incumbent
    if value > value_of(incumbent):
        ref = from_nodes(problem, _nodes_of(x1, pairs_p, pairs_i, n_pods))
    cost = sharing(problem).alone[pairs_p, pairs_i].copy()
    if ref.shares:
        for p in np.unique(pairs_p).tolist():
            at = pairs_p == p
            cost[at] += ref.shared_costs(p)[pairs_i[at]]
    if ref.queues:
        # The wait at the reference's final utilization of the node: a convex cost made
        # linear around the incumbent.
        cost += problem.service[pairs_p, pairs_i] * ref.factor[pairs_i]
    # Keep the counts: one more row, which ``model`` picks up through the closure.
    count_row = sparse.coo_array((worth, (np.zeros(nvar_x), xs)), shape=(1, ncol))
    a_mat = sparse.vstack([a_mat.tocoo(), count_row]).tocsc()
    row_lo = np.concatenate([row_lo, [value - 0.5]])
    row_hi = np.concatenate([row_hi, [math.inf]])
    # The lower bound: the LP relaxation with each pair's completion alone on the node.
    if budget.left() > 0:
        alone = sharing(problem).alone[pairs_p, pairs_i]
        if incumbent.queues:
            # A pod's wait alone on the node (its own share on the starting usage), which
            # the others' shares only raise.
            alone = alone + (problem.alone_ect - problem.fixed)[pairs_p, pairs_i]
        _, status_lb, info_lb = run(model(alone, integer=False), None)
        if status_lb == optimal and info.count_proven:
            info.lower_bound_s = float(info_lb.objective_function_value)
    warm = start_vector(ref) if value_of(ref) >= value else None
    h2, _, _ = run(model(cost, integer=True), warm)
    sol2 = h2.getSolution()
    x = np.asarray(sol2.col_value)[:nvar_x] if sol2.value_valid else x1
    return _nodes_of(x, pairs_p, pairs_i, n_pods)


_BANNER_LOCK = threading.Lock()
_banner_shown = False


def _new_highs() -> Any:
    """A ``highspy.Highs`` without HiGHS's copyright banner.

    The first ``Highs()`` of a process prints it to the C-level stdout, before any option
    can turn output off, which garbled ``simulate``'s output and the operator's log. Later
    instances print nothing, so only the first is made with file descriptor 1 pointed at
    ``/dev/null`` (for the microseconds the constructor takes).
    """
    import highspy  # a compiled extension: imported where it is used

    global _banner_shown
    with _BANNER_LOCK:
        if _banner_shown:
            return highspy.Highs()  # type: ignore[no-untyped-call]
        _banner_shown = True
        sys.stdout.flush()
        try:
            saved = os.dup(1)
        except OSError:  # no fd 1 (embedded interpreters): nothing to protect
            return highspy.Highs()  # type: ignore[no-untyped-call]
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 1)
                return highspy.Highs()  # type: ignore[no-untyped-call]
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _nodes_of(
    x: state_mod.FloatArray,
    pairs_p: state_mod.IntArray,
    pairs_i: state_mod.IntArray,
    n_pods: int,
) -> list[int | None]:
    nodes: list[int | None] = [None] * n_pods
    for k in np.flatnonzero(x > 0.5).tolist():
        nodes[int(pairs_p[k])] = int(pairs_i[k])
    return nodes


LARGE_PAIRS = 100_000
"""Above this many allowed (pod, node) pairs (500 pods on 200 nodes) ``batch`` starts from one
insertion only, not from greedy's and spread's placements: each of those evaluates every pod
on every node with the full scoring pipeline, which at 500 pods on 1,000 nodes alone takes
several times the live solve's target (bench, "Joint solve time")."""

SMALL_MILP_PAIRS = 2000
"""Up to this many (pod, node) pairs ``batch`` runs the MILP as ``optimal`` does, and solves
to convergence (``exact``): it then takes a small share of the 2 s budget (the seed case: 80
pairs; 40 pods on 12 nodes: about 0.3 s on an idle core)."""

QUEUEING_FIRST_SHARE = 0.5
"""Share of the budget left after the starts that :func:`_queueing_first` gets."""
QUEUEING_FIRST_PLACED = 0.9
""":func:`_queueing_first` runs when the best start places this share of the batch: on an
overloaded cluster the search needs its whole budget for the count."""


def _queueing_first(
    name: str,
    a: Assignment,
    starts: Sequence[Assignment],
    order: Sequence[int],
    budget: Budget,
    *,
    exact: bool,
) -> tuple[str, Assignment]:
    """With ``congestionModel: both``: the best start by the M/M/1 waits alone (``starts``,
    and an insertion priced by the waits), searched by the waits alone, in place of ``a``
    (the best start by the sum of the two readings) when it is better by the sum; the
    caller's search by the sum continues from the one kept.

    Searched by the sum from its best start, the search can stop where no move, swap or
    chain lowers the sum, far above what a search by the waits reaches: on mixed-250 seed 2,
    in 2 s, a total of 6,384 s from the best start, 4,356 s once searched by the waits first
    (0.456 and 0.572 of ``spread``'s mean by the two readings, against 0.723 and 0.746).
    docs/model.md ("Joint placement", 5) has the draws it was measured on."""
    share = budget if exact else Budget(budget.left() * QUEUEING_FIRST_SHARE)
    # The best start by the waits alone: the starts as they are, and an insertion priced
    # by the waits alone.
    scratch = Assignment(a.problem)
    scratch.shares = False
    insert_all(scratch, order, share)
    trials = [scratch]
    for start in starts:
        trial = start.copy()
        trial.shares = False
        trials.append(trial)
    trial = local_search(max(trials, key=lambda t: t.key()), share)
    trial.shares = True
    if trial.key() > a.key():
        return "queueing-first", trial
    return name, a


MILP_SHARE = 0.5
"""Share of the budget the MILP gets when it runs (``optimal``); the local search on the
exact, nonlinear evaluator gets the rest."""


def solve(
    problem: evaluator.Problem,
    starts: Sequence[tuple[str, Sequence[int | None]]],
    *,
    time_limit_s: float,
    use_milp: bool = True,
    exact: bool = False,
    small_first_start: bool = True,
    recreate: bool = False,
    queueing_first: bool = False,
) -> tuple[Assignment, SolveInfo]:
    """The best assignment found within ``time_limit_s`` (see the module docstring).

    Every start is repaired and completed by insertion; so is a most-constrained-first
    insertion from scratch. With ``use_milp`` HiGHS proves the count (or finds a larger
    one) and improves the objective. The best of them goes through local search.
    Overruns the limit by at most one local-search step. ``exact`` ignores the limit (see
    :class:`Budget`): for small batches, whose answer must not depend on the clock. Without
    any ``starts``, the first insertion runs to its end whatever the limit: it is the
    answer the search improves on. ``small_first_start`` False skips the second insertion
    (large batches, where one insertion is a good share of the budget). ``recreate`` gives
    the time the local search leaves to :func:`ruin_and_recreate` (``optimal``); without it
    the search's end is the answer, as soon as it stops: the live binder's next batch waits
    for this one.
    """
    t0 = time.monotonic()
    budget = Budget(time_limit_s, exact=exact)
    info = SolveInfo()
    order = constrained_order(problem)
    candidates: list[tuple[str, Assignment]] = []
    for name, nodes in starts:
        a = from_nodes(problem, nodes)
        insert_all(a, order, budget)
        candidates.append((name, a))
    scratch = [("insertion", order)]
    if small_first_start:
        scratch.append(("small-first", small_first_order(problem)))
    for name, each in scratch:
        a = Assignment(problem)
        insert_all(a, each, budget if candidates else Budget(0.0, exact=True))
        candidates.append((name, a))
    for name, cap_order in (("cap-aware", cap_aware_order), ("loose-first", loose_first_order)):
        if not small_first_start or budget.over():
            break
        if name == "loose-first" and any(c.placed == len(problem) for _, c in candidates):
            # It is there to place more pods; every pod is placed already (the live
            # binder's batches, mostly, whose budget it would take from the search).
            break
        a = Assignment(problem)
        insert_cap_aware(a, cap_order(problem), budget)
        insert_all(a, order, budget)
        candidates.append((name, a))
    # One candidate (a large batch) needs no key: its total alone is a pass over every pod.
    best_name, best = (
        candidates[0] if len(candidates) == 1 else max(candidates, key=lambda c: c[1].key())
    )
    if use_milp and float(priority_worth(problem).sum()) > MAX_WORTH:
        use_milp = False
    if use_milp and not budget.over():
        share = budget if exact else Budget(budget.left() * MILP_SHARE)
        milp_nodes = solve_milp(problem, best, share, info)
        if milp_nodes is not None:
            milp = from_nodes(problem, milp_nodes)
            insert_all(milp, order, budget)
            if milp.key() > best.key():
                best_name, best = "milp", milp
    if (
        queueing_first
        and best.shares
        and best.queues
        and best.placed >= QUEUEING_FIRST_PLACED * len(problem)
        and not budget.over()
    ):
        best_name, best = _queueing_first(
            best_name, best, [c for _, c in candidates], order, budget, exact=exact
        )
    best = local_search(best, budget)
    if recreate and not budget.over():
        # The search stopped in a local optimum with time left: empty and refill one site
        # at a time, then search again from there.
        before = best.key()
        best = ruin_and_recreate(best, budget if exact else Budget(budget.left() * RECREATE_SHARE))
        if best.key() > before:
            info.recreated = True
            best = local_search(best, budget)
    info.source = best_name
    info.solve_seconds = time.monotonic() - t0
    if math.isfinite(info.lower_bound_s):
        info.total_s = best.total()
    if info.count_proven and best.counts() >= info.max_counts:
        info.status = "count-proven"
    elif use_milp:
        info.status = "time-limit"
    else:
        info.status = "heuristic"
    if info.status == "count-proven" and info.total_s <= info.lower_bound_s * (1 + 1e-6):
        info.status = "optimal"
    return best, info
