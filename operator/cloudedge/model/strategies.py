"""Placement strategies over a batch of pods, all sharing the same filters.

* ``score``: greedy, one pod at a time in arrival order, usage updated after each. This is
  exactly what the live scheduler does in its default mode, so ``simulate --strategy score``
  predicts it.
* ``spread``: the baseline, roughly kube-scheduler's default scoring (least allocated plus
  balanced allocation), blind to our annotations for scoring but bound by the same filters.
* ``batch``: joint placement (:mod:`.batch`): most pods placed with every filter, deadlines
  included, holding on the final state, then the least total completion time on that state.
  The live scheduler's ``--placement batch`` places each window of pods with it.
* ``optimal``: the same solver with the whole time limit; the reference ``batch`` is
  measured against, its count proven by the MILP when the solve finishes in time.

Every strategy is graded the same way, by :func:`grade` (:mod:`.evaluator`): each pod's
completion time on the final state, where the pods of the batch load each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np

from cloudedge.model import batch, evaluator, scoring, types
from cloudedge.model import state as state_mod


class Strategy(enum.StrEnum):
    """The names ``cloudedge simulate --strategy`` accepts."""

    SCORE = "score"
    SPREAD = "spread"
    OPTIMAL = "optimal"
    BATCH = "batch"


BATCH_TIME_LIMIT_S = 2.0
"""``batch``'s budget (``optimal`` takes the caller's whole limit): a joint decision the
live scheduler can afford for a burst, and enough for the bench's 500-pod batches."""


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one pod went (``node`` None when it did not fit) and why."""

    pod: types.Pod
    node: str | None
    reason: str | None = None
    terms: scoring.NodeTerms | None = None


@dataclasses.dataclass
class PlacementResult:
    """A strategy's decisions for a batch, with the cluster before and after."""

    strategy: Strategy
    placements: list[Placement]
    base: state_mod.ClusterState
    final: state_mod.ClusterState
    solver_status: str = ""
    """For ``batch`` and ``optimal``: ``optimal``, ``count-proven``, ``time-limit`` (see
    :class:`.batch.SolveInfo`)."""
    solve: batch.SolveInfo | None = None
    """For ``batch`` and ``optimal``: what the solver did (bound, time, kept start)."""

    @property
    def placed(self) -> int:
        """How many pods got a node."""
        return sum(1 for p in self.placements if p.node is not None)


def grade(result: PlacementResult, config: types.ModelConfig) -> evaluator.Grade:
    """``result`` graded on its final state (:mod:`.evaluator`): the one quality number."""
    return evaluator.grade(
        [p.pod for p in result.placements],
        [p.node for p in result.placements],
        result.base,
        config,
    )


def grade_sharing(result: PlacementResult, config: types.ModelConfig) -> evaluator.Grade:
    """``result`` graded by the *sharing* reading of its final state
    (:func:`.evaluator.grade_sharing`: processor sharing of each node, fair shares of each
    link), the reading the testbed's measurements bore out. Every strategy's deadline filter
    is the queueing reading (:func:`grade`); this second reading is how the bench shows
    whether a placement is also better as it runs."""
    problem = evaluator.Problem([p.pod for p in result.placements], result.base, config)
    return evaluator.grade_sharing(
        problem, [None if p.node is None else result.base.index[p.node] for p in result.placements]
    )


def place(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    strategy: Strategy | str = Strategy.SCORE,
    time_limit_s: float = 10.0,
) -> PlacementResult:
    """Place ``pods`` on a copy of ``cluster`` with ``strategy``; ``cluster`` is not changed."""
    chosen = Strategy(strategy)
    if chosen is Strategy.SCORE:
        return place_greedy(pods, cluster, config)
    if chosen is Strategy.SPREAD:
        return place_spread(pods, cluster, config)
    if chosen is Strategy.BATCH:
        return place_batch(
            pods, cluster, config, time_limit_s=min(time_limit_s, BATCH_TIME_LIMIT_S)
        )
    return place_optimal(pods, cluster, config, time_limit_s=time_limit_s)


def place_greedy(
    pods: Sequence[types.Pod], cluster: state_mod.ClusterState, config: types.ModelConfig
) -> PlacementResult:
    """The live scheduler's algorithm: best score first, one pod at a time, in order."""
    work = cluster.copy()
    term_set = None
    placements: list[Placement] = []
    for pod in pods:
        ev = scoring.evaluate(pod, work, config, term_set=term_set)
        best = ev.best()
        if best is None:
            placements.append(Placement(pod=pod, node=None, reason=ev.failure_summary()))
            continue
        work.assign(pod, best)
        placements.append(Placement(pod=pod, node=work.names[best], terms=ev.node_terms(best)))
    return PlacementResult(Strategy.SCORE, placements, base=cluster.copy(), final=work)


