"""The scheduling queue: arrival order, backoff, and a parking lot for unschedulable pods.

Like kube-scheduler's: pods are decided one at a time, higher ``spec.priority`` (the value of
their PriorityClass, which admission copies there) first, and in the order they arrived among
equals (creation time, then the resourceVersion first seen, which etcd hands out in creation
order), as the PrioritySort plugin orders its active queue. A pod that
does not fit waits in *unschedulable* until the cluster changes (a node or pod event that
could free room) or ``flush_interval_s`` passes, then sits out the rest of its backoff
(1 s doubling to 10 s per failed attempt) and returns to the active queue. A pod whose spec
or annotations change returns at once: its input is new. Single-threaded: call from the event
loop; other threads use ``loop.call_soon_threadsafe``.

The backoff keeps pods that keep failing from crowding out the others; it is not a wait for
its own sake. So when no pod is active, a pod backing off after a cluster change is tried at
once, as kube-scheduler does since 1.33 (``SchedulerPopFromBackoffQ``, on by default), but
never sooner than ``initial_backoff_s`` after its last attempt, which bounds a pod's retries
to one a second however often the cluster changes. Without it a pod that failed a few times
while the cluster filled (its backoff grown to 10 s) waited up to 10 s after the room it
needed was freed, on an idle scheduler. Pods backing off after an error (a Binding that
failed, ``failed(wait_for_change=False)``) sit out their whole backoff: nothing says that
trying again sooner would help.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

from cloudedge import inputs

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 10.0
FLUSH_INTERVAL_S = 60.0
"""Unschedulable pods are retried at least this often even if no event says the cluster
changed: a missed event must not strand a pod (kube-scheduler uses 5 minutes)."""


@dataclasses.dataclass
class QueuedPod:
    """A pending pod and its scheduling history."""

    uid: str
    obj: dict[str, Any]
    order: tuple[int, str, int, int]
    first_seen: float
    attempts: int = 0
    not_before: float = 0.0
    parked_at: float = 0.0
    popped_generation: int = 0

    @property
    def key(self) -> str:
        """``namespace/name``."""
        meta = self.obj.get("metadata") or {}
        return f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"


def _arrival(obj: Mapping[str, Any], seq: int) -> tuple[int, str, int, int]:
    meta = obj.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    return (
        -inputs.pod_priority(obj),
        str(meta.get("creationTimestamp") or ""),
        int(version) if version.isdigit() else 0,
        seq,
    )


def _input_of(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    """What decides a pod's placement; a change here makes a parked pod worth retrying."""
    meta = obj.get("metadata") or {}
    return (repr(meta.get("annotations")), repr(obj.get("spec")))


