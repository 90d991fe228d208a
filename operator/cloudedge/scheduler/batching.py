"""Live batch placement: how the binder gathers pods and places them jointly.

Greedy (``--placement greedy``) decides each pod alone, in arrival order, and can give the
last room of a node to a pod that could have run well elsewhere, leaving a later
deadline-bound pod without a node. In batch mode (``--placement batch``) the binder takes the
pods that arrive within ``--batch-window`` seconds of the first one (at most ``--batch-max``),
places them together with the joint solver of ``simulate --strategy batch``
(:func:`cloudedge.model.strategies.place_batch`) on a snapshot of the live view, reservations
included, within ``--batch-time-limit`` seconds, and then reserves and binds each pod
through the same path as greedy. A pod whose chosen node no longer passes the filters when it
is reserved (the cluster changed during the solve) takes the best node at that moment
instead.

A batch in which some pod has inter-pod constraints (host ports, pod affinity or
anti-affinity, topology spread) is decided pod by pod, exactly as ``simulate --strategy
batch`` places such a batch.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence

from cloudedge import errors, model
from cloudedge.model import strategies


class Placement(enum.StrEnum):
    """The values of ``--placement``."""

    GREEDY = "greedy"
    """One pod at a time, in arrival order (``simulate --strategy score``)."""
    BATCH = "batch"
    """Pods of a window together (``simulate --strategy batch``)."""


DEFAULT_PLACEMENT = Placement.GREEDY
"""Chosen by measurement (docs/benchmarks.md, "Live burst"). On a burst of 2,000 pods on 500
kwok nodes both modes bind faster than kube-scheduler with a lower latency p50, and in two
runs batch placement with the default window bound 0.89 and 1.39 times greedy's pods per
second, with a p50 of 1.5 and 0.6 times greedy's: no clear winner on speed. On the testbed
(docs/testbed.md), where pods run, neither mode's measured completion is below the other's on
every scenario from one run to the next (batch below greedy on the burst in one run, above it
in another); greedy reserves a pod the moment it is popped."""
DEFAULT_WINDOW_S = 0.1
"""How long the first pod of a batch waits for others. Chosen by measurement: on that burst a
0.1 s window gave a latency p50 of 1.40 and 1.15 s against 3.22 and 3.66 s with 1 s, at
0.76 and 1.28 times its pods per second. A batch's pods are reserved when its solve ends and
bind while the next one is solved, so a short window still gathers every pod that arrived
during the last solve."""
DEFAULT_MAX_PODS = 500
"""The largest batch: the size whose solve time the bench holds under 200 ms (p99)."""
DEFAULT_TIME_LIMIT_S = 0.2
"""The solver's budget per batch in the binder. A batch small enough to be solved exactly
(the MILP's size) ignores it, so the binder and ``simulate --strategy batch`` agree there; a
larger one keeps the best placement found when it ends. ``simulate``'s 2 s budget held every
pod of a burst arriving during the solve for the next batch: on the bench's live burst the
pods' latency p50 was 3.6-3.9 times greedy's with it (docs/benchmarks.md, "Live burst")."""
MAX_WINDOW_S = 60.0
"""A longer window would hold a lone pod pending for longer than any user expects."""


@dataclasses.dataclass(frozen=True)
class BatchOptions:
    """What ``--placement``, ``--batch-window`` and ``--batch-max`` set, validated."""

    placement: Placement | str = DEFAULT_PLACEMENT
    """A :class:`Placement` or its value (a flag's string); a :class:`Placement` after init."""
    window_s: float = DEFAULT_WINDOW_S
    max_pods: int = DEFAULT_MAX_PODS
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    """The solver's budget per batch (``--batch-time-limit``, see :data:`DEFAULT_TIME_LIMIT_S`)."""

    def __post_init__(self) -> None:
        try:
            placement = Placement(self.placement)
        except ValueError as err:
            allowed = ", ".join(p.value for p in Placement)
            raise errors.ConfigError(
                f"--placement {self.placement!r} is invalid: one of {allowed}"
            ) from err
        object.__setattr__(self, "placement", placement)
        if not (math.isfinite(self.window_s) and 0.0 <= self.window_s <= MAX_WINDOW_S):
            raise errors.ConfigError(
                f"--batch-window {self.window_s!r} is invalid: seconds from 0 to {MAX_WINDOW_S:g}"
            )
        if isinstance(self.max_pods, bool) or not isinstance(self.max_pods, int):
            raise errors.ConfigError(f"--batch-max {self.max_pods!r} is invalid: a whole number")
        if self.max_pods < 1:
            raise errors.ConfigError(f"--batch-max {self.max_pods} is invalid: at least 1")
        if not (math.isfinite(self.time_limit_s) and 0.0 < self.time_limit_s <= MAX_WINDOW_S):
            raise errors.ConfigError(
                f"--batch-time-limit {self.time_limit_s!r} is invalid: seconds above 0, "
                f"at most {MAX_WINDOW_S:g}"
            )

    @property
    def batched(self) -> bool:
        """True when the binder places pods in batches."""
        return self.placement is Placement.BATCH


def needs_greedy(pods: Sequence[model.Pod]) -> bool:
    """True when the batch must be decided pod by pod (see the module docstring)."""
    return any(pod.constrained_by_others or pod.has_preferences for pod in pods)


def place(
    pods: Sequence[model.Pod],
    snapshot: model.ClusterState,
    config: model.ModelConfig,
    *,
    time_limit_s: float,
    waited: Sequence[bool] | None = None,
) -> strategies.BatchPlan:
    """The joint placement of ``pods`` on ``snapshot`` (not changed): the nodes
    ``simulate --strategy batch`` chooses for them (:func:`.strategies.plan_batch`).

    ``waited`` marks the pods an earlier attempt left pending: within their priority they
    are placed before the pods that arrived since, as kube-scheduler's queue tries the oldest
    first, so a pod the solver once left out for cheaper ones is not left out again for newer
    ones (under sustained load it would wait for ever)."""
    return strategies.plan_batch(pods, snapshot, config, time_limit_s=time_limit_s, waited=waited)