def spread_scores(pod: types.Pod, cluster: state_mod.ClusterState) -> state_mod.FloatArray:
    """kube-scheduler's LeastAllocated plus BalancedAllocation (each 0..100) for ``pod``."""
    alloc = cluster.allocatable[:, :2]
    after = cluster.used[:, :2] + np.array([pod.requests.cpu, pod.requests.memory])
    safe = np.where(alloc > 0, alloc, 1.0)
    frac = np.where(alloc > 0, np.clip(after / safe, 0.0, 1.0), 1.0)
    least_allocated = 100.0 * (1.0 - frac).mean(axis=1)
    balanced = 100.0 * (1.0 - np.abs(frac[:, 0] - frac[:, 1]) / 2.0)
    result: state_mod.FloatArray = least_allocated + balanced
    return result


def place_spread(
    pods: Sequence[types.Pod], cluster: state_mod.ClusterState, config: types.ModelConfig
) -> PlacementResult:
    """The default-scheduler baseline, with our filters so all strategies are comparable."""
    work = cluster.copy()
    placements: list[Placement] = []
    for pod in pods:
        ev = scoring.evaluate(pod, work, config)
        if not ev.feasible.any():
            placements.append(Placement(pod=pod, node=None, reason=ev.failure_summary()))
            continue
        scores = np.where(ev.feasible, spread_scores(pod, work), -np.inf)
        best = int(np.argmax(scores))
        work.assign(pod, best)
        placements.append(Placement(pod=pod, node=work.names[best], terms=ev.node_terms(best)))
    return PlacementResult(Strategy.SPREAD, placements, base=cluster.copy(), final=work)


def place_batch(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    time_limit_s: float = BATCH_TIME_LIMIT_S,
    strategy: Strategy = Strategy.BATCH,
    use_milp: bool = False,
    extra_starts: Sequence[tuple[str, PlacementResult]] = (),
) -> PlacementResult:
    """Joint placement (:mod:`.batch`): most pods on time, then least total completion time
    on the final state; never worse than greedy's placement (or any of ``extra_starts``)
    under :func:`grade` (below :data:`.batch.LARGE_PAIRS`; above, see :func:`_solve`)."""
    if any(pod.constrained_by_others or pod.has_preferences for pod in pods):
        # The joint solver sees the pods of a batch meet only through capacity and the final
        # state's queues; host ports, pod (anti-)affinity and topology spread between them are
        # checked pod by pod, and preferences are scores it does not weigh. Such a batch is
        # placed greedily, which honours them, and says so.
        greedy = place_greedy(pods, cluster, config)
        return dataclasses.replace(greedy, strategy=strategy, solver_status=GREEDY_CONSTRAINED)
    base, problem, nodes, info = _solve(
        pods,
        cluster,
        config,
        time_limit_s=time_limit_s,
        strategy=strategy,
        use_milp=use_milp,
        extra_starts=extra_starts,
    )
    return _from_assignment(pods, base, problem, nodes, config, strategy=strategy, info=info)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """``batch``'s decisions without each pod's terms on the final state: what the live binder
    needs (it evaluates each pod when it reserves it)."""

    nodes: list[str | None]
    reasons: list[str | None]
    """Why each pod without a node got none (None for the placed)."""
    solve: batch.SolveInfo | None
    """None when the batch was placed greedily (:data:`GREEDY_CONSTRAINED`)."""


def plan_batch(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    time_limit_s: float = BATCH_TIME_LIMIT_S,
    waited: Sequence[bool] | None = None,
) -> BatchPlan:
    """The nodes :func:`place_batch` chooses (``simulate --strategy batch``), for the same
    pods on the same cluster, without the per-pod terms it also reports. ``waited`` marks the
    pods an earlier batch left pending (:class:`.evaluator.Problem`); ``simulate`` has one
    batch, where none has."""
    if any(pod.constrained_by_others for pod in pods):
        greedy = place_greedy(pods, cluster, config)
        return BatchPlan(
            nodes=[p.node for p in greedy.placements],
            reasons=[p.reason for p in greedy.placements],
            solve=None,
        )
    base, problem, nodes, info = _solve(
        pods, cluster, config, time_limit_s=time_limit_s, strategy=Strategy.BATCH, waited=waited
    )
    reasons: list[str | None] = [
        None if node is not None else _unplaced_reason(pods[p], base, problem, p, config)
        for p, node in enumerate(nodes)
    ]
    names = [None if node is None else base.names[node] for node in nodes]
    return BatchPlan(nodes=names, reasons=reasons, solve=info)


LARGE_BATCH_TIME_LIMIT_S = 0.15
"""``batch``'s budget above :data:`.batch.LARGE_PAIRS`, counted from the start of the solve
(building the cost matrices included): the live binder's target is 200 ms per batch of 500
pods on 1,000 nodes, and the local search stops at the budget with the best found so far."""


QUEUEING_FIRST_PODS = 100
"""From this many pods a batch is searched by the queueing reading first (:func:`.batch.
_queueing_first`)."""


