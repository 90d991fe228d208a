"""Placement strategies over a batch of pods, all sharing the same filters.

* ``score``: greedy, one pod at a time in arrival order, usage updated after each. This is
  exactly what the live scheduler does, so ``simulate --strategy score`` predicts it.
* ``spread``: the baseline, roughly kube-scheduler's default scoring (least allocated plus
  balanced allocation), blind to our annotations for scoring but bound by the same filters.
* ``optimal``: a mixed-integer program (scipy ``milp``/HiGHS) that first places as many pods as
  possible, then minimizes their total estimated completion time.

The batch objective ``optimal`` minimizes, and the one strategies are compared on, is each
pod's completion time scored against the cluster as it stood before the batch (see
``docs/model.md``): pods of the batch interact through capacity, not through each other's queue,
which keeps the program linear.
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
from scipy import optimize, sparse

from cloudedge.model import scoring, types
from cloudedge.model import state as state_mod


class Strategy(enum.StrEnum):
    """The names ``cloudedge simulate --strategy`` accepts."""

    SCORE = "score"
    SPREAD = "spread"
    OPTIMAL = "optimal"


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
    """For ``optimal``: ``optimal``, ``time-limit`` or ``greedy`` (which answer was kept)."""

    @property
    def placed(self) -> int:
        """How many pods got a node."""
        return sum(1 for p in self.placements if p.node is not None)


def baseline_costs(
    pods: Sequence[types.Pod], base: state_mod.ClusterState, config: types.ModelConfig
) -> list[scoring.Evaluation]:
    """Each pod evaluated alone against ``base``: the batch objective's per-pair costs."""
    return [scoring.evaluate(pod, base, config) for pod in pods]


def total_completion_time(
    result: PlacementResult,
    config: types.ModelConfig,
    *,
    evaluations: Sequence[scoring.Evaluation] | None = None,
) -> float:
    """Sum over placed pods of their completion time against the batch's starting cluster."""
    evals = evaluations or baseline_costs([p.pod for p in result.placements], result.base, config)
    total = 0.0
    for placement, ev in zip(result.placements, evals, strict=True):
        if placement.node is not None:
            total += float(ev.ect[result.base.index[placement.node]])
    return total


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


def place_optimal(
    pods: Sequence[types.Pod],
    cluster: state_mod.ClusterState,
    config: types.ModelConfig,
    *,
    time_limit_s: float = 10.0,
) -> PlacementResult:
    """Most pods placed, then least total completion time, by mixed-integer programming.

    Two solves: maximize the number placed, then minimize total completion time with that
    number fixed. ``time_limit_s`` bounds both together; on a timeout the best solution HiGHS
    found is used, and the greedy answer is kept whenever it is better (more pods, or the same
    number at a lower total), so the result is never worse than ``score``'s.
    """
    base = cluster.copy()
    evals = baseline_costs(pods, base, config)
    greedy = place_greedy(pods, cluster, config)
    greedy_cost = total_completion_time(greedy, config, evaluations=evals)

    pairs_p: list[int] = []
    pairs_i: list[int] = []
    for p, ev in enumerate(evals):
        idx = np.flatnonzero(ev.feasible)
        pairs_p.extend([p] * len(idx))
        pairs_i.extend(idx.tolist())
    if not pairs_p:
        return _from_assignment(pods, base, evals, {}, status="optimal")
    pp = np.asarray(pairs_p)
    ii = np.asarray(pairs_i)
    cost = np.array([evals[p].ect[i] for p, i in zip(pairs_p, pairs_i, strict=True)])
    nvar = len(pp)
    rows = [sparse.csr_array((np.ones(nvar), (pp, np.arange(nvar))), shape=(len(pods), nvar))]
    upper = [np.ones(len(pods))]
    free = np.maximum(base.allocatable - base.used, 0.0)
    req = np.array([base.vector(pod) for pod in pods], dtype=np.float64).reshape(len(pods), -1)
    for r in range(req.shape[1]):
        coeff = req[pp, r]
        if not coeff.any():
            continue
        rows.append(sparse.csr_array((coeff, (ii, np.arange(nvar))), shape=(len(base), nvar)))
        upper.append(free[:, r])
    a_matrix = sparse.vstack(rows).tocsr()
    capacity = optimize.LinearConstraint(a_matrix, -np.inf, np.concatenate(upper))
    integrality = np.ones(nvar)
    bounds = optimize.Bounds(0, 1)
    deadline = _Deadline(time_limit_s)

    with _stdout_to_stderr():
        first = optimize.milp(
            -np.ones(nvar),
            constraints=[capacity],
            integrality=integrality,
            bounds=bounds,
            options={"time_limit": deadline.left(), "presolve": True},
        )
    status = "optimal"
    best_x: np.ndarray | None = None
    if first.x is not None:
        count = round(-first.fun)
        best_x = first.x
        if first.status != 0:
            status = "time-limit"
        at_least = optimize.LinearConstraint(sparse.csr_array(np.ones((1, nvar))), count, np.inf)
        with _stdout_to_stderr():
            # Presolve off: on this model HiGHS's presolve can spend the whole budget
            # without an incumbent, while branch-and-bound finds a good one quickly.
            second = optimize.milp(
                cost,
                constraints=[capacity, at_least],
                integrality=integrality,
                bounds=bounds,
                options={
                    "time_limit": deadline.left(),
                    "mip_rel_gap": 1e-9,
                    "presolve": False,
                },
            )
        if second.x is not None:
            best_x = second.x
        if second.status != 0:
            status = "time-limit"
    chosen: dict[int, int] = {}
    if best_x is not None:
        for k in np.flatnonzero(best_x > 0.5):
            chosen[int(pp[k])] = int(ii[k])
    milp_cost = sum(float(evals[p].ect[i]) for p, i in chosen.items())
    if (greedy.placed, -greedy_cost) > (len(chosen), -milp_cost + 1e-9 * max(1.0, milp_cost)):
        return dataclasses.replace(greedy, strategy=Strategy.OPTIMAL, solver_status="greedy")
    return _from_assignment(pods, base, evals, chosen, status=status)


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


class _Deadline:
    """Remaining time of a budget shared by the two solves."""

    def __init__(self, seconds: float) -> None:
        self._clock = time.monotonic
        self._end = self._clock() + max(seconds, 0.1)

    def left(self) -> float:
        return max(self._end - self._clock(), 0.1)


def _from_assignment(
    pods: Sequence[types.Pod],
    base: state_mod.ClusterState,
    evals: Sequence[scoring.Evaluation],
    chosen: dict[int, int],
    *,
    status: str,
) -> PlacementResult:
    final = base.copy()
    placements: list[Placement] = []
    for p, pod in enumerate(pods):
        node = chosen.get(p)
        if node is None:
            ev = evals[p]
            reason = (
                ev.failure_summary()
                if not ev.feasible.any()
                else "capacity went to other pods of the batch"
            )
            placements.append(Placement(pod=pod, node=None, reason=reason))
            continue
        final.assign(pod, node)
        placements.append(
            Placement(pod=pod, node=base.names[node], terms=evals[p].node_terms(node))
        )
    if not math.isfinite(float(final.used.sum())):
        raise AssertionError("non-finite usage after placement")
    return PlacementResult(
        Strategy.OPTIMAL, placements, base=base, final=final, solver_status=status
    )
