"""One pod stream, split as kube-scheduler's event handlers split it.

The view's pod reflector (:mod:`cloudedge.cluster.live`) is the only watch of pods. Every event
updates the view first (assigned pods are the cache: usage, reservations confirmed), then comes
here, where kube-scheduler's ``pkg/scheduler/eventhandlers.go`` routing is repeated:

- an unassigned pod that is ours (``schedulerName``), not gated, not being deleted: the queue;
- a pod of ours that stopped being that (bound by anyone, deleted, gated again, finished):
  out of the queue, with the node it went to, so that a Binding whose reply was lost is
  still counted as ours (:meth:`cloudedge.scheduler.core.Scheduler.pod_gone`);
- a relist: the queue keeps exactly the listed pending pods. A second watch (kopf's, until
  now) relisted on its own and never reported pods deleted during its gaps, so such pods
  stayed queued until a status patch happened to find them gone.

The reflector runs in a thread; the queue belongs to the event loop, so every routed event is
handed over with ``call_soon_threadsafe``, which keeps the stream's order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from cloudedge import SCHEDULER_NAME
from cloudedge.scheduler import core

log = logging.getLogger(__name__)

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def is_ours(obj: Mapping[str, Any]) -> bool:
    """The pod names this scheduler (``spec.schedulerName`` is immutable)."""
    return _spec(obj).get("schedulerName") == SCHEDULER_NAME


def wants_scheduling(obj: Mapping[str, Any]) -> bool:
    """An unassigned pod of ours that kube-scheduler would queue.

    Gated pods are not queued and get no events until the last gate is lifted (the
    SchedulingGates plugin's PreEnqueue); pods being deleted are skipped, as kube-scheduler's
    ``skipPodSchedule`` does: binding them only meets a 409.
    """
    spec = _spec(obj)
    if not is_ours(obj) or spec.get("nodeName") or spec.get("schedulingGates"):
        return False
    if _meta(obj).get("deletionTimestamp"):
        return False
    status = obj.get("status")
    phase = status.get("phase") if isinstance(status, Mapping) else None
    return phase not in TERMINAL_PHASES


def _uid(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("uid") or "")


def _node(obj: Mapping[str, Any]) -> str | None:
    return str(_spec(obj).get("nodeName") or "") or None


class PodStream:
    """Routes the view's pod events to ``scheduler``'s queue (see the module docstring).

    Implements :class:`cloudedge.cluster.live.PodHandler`; called from the reflector thread.
    """

    def __init__(self, scheduler: core.Scheduler) -> None:
        self.scheduler = scheduler

    def _post(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        loop = self.scheduler.loop
        if loop is None:
            # The App attaches the loop before the view starts; a stream without one is a bug.
            raise RuntimeError("pod events arrived before the scheduler was attached to a loop")
        loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    def pods_listed(self, objects: list[Mapping[str, Any]]) -> None:
        """A relist: queue the pending pods of ours, forget every other queued pod."""
        pending: list[dict[str, Any]] = []
        placed: dict[str, str] = {}
        for obj in objects:
            if not is_ours(obj):
                continue
            if wants_scheduling(obj):
                pending.append(dict(obj))
            elif (node := _node(obj)) is not None:
                placed[_uid(obj)] = node
        self._post(self.scheduler.pods_relisted, pending, placed)

    def pod_changed(self, obj: Mapping[str, Any]) -> None:
        """A pod was added or changed."""
        if not is_ours(obj):
            return  # never queued: another scheduler's pod only counts in the view
        if wants_scheduling(obj):
            self._post(self.scheduler.pod_pending, dict(obj))
        else:
            self._post(self.scheduler.pod_gone, _uid(obj), node=_node(obj))

    def pod_deleted(self, obj: Mapping[str, Any]) -> None:
        """A pod was deleted (or finished: the watch's field selector drops terminated pods)."""
        if is_ours(obj):
            self._post(self.scheduler.pod_gone, _uid(obj), node=_node(obj))
