"""The one grader of placements: each pod's completion time on the *final* cluster state.

A per-pod decision (``scoring.evaluate``) sees the cluster as it is when the pod arrives. A
placement of a batch has to be judged on the state it produces, where every pod of the batch
loads the others: two pods sent to one node both wait behind the node's final utilization,
not the utilization the first one saw. Grading against the starting cluster cannot see the
congestion a placement creates, so `simulate`, the bench, the tests and the batch solver all
grade with this module.

For pod ``p`` on node ``i`` of the final state (docs/model.md, "Grading a placement"):

* transfer: the transfer term (site latency plus size over the bottleneck rate), which does
  not depend on usage;
* processing: ``A_p / P_i``;
* waiting: ``S_p * rho_i / (1 - rho_i)``, with ``rho_i`` the larger of CPU and memory
  utilization of node ``i`` once *every* pod of the batch is on it (capped at
  ``max_utilization``), and ``S_p`` the pod's service time;
* deadline: met when the sum of the three is within ``max-latency-ms`` on that final state.

That is the *queueing* reading, the one the scheduler optimizes: congestion is charged once,
as a wait that grows with the requested share of the node. :func:`grade_sharing` is the
*sharing* reading, calibrated on the testbed (docs/model.md, "Calibration"): CPU-bound pods
that start together split the node's processor and the links their transfers cross, and a
pod takes a measured time to start. The testbed predicts with it.

This module reads a pod's requests, a node's capacity and a node's usage through
:func:`pod_requests`, :func:`node_capacity` and :func:`node_usage`, one place each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from cloudedge.model import filters, terms, types
from cloudedge.model import state as state_mod

DEADLINE_SLACK = 1e-12
"""Relative tolerance on deadlines, as in ``scoring.evaluate`` (rounding must not flip one)."""


def pod_requests(
    pods: Sequence[types.Pod], cluster: state_mod.ClusterState
) -> state_mod.FloatArray:
    """Pods x resources: each pod's requests along ``cluster``'s resource axes (the one place
    this module reads them)."""
    if not pods:
        return np.zeros((0, len(cluster.resources)), dtype=np.float64)
    return np.array([cluster.vector(p) for p in pods], dtype=np.float64)


def node_capacity(cluster: state_mod.ClusterState) -> state_mod.FloatArray:
    """Nodes x resources: allocatable (the one place this module reads capacity)."""
    return cluster.allocatable


def node_usage(cluster: state_mod.ClusterState) -> state_mod.FloatArray:
    """Nodes x resources: usage before the batch (the one place this module reads usage)."""
    return np.array(cluster.used, dtype=np.float64)


def congestion(rho: state_mod.FloatArray | float, max_utilization: float) -> state_mod.FloatArray:
    """``rho / (1 - rho)`` with ``rho`` capped at ``max_utilization``: the M/M/1 wait in
    service times (a full node waits ``max/(1-max)`` service times, not forever)."""
    capped = np.minimum(np.asarray(rho, dtype=np.float64), max_utilization)
    out: state_mod.FloatArray = capped / (1.0 - capped)
    return out


class Problem:
    """A batch of pods on a starting cluster, with every usage-independent cost precomputed.

    Pods x nodes matrices: ``fixed`` (transfer + processing seconds), ``service`` (the wait's
    service time), ``allowed`` (static filters passed and the pod fits the node's free room
    on its own, deadline on the pod alone included) and ``share`` (the pod's CPU and memory
    as fractions of the node's capacity). The batch solver and :func:`grade` share it.
    """

    def __init__(
        self,
        pods: Sequence[types.Pod],
        base: state_mod.ClusterState,
        config: types.ModelConfig,
        *,
        waited: Sequence[bool] | None = None,
    ) -> None:
        self.pods = list(pods)
        self.base = base
        self.config = config
        self.max_utilization = config.max_utilization
        n_pods, n_nodes = len(self.pods), len(base)
        self.requests = pod_requests(self.pods, base)
        self.capacity = node_capacity(base)
        self.start = node_usage(base)
        self.free = self.capacity - self.start
        cap2 = self.capacity[:, :2]
        self.inv_capacity = np.where(cap2 > 0, 1.0 / np.where(cap2 > 0, cap2, 1.0), np.inf)
        """Nodes x 2: 1 / CPU and memory capacity; inf where there is none (full at once)."""
        time_terms = [t for t in terms.build_terms(config) if t.kind is terms.TIME]
        queued = [t.name for t in time_terms if t.grows_with_load]
        if queued != [terms.WaitingTime.name]:
            # The final-state wait is modelled here (below); another load-dependent time term
            # needs its final-state form here too before it can be graded.
            raise ValueError(f"the evaluator models the waiting term only, not {queued}")
        fixed_terms = [t for t in time_terms if not t.grows_with_load]
        # Whole-batch matrix operations (terms.Term.compute_many, filters.feasible_many): a
        # loop over the pods here was most of a 500-pod batch's fixed cost in the live solve.
        self.processing = terms.processing_many(self.pods, base)
        self.fixed = np.zeros((n_pods, n_nodes))
        """Pods x nodes: the time terms that do not depend on load (transfer, processing and
        any other registered one), seconds."""
        self.transfer = np.zeros((n_pods, n_nodes))
        for term in fixed_terms:
            if term.name == terms.ProcessingTime.name:
                seconds = self.processing
            else:
                seconds = term.compute_many(self.pods, base)
            self.fixed += seconds
            if term.name == terms.TransferTime.name:
                self.transfer = seconds
        computes = np.array([pod.compute_cost > 0 for pod in self.pods], dtype=bool)
        self.service = np.where(computes[:, None], self.processing, config.default_service_seconds)
        self.allowed = filters.feasible_many(self.pods, base)
        self.limit = np.array(
            [
                math.inf
                if pod.max_latency_ms is None
                else pod.max_latency_ms / 1000.0 * (1 + DEADLINE_SLACK)
                for pod in self.pods
            ],
            dtype=np.float64,
        )
        # A zero request on an axis adds nothing to it (0 * inf would be nan).
        req2 = self.requests[:, :2]
        cpu_share = np.zeros((n_pods, n_nodes))
        mem_share = np.zeros((n_pods, n_nodes))
        np.multiply(req2[:, :1], self.inv_capacity[:, 0], out=cpu_share, where=req2[:, :1] > 0)
        np.multiply(req2[:, 1:2], self.inv_capacity[:, 1], out=mem_share, where=req2[:, 1:2] > 0)
        self.cpu_share: state_mod.FloatArray = cpu_share
        self.mem_share: state_mod.FloatArray = mem_share
        start_cpu, start_mem = self.start_utilization()
        alone = np.add(cpu_share, start_cpu)
        np.maximum(alone, np.add(mem_share, start_mem), out=alone)
        alone_ect = congestion(alone, self.max_utilization)
        alone_ect *= self.service
        alone_ect += self.fixed
        self.allowed &= alone_ect <= self.limit[:, None]
        self.alone_ect = alone_ect
        """Each pod's completion on each node with no other pod of the batch there."""
        old = [False] * len(self.pods) if waited is None else [bool(w) for w in waited]
        if len(old) != len(self.pods):
            raise ValueError(f"waited has {len(old)} flags for {len(self.pods)} pods")
        classes = [(pod.priority, w) for pod, w in zip(self.pods, old, strict=True)]
        levels = sorted(set(classes), reverse=True)
        rank = {level: k for k, level in enumerate(levels)}
        self.tier = np.array([rank[c] for c in classes], dtype=np.int64)
        """Per pod: its rank in the batch, 0 the highest: by priority, and within one priority
        the pods that ``waited`` (left pending by an earlier batch) above those that did not.
        The joint solver places as many pods of each rank as it can before it counts the next
        (kube-scheduler's queue takes the higher priorities first, then the oldest pods); one
        rank when all share a priority and none waited."""
        self.tiers = len(levels)

    def __len__(self) -> int:
        return len(self.pods)

    def start_utilization(self) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
        """Per node: CPU and memory utilization before the batch."""
        cap2 = self.capacity[:, :2]
        used2 = self.start[:, :2]
        with np.errstate(invalid="ignore"):
            cpu = np.where(cap2[:, 0] > 0, used2[:, 0] * self.inv_capacity[:, 0], 0.0)
            mem = np.where(cap2[:, 1] > 0, used2[:, 1] * self.inv_capacity[:, 1], 0.0)
        return cpu, mem

    def slack(self) -> state_mod.FloatArray:
        """Pods x nodes: the largest congestion factor ``rho/(1-rho)`` at which the pod still
        meets its deadline on the node (inf without a deadline, negative when it never does)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out: state_mod.FloatArray = np.where(
                np.isfinite(self.limit)[:, None],
                (self.limit[:, None] - self.fixed) / self.service,
                math.inf,
            )
        return out


@dataclasses.dataclass(frozen=True)
class PodOutcome:
    """One placed pod's completion on the final state."""

    node: str
    transfer_s: float
    waiting_s: float
    processing_s: float
    ect_s: float
    deadline_met: bool


@dataclasses.dataclass(frozen=True)
class Grade:
    """A placement graded on its final state (the only quality number this project reports).

    ``key`` orders placements: more pods placed on time first, then a lower total completion
    time of the placed pods.
    """

    outcomes: tuple[PodOutcome | None, ...]
    final_rho: state_mod.FloatArray
    """Per node: utilization (max of CPU and memory) after the batch, uncapped."""

    @property
    def placed(self) -> int:
        return sum(1 for o in self.outcomes if o is not None)

    @property
    def deadline_misses(self) -> int:
        return sum(1 for o in self.outcomes if o is not None and not o.deadline_met)

    @property
    def on_time(self) -> int:
        return self.placed - self.deadline_misses

    @property
    def ects(self) -> list[float]:
        return [o.ect_s for o in self.outcomes if o is not None]

    @property
    def total_ect_s(self) -> float:
        return float(sum(self.ects))

    @property
    def mean_ect_s(self) -> float:
        values = self.ects
        return sum(values) / len(values) if values else math.nan

    @property
    def key(self) -> tuple[int, float]:
        return (self.on_time, -self.total_ect_s)


def final_rho(problem: Problem, nodes: Sequence[int | None]) -> state_mod.FloatArray:
    """Per node: the larger of CPU and memory utilization once every assigned pod is on it."""
    cpu, mem = problem.start_utilization()
    cpu, mem = cpu.copy(), mem.copy()
    for p, i in enumerate(nodes):
        if i is not None:
            cpu[i] += problem.cpu_share[p, i]
            mem[i] += problem.mem_share[p, i]
    rho: state_mod.FloatArray = np.maximum(cpu, mem)
    return rho


def least_completion(problem: Problem) -> tuple[state_mod.FloatArray, state_mod.FloatArray]:
    """Per pod: the least completion time any placement can give it, by the queueing reading
    and by the sharing reading (inf for a pod no node allows).

    Other pods only add to a pod's time: to its node's utilization, so to its M/M/1 wait,
    and to the CPU and links it shares. So a pod alone on its best node is a floor: by the
    queueing reading its fixed time there plus its wait at the node's utilization with its
    own share alone; by the sharing reading its grade alone there (one :func:`grade_sharing`
    of the pod by itself per node the filters allow). The mean of the ``k`` smallest floors
    is a floor on the mean of any placement of ``k`` pods: where it is above a target, no
    placement of that many pods meets it, whatever the search (the bench says so beside
    such a target). The nodes are those the filters allow before the batch; a pod whose
    required affinity only a pod of the batch satisfies has no floor (inf)."""
    cpu, mem = problem.start_utilization()
    rho = np.maximum(cpu[None, :] + problem.cpu_share, mem[None, :] + problem.mem_share)
    waiting = problem.service * congestion(rho, problem.max_utilization)
    queueing = np.where(problem.allowed, problem.fixed + waiting, np.inf).min(axis=1)
    sharing = np.full(len(problem.pods), math.inf)
    for p, pod in enumerate(problem.pods):
        allowed = np.flatnonzero(problem.allowed[p])
        if not len(allowed):
            continue
        alone = Problem([pod], problem.base, problem.config)
        sharing[p] = min(grade_sharing(alone, [int(i)]).ects[0] for i in allowed)
    return queueing, sharing


def least_mean(floors: state_mod.FloatArray, count: int) -> float:
    """The mean of the ``count`` smallest of ``floors`` (:func:`least_completion`): no
    placement of ``count`` pods has a lower mean (nan for no pods; inf when fewer than
    ``count`` pods can be placed at all)."""
    if count <= 0:
        return math.nan
    smallest = np.sort(floors)[:count]
    return float(smallest.mean()) if len(smallest) == count else math.inf


def grade_assignment(problem: Problem, nodes: Sequence[int | None]) -> Grade:
    """Grade node indices (``None`` = unplaced), one per pod of ``problem``."""
    rho = final_rho(problem, nodes)
    factor = congestion(rho, problem.max_utilization)
    names = problem.base.names
    outcomes: list[PodOutcome | None] = []
    for p, i in enumerate(nodes):
        if i is None:
            outcomes.append(None)
            continue
        waiting = float(problem.service[p, i] * factor[i])
        ect = float(problem.fixed[p, i]) + waiting
        outcomes.append(
            PodOutcome(
                node=names[i],
                transfer_s=float(problem.transfer[p, i]),
                waiting_s=waiting,
                processing_s=float(problem.processing[p, i]),
                ect_s=ect,
                deadline_met=bool(ect <= problem.limit[p]),
            )
        )
    return Grade(outcomes=tuple(outcomes), final_rho=rho)


def grade(
    pods: Sequence[types.Pod],
    nodes: Sequence[str | None],
    base: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    problem: Problem | None = None,
) -> Grade:
    """Grade a placement given as node names (``None`` = unplaced) on ``base``."""
    problem = problem or Problem(pods, base, config)
    return grade_assignment(problem, [None if n is None else base.index[n] for n in nodes])


# -------------------------------------------------------------------------------------------
# The final state as the pods run it: shared processors and shared links


def shared_finish(sizes: Sequence[float], weights: Sequence[float], own: int) -> float:
    """Work a server has done when job ``own`` finishes, if every job (``sizes``, ``weights``)
    starts together and the server is shared in proportion to the weights of the jobs still
    running (weighted processor sharing).

    Job ``own`` ends at virtual time ``sizes[own] / weights[own]``; by then job ``q`` has
    received ``min(sizes[q], weights[q] * that)``. Divided by the server's rate, the sum is
    job ``own``'s completion time: the server never idles while a job is left.
    """
    virtual = sizes[own] / weights[own]
    return float(sum(min(size, w * virtual) for size, w in zip(sizes, weights, strict=True)))


def overlap_probability(first_s: float, second_s: float, spread_s: float) -> float:
    """Chance that two transfers lasting ``first_s`` and ``second_s`` are in flight at once
    when each starts at an independent, uniformly drawn moment of a window ``spread_s`` long.

    The start of ``q`` minus the start of ``p`` has a triangular density on
    ``[-spread_s, spread_s]``; they overlap when it lies in ``(-second_s, first_s)``, whose
    mass is ``(a + b) / W - (a^2 + b^2) / (2 W^2)`` with each length capped at ``W``. A window
    of 0 (every pod starts together) gives 1: the reading's old assumption.
    """
    if spread_s <= 0.0:
        return 1.0
    a = min(max(first_s, 0.0), spread_s) / spread_s
    b = min(max(second_s, 0.0), spread_s) / spread_s
    return min(1.0, a + b - (a * a + b * b) / 2.0)


def expected_shared_megabytes(
    sizes: Sequence[float], own: int, *, rate: float, spread_s: float
) -> float:
    """Megabytes a link carries by the time transfer ``own`` ends, counting every other
    transfer through the link only as likely as it is to be in flight at the same time
    (:func:`overlap_probability`, durations at the link's full ``rate`` in Mbit/s).

    With ``spread_s`` 0 this is :func:`shared_finish` with equal weights: every transfer
    starts together and the link is fair-shared. The testbed measured why a window is needed:
    pods given room at once still start seconds apart on a loaded host, so a 0.2 s detection
    frame mostly crosses its link alone while an 18 s index transfer shares it with whatever
    starts during it.
    """
    if spread_s <= 0.0:
        return shared_finish(sizes, [1.0] * len(sizes), own)
    mine = sizes[own]
    alone = [terms.MEGABITS_PER_MEGABYTE * size / rate for size in sizes]
    return float(
        mine
        + sum(
            overlap_probability(alone[own], alone[q], spread_s) * min(size, mine)
            for q, size in enumerate(sizes)
            if q != own
        )
    )


def released_sharing(releases: Sequence[float], sizes: Sequence[float]) -> list[float]:
    """How long each job takes from its release to its end when a server of rate 1 is
    fair-shared among the jobs released and not yet done (processor sharing with arrivals).

    The reading from the bind (:func:`grade_sharing` with ``bound_at_s``) knows when each
    pod starts, so a link is shared only by the transfers in flight together, as the node's
    CPU is in :func:`run_node`. Charging every transfer of a link against each other, as
    if all started at once, put transfers at a median 1.83 times their measured time on the
    testbed (the eight runs ``286e282`` to ``1ec18ba``; 1.6 to 3.4 on the burst): the eight
    detection pods of one edge node started over 6 s, each fetching for a fifth of a second.
    """
    done = _shared_in_groups(releases, sizes, range(len(sizes)))
    return [done[q] - releases[q] for q in range(len(sizes))]


def _shared_in_groups(
    releases: Sequence[float], sizes: Sequence[float], groups: Sequence[int] | range
) -> dict[int, float]:
    """When each job ends on a server of rate 1 shared equally among the groups with a job
    released and not yet done, each group's share split equally among those jobs (processor
    sharing with arrivals, on two levels). Returns job index -> its end."""
    order = sorted(range(len(sizes)), key=lambda q: (releases[q], q))
    left: dict[int, float] = {}
    done: dict[int, float] = {}
    now = 0.0
    k = 0
    slack = 1e-12
    while k < len(order) or left:
        if not left:
            now = max(now, releases[order[k]])
        while k < len(order) and releases[order[k]] <= now + slack:
            left[order[k]] = max(0.0, float(sizes[order[k]]))
            k += 1
        per_group: dict[int, int] = {}
        for q in left:
            per_group[groups[q]] = per_group.get(groups[q], 0) + 1
        rate = {q: 1.0 / (len(per_group) * per_group[groups[q]]) for q in left}
        step = min(left[q] / rate[q] for q in left)
        if k < len(order):
            step = min(step, releases[order[k]] - now)
        for q in list(left):
            left[q] -= rate[q] * step
            if left[q] <= slack:
                done[q] = now + step
                del left[q]
        now += step
    return done


@dataclasses.dataclass
class _Running:
    """A pod admitted to a node in :func:`run_node`: the node starts it (``start_left``
    seconds of start work, shared with the node's other starting pods, then ``delay``), its
    transfer ends, then its work runs."""

    index: int
    admitted: float
    start_left: float
    delay: float
    transfer: float
    remaining: float
    weight: float
    running_at: float = math.inf
    transfer_end: float = math.inf


def run_node(
    pods: Sequence[tuple[int, float, float, float, state_mod.FloatArray]],
    *,
    rate: float,
    free: state_mod.FloatArray,
    start_s: float = 0.0,
    first_starts: Mapping[int, float] | None = None,
    start_per_pod_s: float = 0.0,
    released: Mapping[int, float] | None = None,
    delays: Mapping[int, float] | None = None,
) -> dict[int, tuple[float, float]]:
    """Run one node's pods as the node would: ``pods`` are ``(index, transfer seconds, work,
    CPU weight, requests)`` in arrival order. A pod is admitted once its requests fit beside
    the pods running (the first that fits, in arrival order, as a scheduler binds them).
    The node then starts it: ``start_per_pod_s`` of start work, shared equally with the other
    pods the node is starting (processor sharing: ``n`` pods admitted together all take ``n``
    times as long, a pod admitted while others start slows them and is slowed), then
    ``start_s`` more (a pod admitted at once: its entry in ``first_starts``, when there is
    one). It moves its data, then shares the node's ``rate`` with the other computing pods in
    proportion to the weights (weighted processor sharing); it holds its room from admission
    to the end of its work. With ``released``, a pod is not admitted before its entry there
    (when its scheduler bound it, if that is given), and a pod in ``delays`` has no start
    work and starts that long after its admission. Returns index -> (wait, processing
    seconds): from arrival to a
    running container (waiting for room, then starting), and from the end of its transfer to
    the end of its work.

    Exact for this fluid model: time moves from one event (a start's work ends, a transfer
    ends, a pod's work ends, a pod is admitted) to the next, and shares are constant in
    between.
    """
    queue = list(pods)
    room = np.array(free, dtype=np.float64)
    running: dict[int, _Running] = {}
    requests = {p[0]: p[4] for p in pods}
    out: dict[int, tuple[float, float]] = {}
    now = 0.0
    slack = 1e-9
    release = {p[0]: 0.0 if released is None else max(0.0, released.get(p[0], 0.0)) for p in pods}

    def admit() -> None:
        nonlocal room
        k = 0
        while k < len(queue):
            index, transfer, work, weight, req = queue[k]
            if release[index] > now + slack:
                k += 1
                continue
            # Nothing running and still no room: the node never holds it; run it anyway
            # (it was placed there), rather than leave it out of the grade.
            if bool(np.all(req <= room + slack)) or not running:
                queue.pop(k)
                room = room - req
                delay = start_s
                if now == 0.0 and first_starts is not None:
                    delay = first_starts.get(index, start_s)
                start_work = max(start_per_pod_s, 0.0)
                if delays is not None and index in delays:
                    delay, start_work = delays[index], 0.0
                running[index] = _Running(index, now, start_work, delay, transfer, work, weight)
            else:
                k += 1

    def started() -> None:
        for r in running.values():
            if r.running_at == math.inf and r.start_left <= slack:
                r.running_at = now + r.delay
                r.transfer_end = r.running_at + r.transfer

    admit()
    started()
    while running or queue:
        starting = [r for r in running.values() if r.running_at == math.inf]
        computing = [r for r in running.values() if r.transfer_end <= now + slack]
        total_weight = sum(r.weight for r in computing)
        events = [r.transfer_end for r in running.values() if now + slack < r.transfer_end]
        events = [at for at in events if at < math.inf]
        events += [release[q[0]] for q in queue if release[q[0]] > now + slack]
        for r in starting:
            events.append(now + r.start_left * len(starting))
        for r in computing:
            speed = rate * r.weight / total_weight if rate > 0 else 0.0
            events.append(now + r.remaining / speed if speed > 0 else math.inf)
        step = min(events) - now
        if not math.isfinite(step):
            for r in running.values():
                out[r.index] = (r.running_at, math.inf)
            for q in queue:
                out[q[0]] = (math.inf, math.inf)
            break
        for r in starting:
            r.start_left -= step / len(starting)
        for r in computing:
            r.remaining -= rate * r.weight / total_weight * step
        now += step
        started()
        for r in [r for r in running.values() if r.transfer_end <= now + slack]:
            if r.remaining <= slack * max(1.0, rate):
                out[r.index] = (r.running_at, now - r.transfer_end)
                room = room + requests[r.index]
                del running[r.index]
        admit()
        started()
    return out


def room_at_once(problem: Problem, on_node: Mapping[int, Sequence[int]]) -> list[int]:
    """The pods that fit beside the others of their node from the start (:func:`run_node`'s
    first admission: in arrival order, the first that fits, and always the node's first pod),
    in arrival order."""
    slack = 1e-9
    out: list[int] = []
    for i, here in on_node.items():
        room = np.array(problem.free[i], dtype=np.float64)
        for k, q in enumerate(sorted(here)):
            if k == 0 or bool(np.all(problem.requests[q] <= room + slack)):
                room = room - problem.requests[q]
                out.append(q)
    return sorted(out)


def starting_together(problem: Problem, on_node: Mapping[int, Sequence[int]]) -> dict[int, int]:
    """For each pod with room at once (:func:`room_at_once`): how many pods its node starts at
    0, itself included."""
    first = set(room_at_once(problem, on_node))
    out: dict[int, int] = {}
    for here in on_node.values():
        mine = [q for q in here if q in first]
        out.update(dict.fromkeys(mine, len(mine)))
    return out


def shared_starts(arrivals: Sequence[tuple[int, int, float]], work_s: float) -> dict[int, float]:
    """When the cluster has done each pod's start work: ``arrivals`` are ``(pod, node, time
    bound)``; every start costs ``work_s`` on one CPU the nodes share equally (the nodes that
    are starting pods), each node's share split equally among the pods it is starting.
    Returns pod -> the moment its start work is done.

    The testbed measured that shape: the kind nodes' kubelets and runtimes share the host's
    system CPU container by container, so a node bound 8 pods at once started them in 11 to
    18 s while the nodes bound one in the same second started it in 3 to 4 s, and pods bound
    while few others start, as ours are, start sooner.
    """
    ends = _shared_in_groups(
        [a[2] for a in arrivals], [work_s] * len(arrivals), [a[1] for a in arrivals]
    )
    return {arrivals[k][0]: end for k, end in ends.items()}


def staggered_starts(
    problem: Problem, on_node: Mapping[int, Sequence[int]], pod_start_s: float, spread_s: float
) -> dict[int, float]:
    """When each pod with room at once starts: the cluster starts them one after another in
    arrival order, evenly over a window ``spread_s`` long whose middle is ``pod_start_s`` (so
    the median start is still the pod start). The testbed measured both: a scenario's pods
    started seconds apart, the later-submitted ones mostly later (rank correlation of arrival
    and start 0.3 to 0.9 per run)."""
    first = room_at_once(problem, on_node)
    if len(first) < 2:
        return dict.fromkeys(first, pod_start_s)
    step = spread_s / (len(first) - 1)
    return {q: max(0.0, pod_start_s - spread_s / 2.0 + step * rank) for rank, q in enumerate(first)}


def grade_sharing(
    problem: Problem,
    nodes: Sequence[int | None],
    *,
    pod_start_s: float = 0.0,
    start_spread_s: float = 0.0,
    request_overhead_s: float = 0.0,
    start_per_pod_s: float = 0.0,
    bound_at_s: Sequence[float] | None = None,
) -> Grade:
    """Grade a placement as its pods run it, each CPU-bound and without a CPU limit: the
    *sharing* reading of the final state (docs/model.md, "Calibration: the final state as it
    runs").

    :func:`grade_assignment` charges congestion as an M/M/1 wait on the requested share of
    each node. A CPU-bound task without a limit does not use its request, it uses the whole
    node while it runs, and the testbed measured exactly that. Here, for pod ``p`` on node
    ``i``:

    * transfer: the site latency, then fair shares of each link the transfer crosses: the
      node's downlink (every pod on ``i`` that fetches data from elsewhere), the source's
      uplink (every pod reading that source from elsewhere) and the topology link between the
      two sites; the slowest of the three, each as processor sharing of the data sizes
      (:func:`shared_finish`); with ``start_spread_s`` > 0 the pods start spread over that
      window rather than together, and another transfer counts only as likely as it is to
      be in flight at the same time (:func:`expected_shared_megabytes`); with ``bound_at_s``
      each transfer begins when its pod has started (below) and shares each link only with
      the transfers in flight then (:func:`released_sharing`); each transfer also
      pays ``request_overhead_s`` before its first byte beyond the site latency (a request
      to a server on a busy host);
    * processing: the node runs its pods (:func:`run_node`): weighted processor sharing of its
      compute rate among the pods computing, weights their CPU requests (the kernel's CPU
      shares); when all start together, ``sum_q min(A_q, A_p w_q / w_p) / P_i``;
    * waiting: ``pod_start_s`` plus ``start_per_pod_s`` for each pod the node starts at the
      same time (itself included: the testbed measured a node given 8 pods at once starting
      them 11 to 18 s after they were bound, and nodes given one in 3 to 4 s, in the same
      run), the fitted time from submission to a running container, plus the time the pod
      waits for room when the pods placed on ``i`` do not all fit at once (they start in
      arrival order as earlier ones end; a pod holds its room from its start to the end of
      its work). With ``start_spread_s`` > 0 the pods that have room at once start one
      after another in arrival order over that window, centred on ``pod_start_s``
      (:func:`staggered_starts`) before the per-pod part is added, so they also compute
      alongside each other for less of their time. With ``bound_at_s`` each pod is released
      at its bind and its start work is shared as :func:`shared_starts` says, then
      ``pod_start_s`` (its transfer is taken to begin there even if it then waits for room:
      a scheduler that binds only where the pod fits, as every one on the testbed does,
      never makes it wait).

    Pods with their data on their own node move nothing over the network. The deadline is
    judged on the sum, as in :func:`grade_assignment`.
    """
    base = problem.base
    names = base.names
    weights = np.maximum(problem.requests[:, 0], 1.0)
    remote: dict[int, tuple[str, int]] = {}
    for p, i in enumerate(nodes):
        pod = problem.pods[p]
        if i is None or pod.data_source is None or pod.data_size_mb <= 0:
            continue
        if not bool(base.source_view(pod.data_source).on_node[i]):
            remote[p] = (pod.data_source, int(base.site_index[i]))
    on_node: dict[int, list[int]] = {}
    for p, i in enumerate(nodes):
        if i is not None:
            on_node.setdefault(i, []).append(p)
    by_source: dict[str, list[int]] = {}
    by_link: dict[tuple[str, int], list[int]] = {}
    for p, key in remote.items():
        by_source.setdefault(key[0], []).append(p)
        by_link.setdefault(key, []).append(p)
    first_starts: dict[int, float] | None = None
    delays: dict[int, float] | None = None
    began: dict[int, float] | None = None
    if bound_at_s is not None:
        done = shared_starts(
            [(p, i, max(0.0, bound_at_s[p])) for p, i in enumerate(nodes) if i is not None],
            start_per_pod_s,
        )
        delays = {p: done[p] - max(0.0, bound_at_s[p]) + pod_start_s for p in done}
        began = {p: done[p] + pod_start_s for p in done}
    elif start_spread_s > 0.0:
        first_starts = staggered_starts(problem, on_node, pod_start_s, start_spread_s)
    transfers = [0.0] * len(nodes)
    for p, (source, _) in remote.items():
        i = nodes[p]
        assert i is not None
        view = base.source_view(source)
        groups = [
            ([q for q in on_node[i] if q in remote], float(base.bandwidth[i])),
            (by_source[source], view.source_bw),
            (by_link[remote[p]], float(view.link_bw[i])),
        ]
        slowest = 0.0
        for group, rate in groups:
            if not (math.isfinite(rate) and rate > 0):
                continue  # a source site without nodes, or a link without a cap
            sizes = [problem.pods[q].data_size_mb for q in group]
            if began is not None:
                # Seconds at the link's rate, each transfer from its pod's start.
                seconds = released_sharing(
                    [began[q] for q in group],
                    [terms.MEGABITS_PER_MEGABYTE * size / rate for size in sizes],
                )
                slowest = max(slowest, seconds[group.index(p)])
                continue
            megabytes = expected_shared_megabytes(
                sizes, group.index(p), rate=rate, spread_s=start_spread_s
            )
            slowest = max(slowest, terms.MEGABITS_PER_MEGABYTE * megabytes / rate)
        transfers[p] = float(view.latency_s[i]) + request_overhead_s + slowest
    runs: dict[int, tuple[float, float]] = {}
    for i, here in on_node.items():
        runs.update(
            run_node(
                [
                    (
                        q,
                        transfers[q],
                        problem.pods[q].compute_cost,
                        float(weights[q]),
                        problem.requests[q],
                    )
                    for q in here
                ],
                rate=float(base.compute_rate[i]),
                free=problem.free[i],
                start_s=pod_start_s,
                first_starts=first_starts,
                start_per_pod_s=start_per_pod_s,
                released=None if bound_at_s is None else {q: bound_at_s[q] for q in here},
                delays=delays,
            )
        )
    outcomes: list[PodOutcome | None] = []
    for p, i in enumerate(nodes):
        if i is None:
            outcomes.append(None)
            continue
        waiting, processing = runs[p]
        ect = transfers[p] + waiting + processing
        outcomes.append(
            PodOutcome(
                node=names[i],
                transfer_s=transfers[p],
                waiting_s=waiting,
                processing_s=processing,
                ect_s=ect,
                deadline_met=bool(ect <= problem.limit[p]),
            )
        )
    return Grade(outcomes=tuple(outcomes), final_rho=final_rho(problem, nodes))