class SchedulingQueue:
    """Active (ordered), backoff (timed) and unschedulable (parked) pods, by UID."""

    def __init__(
        self,
        *,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._pods: dict[str, QueuedPod] = {}
        self._inputs: dict[str, tuple[Any, ...]] = {}
        self._active: list[tuple[tuple[int, str, int, int], str]] = []
        self._in_active: set[str] = set()
        self._backoff: set[str] = set()
        self._changed: set[str] = set()  # backing off after a cluster change: may go early
        self._parked: set[str] = set()
        self._held: set[str] = set()
        self._in_flight: set[str] = set()
        self._seq = itertools.count()
        self._generation = 0
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        """Pods known to the queue and not yet bound: the pending gauge."""
        return len(self._pods)

    def add(self, obj: dict[str, Any]) -> None:
        """A pending pod appeared or changed."""
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if not uid:
            return
        qp = self._pods.get(uid)
        if qp is None:
            qp = QueuedPod(
                uid=uid, obj=obj, order=_arrival(obj, next(self._seq)), first_seen=self._clock()
            )
            self._pods[uid] = qp
            self._inputs[uid] = _input_of(obj)
            self._push_active(qp)
            return
        qp.obj = obj
        new_input = _input_of(obj)
        if new_input != self._inputs.get(uid):
            self._inputs[uid] = new_input
            if uid in self._parked or uid in self._backoff or uid in self._held:
                self._parked.discard(uid)
                self._leave_backoff(uid)
                self._held.discard(uid)
                self._push_active(qp)

    def uids(self) -> list[str]:
        """Every queued pod's UID (a relist keeps only the listed ones)."""
        return list(self._pods)

    def get(self, uid: str) -> QueuedPod | None:
        """The queued pod of ``uid``, if it is queued."""
        return self._pods.get(uid)

    def remove(self, uid: str) -> None:
        """The pod was bound (by anyone) or deleted: forget it."""
        self._pods.pop(uid, None)
        self._inputs.pop(uid, None)
        self._leave_backoff(uid)
        self._parked.discard(uid)
        self._held.discard(uid)
        self._in_active.discard(uid)  # its heap entry is skipped lazily

    def done(self, uid: str) -> None:
        """The attempt ended for good (bound, or the pod is gone)."""
        self._in_flight.discard(uid)
        self.remove(uid)

    def failed(self, uid: str, *, wait_for_change: bool = True) -> None:
        """The attempt failed: back off, and park until the cluster changes if asked."""
        self._in_flight.discard(uid)
        qp = self._pods.get(uid)
        if qp is None:
            return
        qp.attempts += 1
        delay = min(self.initial_backoff_s * 2 ** (qp.attempts - 1), self.max_backoff_s)
        now = self._clock()
        qp.not_before = now + delay
        qp.parked_at = now
        if wait_for_change and qp.popped_generation == self._generation:
            # Nothing changed while this attempt ran: only a future change can help. Park it.
            self._parked.add(uid)
        else:
            self._backoff.add(uid)
            if wait_for_change:
                self._changed.add(uid)  # the cluster changed while it was tried
        self._wakeup.set()

    def hold(self, uid: str) -> None:
        """The attempt can only succeed with a new spec (a field the binder refuses): keep the
        pod pending, counted, but out of every retry until :meth:`add` sees its input change.
        Retrying it on cluster changes would repeat the same Warning for ever."""
        self._in_flight.discard(uid)
        if uid in self._pods:
            self._held.add(uid)

    def requeue(self, uid: str) -> None:
        """Put an attempt back without counting it (lost leadership before binding)."""
        self._in_flight.discard(uid)
        qp = self._pods.get(uid)
        if qp is not None:
            self._push_active(qp)

    def cluster_changed(self) -> None:
        """A node or pod event that may make parked pods fit: let them retry after backoff."""
        self._generation += 1
        if self._parked:
            self._backoff |= self._parked
            self._changed |= self._parked
            self._parked.clear()
            self._wakeup.set()

    async def pop(self) -> QueuedPod:
        """The next pod to decide, waiting as long as needed."""
        while True:
            qp = self._pop_ready()
            if qp is not None:
                return qp
            self._wakeup.clear()
            timeout = self._next_timer()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def pop_batch(self, *, max_pods: int, window_s: float) -> list[QueuedPod]:
        """The pods to place together: the next pod (waiting as long as needed), then every pod
        that is ready or becomes ready within ``window_s`` of it, at most ``max_pods`` in all,
        in queue order (priority, then arrival).

        The window starts at the first pod, not at the call: a lone pod waits at most
        ``window_s``, and a burst is cut into batches of ``max_pods`` without waiting at all.
        ``window_s`` 0 takes what is ready now.
        """
        if max_pods < 1:
            raise ValueError(f"max_pods must be at least 1, not {max_pods}")
        batch = [await self.pop()]
        deadline = self._clock() + max(window_s, 0.0)
        while len(batch) < max_pods:
            qp = self._pop_ready()
            if qp is not None:
                batch.append(qp)
                continue
            left = deadline - self._clock()
            if left <= 0:
                break
            self._wakeup.clear()
            timer = self._next_timer()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wakeup.wait(), left if timer is None else min(left, timer)
                )
        batch.sort(key=lambda q: q.order)
        return batch

    def _pop_ready(self) -> QueuedPod | None:
        """The first active pod, marked in flight; None when none is ready. With no active
        pod, the first pod backing off after a cluster change whose last attempt is
        ``initial_backoff_s`` old (see the module's docstring)."""
        self._promote()
        if not self._in_active:
            self._pop_from_backoff()
        while self._active:
            _, uid = heapq.heappop(self._active)
            if uid in self._in_active:
                self._in_active.discard(uid)
                self._in_flight.add(uid)
                qp = self._pods[uid]
                qp.popped_generation = self._generation
                return qp
        return None

    def counts(self) -> dict[str, int]:
        """Sizes of each part, for logs and tests."""
        return {
            "active": len(self._in_active),
            "backoff": len(self._backoff),
            "unschedulable": len(self._parked),
            "held": len(self._held),
            "in_flight": len(self._in_flight),
        }

    def _push_active(self, qp: QueuedPod) -> None:
        if qp.uid in self._in_active or qp.uid in self._in_flight:
            return
        self._in_active.add(qp.uid)
        heapq.heappush(self._active, (qp.order, qp.uid))
        self._wakeup.set()

    def _promote(self) -> None:
        now = self._clock()
        for uid in list(self._parked):
            qp = self._pods[uid]
            if now - qp.parked_at >= self.flush_interval_s:
                self._parked.discard(uid)
                self._backoff.add(uid)
        for uid in list(self._backoff):
            qp = self._pods[uid]
            if qp.not_before <= now:
                self._leave_backoff(uid)
                self._push_active(qp)

    def _pop_from_backoff(self) -> None:
        now = self._clock()
        early = [
            self._pods[uid]
            for uid in self._changed
            if now - self._pods[uid].parked_at >= self.initial_backoff_s
        ]
        if early:
            qp = min(early, key=lambda q: q.order)
            self._leave_backoff(qp.uid)
            self._push_active(qp)

    def _leave_backoff(self, uid: str) -> None:
        self._backoff.discard(uid)
        self._changed.discard(uid)

    def _next_timer(self) -> float | None:
        now = self._clock()
        times = [self._pods[u].not_before - now for u in self._backoff]
        times += [self._pods[u].parked_at + self.initial_backoff_s - now for u in self._changed]
        times += [self._pods[u].parked_at + self.flush_interval_s - now for u in self._parked]
        if not times:
            return None
        return max(min(times), 0.01)