@batch.no_cyclic_gc()  # the whole solve, cost matrices included
def _solve(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    time_limit_s: float,
    strategy: Strategy,
    use_milp: bool = False,
    extra_starts: Sequence[tuple[str, PlacementResult]] = (),
    waited: Sequence[bool] | None = None,
) -> tuple[state_mod.ClusterState, evaluator.Problem, list[int | None], batch.SolveInfo]:
    """The joint solve behind :func:`place_batch` and :func:`plan_batch`.

    A small batch (:data:`.batch.SMALL_MILP_PAIRS`) gets the MILP too, and is solved to
    convergence whatever the clock says: the live binder and ``simulate`` must agree on it.
    A large one (``batch`` above :data:`.batch.LARGE_PAIRS`) starts from one insertion and
    has :data:`LARGE_BATCH_TIME_LIMIT_S`: greedy's and spread's placements are not computed,
    so the result is not greater than greedy's by construction there, only by measurement.
    """
    started = time.monotonic()
    base = cluster.copy()
    problem = evaluator.Problem(pods, base, config, waited=waited)
    pairs = int(problem.allowed.sum())
    small = pairs <= batch.SMALL_MILP_PAIRS
    large = pairs > batch.LARGE_PAIRS and strategy is Strategy.BATCH and not extra_starts
    starts: list[tuple[str, list[int | None]]] = []
    if large:
        limit = min(time_limit_s, LARGE_BATCH_TIME_LIMIT_S) - (time.monotonic() - started)
    else:
        limit = time_limit_s
        for name, result in (
            ("score", place_greedy(pods, cluster, config)),
            ("spread", place_spread(pods, cluster, config)),
            *extra_starts,
        ):
            nodes = [None if p.node is None else base.index[p.node] for p in result.placements]
            starts.append((name, nodes))
    with _stdout_to_stderr():
        assignment, info = batch.solve(
            problem,
            starts,
            time_limit_s=max(limit, 0.0),
            use_milp=use_milp or small,
            exact=small and strategy is Strategy.BATCH,
            small_first_start=not large,
            recreate=strategy is Strategy.OPTIMAL,
            queueing_first=len(pods) >= QUEUEING_FIRST_PODS and not large,
        )
    info.solve_seconds = time.monotonic() - started
    return base, problem, [None if i < 0 else int(i) for i in assignment.where.tolist()], info


def _unplaced_reason(
    pod: types.Pod,
    base: state_mod.ClusterState,
    problem: evaluator.Problem,
    p: int,
    config: types.ModelConfig,
) -> str:
    if not problem.allowed[p].any():
        return scoring.evaluate(pod, base, config).failure_summary()
    return UNPLACED_IN_BATCH


UNPLACED_IN_BATCH = "capacity or deadlines went to other pods of the batch"


GREEDY_CONSTRAINED = "greedy: inter-pod constraints"
"""``solver_status`` of a joint strategy that placed its batch pod by pod because some pod has
host ports, pod (anti-)affinity or topology spread constraints."""


def place_optimal(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    time_limit_s: float = 10.0,
) -> PlacementResult:
    """The reference for ``batch``: the same joint solver with the caller's whole budget
    (``--time-limit``), HiGHS proving the count, and ``batch``'s own answer as one of its
    starts, so that it is never worse than ``batch``."""
    quick = place_batch(pods, cluster, config, time_limit_s=min(time_limit_s, BATCH_TIME_LIMIT_S))
    if quick.solver_status == GREEDY_CONSTRAINED:
        return dataclasses.replace(quick, strategy=Strategy.OPTIMAL)
    return place_batch(
        pods,
        cluster,
        config,
        time_limit_s=max(time_limit_s - (quick.solve.solve_seconds if quick.solve else 0.0), 0.1),
        strategy=Strategy.OPTIMAL,
        use_milp=True,
        extra_starts=[("batch", quick)],
    )


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr while HiGHS runs.

    HiGHS (inside scipy) sometimes prints diagnostics straight to the C-level stdout, which
    would corrupt ``simulate --format json``. Python's ``sys.stdout`` cannot catch that.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 (embedded interpreters): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _from_assignment(
    pods: Sequence[types.Pod],
    base: state_mod.ClusterState,
    problem: evaluator.Problem,
    nodes: Sequence[int | None],
    config: types.ModelConfig,
    *,
    strategy: Strategy,
    info: batch.SolveInfo,
) -> PlacementResult:
    """Turn a joint assignment into placements whose terms are each pod's on the final
    state (the pod evaluated with every other pod of the batch in place)."""
    final = base.copy()
    for p, node in enumerate(nodes):
        if node is not None:
            final.assign(pods[p], node)
    placements: list[Placement] = []
    for p, pod in enumerate(pods):
        node = nodes[p]
        if node is None:
            reason = _unplaced_reason(pod, base, problem, p, config)
            placements.append(Placement(pod=pod, node=None, reason=reason))
            continue
        final.release(pod, node)
        ev = scoring.evaluate(pod, final, config)
        final.assign(pod, node)
        placements.append(Placement(pod=pod, node=base.names[node], terms=ev.node_terms(node)))
    if not math.isfinite(float(final.used.sum())):
        raise AssertionError("non-finite usage after placement")
    return PlacementResult(
        strategy, placements, base=base, final=final, solver_status=info.status, solve=info
    )
