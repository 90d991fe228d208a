"""The scheduling and binding cycles: pop a pod, decide, reserve, bind in the background.

Decisions are sequential, in arrival order, exactly as ``simulate --strategy score`` places a
batch, so both agree on the same input. With ``--placement batch`` the pods of a window are
placed together first (:mod:`.batching`, as ``simulate --strategy batch``), then reserved and
bound one by one along the same path. Binds run concurrently in a thread pool (each is one
API round trip); the view's reservations make that safe: a pod being bound already counts on
its node, so the next decision cannot overcommit it. Only the leader binds, and leadership is
checked again right before each Binding is sent.

As in kube-scheduler's ``schedule_one.go``, the scheduling cycle returns a :class:`Decision`
that names its node (never an index into a state a watch may have rebuilt since), the binding
cycle turns the Binding's outcome into a :class:`Result`, and every attempt ends in
:meth:`Scheduler._settle`: the one place that keeps or forgets the reservation, tells the
queue, and frees the bind slot.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import enum
import logging
import math
import time
import zlib
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from cloudedge import errors, inputs, model
from cloudedge.cluster import binding, events, view
from cloudedge.inputs import volumes as volume_inputs
from cloudedge.metrics import Metrics
from cloudedge.scheduler import batching
from cloudedge.scheduler import leader as leader_mod
from cloudedge.scheduler import queue as queue_mod

log = logging.getLogger(__name__)

BIND_WORKERS = 16
"""Concurrent Binding calls: enough to hide API latency, few enough for a small API server."""


def decisions_in_flight(bind_workers: int, batch: batching.BatchOptions) -> int:
    """How many decided pods may wait for their Binding at once (the bind slots).

    Greedy decides a pod only when a bind worker is free: a decision made far ahead of its
    Binding is made on an older view. A batch is decided at once on one snapshot, so each of
    its pods is reserved at once too, and its Bindings queue for the workers: otherwise the
    next batch could not be solved before the last pod of this one was sent, and every pod
    arriving meanwhile waited for that, then for the solve, then for its own batch to be sent
    (docs/benchmarks.md, "Live burst": latency p50 3 times greedy's at the same throughput).
    """
    return max(bind_workers, batch.max_pods) if batch.batched else bind_workers


async def _yield() -> None:
    """Let the event loop run its other work between two decisions.

    A decision runs on the loop, and neither a ready queue nor a free bind slot makes the
    cycle wait, so a run of pods that fit nowhere (each frees its slot at once) used to hold
    the loop until the queue was empty: the pod stream's events, the bindings just started
    and ``/metrics`` and ``/healthz`` waited seconds behind it on a loaded machine (a fault
    test's scrape timed out after 5 s). kube-scheduler decides in a goroutine of its own.
    """
    await asyncio.sleep(0)


LOST_REPLY = "bound by an earlier attempt whose reply was lost"

FRESH_VIEW_WAIT_S = 30.0
"""How often the wait for a broken watch to relist is logged (its backoff tops out at 10 s);
nothing is decided on a view that is partly out of date."""


class Result(enum.Enum):
    """How one attempt at a pod ended; :meth:`Scheduler._settle` acts on it."""

    SCHEDULED = "scheduled"
    """Bound by this attempt: the reservation stays until the watch shows the pod bound."""
    BOUND_BY_OTHER = "bound-by-other"
    """Bound to the chosen node by someone else: it is there, so the reservation stays."""
    BOUND_ELSEWHERE = "bound-elsewhere"
    """Bound to another node (a conflict, or an earlier attempt whose reply was lost)."""
    GONE = "gone"
    """Deleted, recreated or gated: nothing to do until the pod stream says otherwise."""
    ALREADY_PLACED = "already-placed"
    """Bound or reserved before this attempt started: the reservation is someone else's."""
    NOT_SENT = "not-sent"
    """Leadership was lost before the Binding was sent: put back, not counted."""
    RETRY = "retry"
    """The API refused or failed for now: back off, do not wait for a cluster change."""
    UNSCHEDULABLE = "unschedulable"
    """No node fits: back off and park until the cluster changes."""
    INVALID = "invalid"
    """A bad annotation: parked until the pod changes (or the cluster does)."""
    REFUSED = "refused"
    """A field the binder does not honour: held until the pod's spec changes."""


KEEPS_RESERVATION = frozenset({Result.SCHEDULED, Result.BOUND_BY_OTHER, Result.ALREADY_PLACED})
"""Results after which the pod counts on its node until the watch confirms it; every other
result forgets the decision's reservation."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the scheduling cycle chose for a pod: its node by name, and the reserved room."""

    queued: queue_mod.QueuedPod
    pod: model.Pod
    node: str
    terms: model.NodeTerms
    tier: model.Tier | None


SIDE_LANES = 4
"""Threads that write events and conditions (:class:`SidePool`)."""


class SidePool:
    """Best-effort API calls (events, conditions) off the decision path, in order per pod.

    kube-scheduler's event broadcaster writes a pod's events in the order they were made. A
    plain pool of threads did not: a failed Binding's FailedScheduling and the Scheduled that
    follows once the pod is found on its node are submitted microseconds apart, and two
    threads could write them the other way round. Each pod's calls go to one single-thread
    lane, chosen by its UID, so they run in order; pods spread over the lanes, so as many
    calls run at once as there are lanes.
    """

    def __init__(self, lanes: int = SIDE_LANES) -> None:
        self._lanes = [
            concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"events-{k}")
            for k in range(lanes)
        ]

    def submit(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` after every call submitted before it for the same ``key``."""
        self._lanes[zlib.crc32(key.encode()) % len(self._lanes)].submit(fn, *args, **kwargs)

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        for lane in self._lanes:
            lane.shutdown(wait=wait, cancel_futures=cancel_futures)


class Scheduler:
    """Ties the queue, the view, the model and the API together."""

    def __init__(
        self,
        *,
        cluster: view.ClusterView,
        core: k8s.CoreV1Api,
        config: model.ModelConfig,
        metrics: Metrics,
        gate: leader_mod.LeaderGate,
        recorder: events.EventRecorder | None = None,
        bind_workers: int = BIND_WORKERS,
        batch: batching.BatchOptions | None = None,
    ) -> None:
        self.cluster = cluster
        self.core = core
        self.config = config
        self.metrics = metrics
        self.gate = gate
        self.recorder = recorder or events.EventRecorder(core)
        self.batch = batch or batching.BatchOptions()
        self.queue = queue_mod.SchedulingQueue()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=bind_workers, thread_name_prefix="bind"
        )
        self._side_pool = SidePool()
        self._slots = asyncio.Semaphore(decisions_in_flight(bind_workers, self.batch))
        self._binds: set[asyncio.Task[None]] = set()
        self._leading = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._run_task: asyncio.Task[Any] | None = None
        self._unconfirmed: dict[str, set[str]] = {}
        """Pod UID -> nodes of its Bindings whose outcome is unknown (lost reply): see _bind."""
        self._binding: set[str] = set()
        """UIDs with a bind in flight."""
        self._gone_while_binding: dict[str, str | None] = {}
        """UID -> node (None: deleted) of pods that left the pending set while their bind was
        in flight: the bind, once it ends, says whether that was its own doing (_binding_cycle)."""
        self.alive = time.monotonic()

    # -- inputs from watches (any thread) ------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop so watch threads can hand events to it."""
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop that owns the queue (see :meth:`attach`)."""
        return self._loop

    def cluster_changed(self, why: str) -> None:
        """Called by the view (from watch threads): parked pods may fit now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.queue.cluster_changed)

    def leadership_changed(self, leading: bool) -> None:
        """Called by the leader gate (from its thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._set_leading, leading)

    def _set_leading(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        if leading:
            self._leading.set()
        else:
            self._leading.clear()

    def pod_pending(self, obj: dict[str, Any]) -> None:
        """A pending pod of ours was seen (event loop)."""
        self.queue.add(obj)
        self.metrics.pending_pods.set(len(self.queue))

    def pods_relisted(self, pending: list[dict[str, Any]], placed: dict[str, str]) -> None:
        """The pod stream relisted (event loop): the queue keeps exactly ``pending``.

        ``placed``: node of every listed pod of ours that is bound, by UID; a queued pod
        absent from ``pending`` was bound there (or deleted, when it is not in ``placed``)
        while the watch was down.
        """
        listed = {str((obj.get("metadata") or {}).get("uid") or "") for obj in pending}
        for uid in self.queue.uids():
            if uid not in listed:
                self.pod_gone(uid, node=placed.get(uid))
        for obj in pending:
            self.queue.add(obj)
        self.metrics.pending_pods.set(len(self.queue))

    def pod_gone(self, uid: str, *, node: str | None = None) -> None:
        """A pod left the pending set: bound (to ``node``, by anyone) or deleted (event loop).

        Bound where one of our Bindings with a lost reply sent it, it is our success, with
        its Scheduled event and count (the API server restarting or etcd failing mid-bind
        lost replies, and such pods went uncounted: tests/faults). A bind in flight settles
        that itself once it ends, knowing where the pod went.
        """
        qp = self.queue.get(uid)
        if uid in self._binding:
            self._gone_while_binding[uid] = node
        else:
            tried = self._unconfirmed.pop(uid, set())
            if qp is not None and node is not None and node in tried:
                self._report_scheduled(qp, node=node, message=LOST_REPLY, started=None)
        self.queue.remove(uid)
        self.metrics.pending_pods.set(len(self.queue))

    # -- the cycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Decide pods until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._run_task = asyncio.current_task()
        if self.gate.is_leader():
            self._set_leading(True)
        while not self._stopping:
            self.alive = time.monotonic()
            if self.batch.batched:
                qps = await self.queue.pop_batch(
                    max_pods=self.batch.max_pods, window_s=self.batch.window_s
                )
            else:
                qps = [await self.queue.pop()]
            if self._stopping:
                self._requeue(qps)
                break
            if not self.gate.is_leader():
                self._requeue(qps)
                await self._await_leadership()
                continue
            if not self.cluster.fresh():
                # A watch broke: wait for every relist rather than decide on half a view.
                self._requeue(qps)
                await self._await_fresh_view()
                continue
            if self.batch.batched:
                await self._schedule_batch(qps)
                continue
            qp = qps[0]
            await self._slots.acquire()
            try:
                decided = self._scheduling_cycle(qp)
            except Exception:
                decided = self._failed_unexpectedly(qp)
            self._dispatch(qp, decided)
            await _yield()

    def _dispatch(self, qp: queue_mod.QueuedPod, decided: Decision | Result) -> None:
        """Start the binding cycle of a Decision, or settle an attempt that ended without one
        (the caller holds one bind slot either way)."""
        if isinstance(decided, Decision):
            task = asyncio.ensure_future(self._binding_cycle(decided))
            self._binds.add(task)
            task.add_done_callback(self._binds.discard)
        else:
            self._settle(qp, decided)

    def _requeue(self, qps: list[queue_mod.QueuedPod]) -> None:
        for qp in qps:
            self.queue.requeue(qp.uid)

    async def _schedule_batch(self, qps: list[queue_mod.QueuedPod]) -> None:
        """Place ``qps`` jointly on a snapshot (:mod:`.batching`), then reserve and bind each
        as greedy does; the whole batch is decided pod by pod when the solver cannot take it."""
        admitted: list[tuple[queue_mod.QueuedPod, model.Pod]] = []
        for qp in qps:
            try:
                got = self._admit(qp)
            except Exception:
                got = self._failed_unexpectedly(qp)
            if isinstance(got, Result):
                await self._slots.acquire()  # _settle frees one
                self._settle(qp, got)
            else:
                admitted.append((qp, got))
        admitted = await self._one_pod_per_exclusive_claim(admitted)
        if not admitted:
            return
        pods = [pod for _, pod in admitted]
        waited = [qp.attempts > 0 for qp, _ in admitted]
        nodes: list[str | None] | None = None
        reasons: list[str | None] = [None] * len(pods)
        if not batching.needs_greedy(pods):
            snapshot = self.cluster.snapshot()
            started = time.monotonic()
            try:
                result = await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: batching.place(
                        pods,
                        snapshot,
                        self.config,
                        time_limit_s=self.batch.time_limit_s,
                        waited=waited,
                    ),
                )
            except Exception:
                log.exception("the batch solver failed; deciding %d pods one by one", len(pods))
            else:
                self.metrics.batch_size.observe(len(pods))
                self.metrics.batch_solve_duration.observe(time.monotonic() - started)
                if result.solve is not None and math.isfinite(result.solve.gap):
                    self.metrics.batch_bound_gap.observe(max(result.solve.gap, 0.0))
                nodes, reasons = result.nodes, result.reasons
        for k, (qp, pod) in enumerate(admitted):
            await self._slots.acquire()
            decided: Decision | Result
            try:
                if nodes is not None and nodes[k] is None:
                    message = str(reasons[k]) + inputs.preemption_note(qp.obj)
                    self._report_not_placed(qp, "unschedulable", message)
                    decided = Result.UNSCHEDULABLE
                else:
                    on = None if nodes is None else nodes[k]
                    evaluation, choice = self.cluster.decide(pod, self.config, on=on)
                    decided = self._decision(qp, pod, evaluation, choice)
            except Exception:
                decided = self._failed_unexpectedly(qp)
            self._dispatch(qp, decided)
            await _yield()

    async def _one_pod_per_exclusive_claim(
        self, admitted: list[tuple[queue_mod.QueuedPod, model.Pod]]
    ) -> list[tuple[queue_mod.QueuedPod, model.Pod]]:
        """The admitted pods of a batch less those whose ReadWriteOncePod claim an earlier pod
        of the batch mounts (reported as greedy would report them once the first is
        reserved): every pod of a batch passes :meth:`_admit` before any is reserved."""
        taken: set[str] = set()
        kept = []
        for qp, pod in admitted:
            exclusive = set(self.cluster.volumes_of(qp.obj).exclusive) if pod.claims else set()
            if exclusive & taken:
                await self._slots.acquire()  # _settle frees one
                self._report_not_placed(qp, "unschedulable", self._claim_in_use(qp))
                self._settle(qp, Result.UNSCHEDULABLE)
                continue
            taken |= exclusive
            kept.append((qp, pod))
        return kept

    def _claim_in_use(self, qp: queue_mod.QueuedPod) -> str:
        """kube-scheduler's message for a pod whose ReadWriteOncePod claim is in use."""
        reason = volume_inputs.REASON_CLAIM_IN_USE
        nodes = len(self.cluster.node_names())
        return f"0/{nodes} nodes are available: {reason}." + inputs.preemption_note(qp.obj)

    def _failed_unexpectedly(self, qp: queue_mod.QueuedPod) -> Result:
        """A bug while deciding: logged and counted; the pod is retried after a backoff."""
        log.exception("scheduling %s failed unexpectedly; will retry", qp.key)
        self.metrics.schedule_attempts.labels("error").inc()
        return Result.RETRY

    async def _await_fresh_view(self) -> None:
        for _ in range(int(FRESH_VIEW_WAIT_S / 0.2)):
            if self._stopping or self.cluster.fresh():
                return
            await asyncio.sleep(0.2)
        log.warning("the cluster view is still relisting after %.0fs", FRESH_VIEW_WAIT_S)

    async def _await_leadership(self) -> None:
        # Poll as well as wait: the gate's fencing can flip without a callback.
        while not self._stopping and not self.gate.is_leader():
            self._leading.clear()
            try:
                await asyncio.wait_for(self._leading.wait(), timeout=1.0)
            except TimeoutError:
                continue

    def _scheduling_cycle(self, qp: queue_mod.QueuedPod) -> Decision | Result:
        """Decide one pod: a Decision (its node reserved) or why there is none (reported)."""
        admitted = self._admit(qp)
        if isinstance(admitted, Result):
            return admitted
        evaluation, choice = self.cluster.decide(admitted, self.config)
        return self._decision(qp, admitted, evaluation, choice)

    def _admit(self, qp: queue_mod.QueuedPod) -> model.Pod | Result:
        """The pod to decide, or why there is nothing to decide (reported): already bound or
        reserved, a field the binder refuses, a claim that keeps it pending, invalid input."""
        if self.cluster.is_bound_or_reserved(qp.uid) is not None:
            return Result.ALREADY_PLACED
        try:
            claims = self.cluster.volumes_of(qp.obj)
        except errors.InputError as err:
            self._report_not_placed(qp, "invalid", f"invalid volume: {err}")
            return Result.INVALID
        unhonoured = inputs.unhonoured_fields(qp.obj) + claims.refused
        if unhonoured:
            self._report_not_placed(qp, "unschedulable", inputs.refusal(unhonoured))
            return Result.REFUSED
        if claims.pending:
            # As kube-scheduler's VolumeBinding PreFilter: no node can help until a claim
            # changes, and the view's storage watches report that as a cluster change.
            message = f"0/{len(self.cluster.node_names())} nodes are available: "
            self._report_not_placed(qp, "unschedulable", message + ", ".join(claims.pending) + ".")
            return Result.UNSCHEDULABLE
        if claims.exclusive and self.cluster.claim_users(claims.exclusive, other_than=qp.uid):
            # As VolumeRestrictions' PreFilter: no node, until the pod using it is gone (a
            # pod deleted is a cluster change, which retries this one).
            self._report_not_placed(qp, "unschedulable", self._claim_in_use(qp))
            return Result.UNSCHEDULABLE
        try:
            pod = inputs.parse_pod(qp.obj, namespace_labels=self.cluster.namespace_labels())
            if claims.node_terms:
                pod = dataclasses.replace(
                    pod, volume_node_terms=claims.node_terms, volume_reason=claims.reason
                )
        except errors.InputError as err:
            # A changed annotation brings the pod back at once (see SchedulingQueue.add).
            self._report_not_placed(qp, "invalid", f"invalid scheduling input: {err}")
            return Result.INVALID
        return pod

    def _decision(
        self,
        qp: queue_mod.QueuedPod,
        pod: model.Pod,
        evaluation: model.Evaluation,
        choice: view.Choice | None,
    ) -> Decision | Result:
        """The Decision for the node the view reserved, or the pod reported unschedulable."""
        if choice is None:
            message = evaluation.failure_summary() + inputs.preemption_note(qp.obj)
            self._report_not_placed(qp, "unschedulable", message)
            return Result.UNSCHEDULABLE
        return Decision(qp, pod, choice.node, choice.terms, choice.tier)

    def _settle(self, qp: queue_mod.QueuedPod, result: Result, *, decided: bool = False) -> None:
        """End one attempt: the only place that forgets a reservation and frees a bind slot.

        ``decided``: the attempt reserved a node (a Decision was made). Forgetting is limited
        to those: dropping a reservation tells the queue the cluster changed, and a pod that
        merely did not fit must not wake every parked pod, itself included.
        """
        try:
            if decided:
                if result in KEEPS_RESERVATION:
                    self.cluster.bound(qp.uid)
                else:
                    self.cluster.unreserve(qp.uid)
            if result is Result.NOT_SENT:
                self.queue.requeue(qp.uid)
            elif result is Result.RETRY:
                self.queue.failed(qp.uid, wait_for_change=False)
            elif result in (Result.UNSCHEDULABLE, Result.INVALID):
                self.queue.failed(qp.uid)
            elif result is Result.REFUSED:
                self.queue.hold(qp.uid)
            else:
                self.queue.done(qp.uid)
            if self.queue.get(qp.uid) is None:
                self._unconfirmed.pop(qp.uid, None)
            self.metrics.pending_pods.set(len(self.queue))
        finally:
            self._slots.release()

    def _report_not_placed(self, qp: queue_mod.QueuedPod, result: str, message: str) -> None:
        """Report a pod that gets no node, as kube-scheduler does."""
        self.metrics.schedule_attempts.labels(result).inc()
        log.info("%s %s: %s", qp.key, result, message)
        self._side(
            qp.uid,
            self.recorder.pod_event,
            qp.obj,
            reason="FailedScheduling",
            message=message,
            warning=True,
        )
        self._side(qp.uid, self._mark_unschedulable, qp.uid, qp.obj, message)

    def _mark_unschedulable(self, uid: str, obj: dict[str, Any], message: str) -> None:
        """Set ``PodScheduled=False`` (events thread); forget the pod if it no longer exists.

        The pod stream normally says so first; a pod deleted while this patch was on its
        way is found out here rather than retried until the next relist.
        """
        if not self.recorder.unschedulable(obj, message=message) and self._loop is not None:
            self._loop.call_soon_threadsafe(self.pod_gone, uid)

    async def _binding_cycle(self, decision: Decision) -> None:
        """Bind one decided pod, then settle the attempt whatever happened (even a bug)."""
        uid = decision.queued.uid
        self._binding.add(uid)
        result = Result.RETRY
        try:
            result = await self._bind(decision)
        except Exception:
            log.exception("binding %s failed unexpectedly; will retry", decision.queued.key)
            self.metrics.schedule_attempts.labels("error").inc()
        finally:
            self._binding.discard(uid)
            if uid in self._gone_while_binding:
                result = self._gone_during_bind(
                    decision.queued, result, self._gone_while_binding.pop(uid)
                )
            self._settle(decision.queued, result, decided=True)

    def _gone_during_bind(
        self, qp: queue_mod.QueuedPod, result: Result, node: str | None
    ) -> Result:
        """The pod left the pending set (bound to ``node``, or deleted when None) while its
        bind was in flight. A bind whose reply was lost (RETRY) but whose node is where the
        pod went did bind it: count it and write its Scheduled event, as pod_gone does for a
        lost reply learnt between attempts."""
        tried = self._unconfirmed.pop(qp.uid, set())
        if result is Result.RETRY and node is not None and node in tried:
            self._report_scheduled(qp, node=node, message=LOST_REPLY, started=None)
            return Result.SCHEDULED
        return result

    async def _bind(self, decision: Decision) -> Result:
        """Send the Binding (fenced by leadership) and say what came of it."""
        qp, pod, node = decision.queued, decision.pod, decision.node
        if not self.gate.is_leader():
            return Result.NOT_SENT
        started = time.monotonic()

        def send() -> binding.Outcome | None:
            # Fenced again in the bind thread, right before the request: a process stopped
            # between the check above and this thread's turn (SIGSTOP, a long pause) sent,
            # once resumed, Bindings decided under a lease another replica held by then
            # (tests/faults, the stalled-leader test). None: not sent.
            if not self.gate.is_leader():
                return None
            return binding.bind(
                self.core, namespace=pod.namespace, name=pod.name, uid=pod.uid, node=node
            )

        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self._pool, send)
        except errors.BindError as err:
            return self._bind_failed(qp, node, err)
        if outcome is None:
            return Result.NOT_SENT
        ours = node in self._unconfirmed.get(qp.uid, ())
        if outcome is binding.Outcome.ALREADY_BOUND_SAME_NODE and not ours:
            # Bound to this node, but not by an attempt of ours: another replica (or client)
            # got there first with the same choice. Its Scheduled event and count are its
            # own; this one must not add a second (tests/faults, stalled leader).
            self.metrics.binding_conflicts.inc()
            log.info("%s was bound to %s by someone else", qp.key, node)
            return Result.BOUND_BY_OTHER
        message = decision.terms.describe()
        if outcome is binding.Outcome.ALREADY_BOUND_SAME_NODE:
            message += " (already bound by an earlier attempt)"
        tier = decision.tier.value if decision.tier else "none"
        self._report_scheduled(
            qp, node=node, message=message, started=started, ect=(tier, decision.terms.ect_s)
        )
        return Result.SCHEDULED

    def _bind_failed(self, qp: queue_mod.QueuedPod, node: str, err: errors.BindError) -> Result:
        """Classify a refused Binding by its class, and report it."""
        tried = self._unconfirmed.setdefault(qp.uid, set())
        if isinstance(err, binding.BindConflict) and err.node in tried:
            # Bound where an earlier attempt of ours sent it, its reply lost.
            self._report_scheduled(qp, node=str(err.node), message=LOST_REPLY, started=None)
            return Result.BOUND_ELSEWHERE
        if isinstance(err, binding.BindRetry):
            # The Binding may have been made with its reply lost: a 409 naming this node
            # later is then this process's own success, not someone else's.
            tried.add(node)
        if isinstance(err, binding.BindConflict | binding.BindGone | binding.BindGated):
            self.metrics.binding_conflicts.inc()
            log.info("%s not bound: %s", qp.key, err)
            return Result.BOUND_ELSEWHERE if isinstance(err, binding.BindConflict) else Result.GONE
        # BindForbidden, BindRetry: worth a Warning, retried with backoff.
        self.metrics.schedule_attempts.labels("error").inc()
        log.warning("%s bind failed, will retry: %s", qp.key, err)
        self._side(
            qp.uid,
            self.recorder.pod_event,
            qp.obj,
            reason="FailedScheduling",
            message=f"Binding rejected: {err}",
            warning=True,
        )
        return Result.RETRY

    def _report_scheduled(
        self,
        qp: queue_mod.QueuedPod,
        *,
        node: str,
        message: str,
        started: float | None,
        ect: tuple[str, float] | None = None,
    ) -> None:
        """Count a pod bound by us, once, and write its Scheduled event."""
        now = time.monotonic()
        self._unconfirmed.pop(qp.uid, None)
        if started is not None:
            self.metrics.binding_duration.observe(now - started)
        self.metrics.scheduling_duration.observe(now - qp.first_seen)
        self.metrics.schedule_attempts.labels("scheduled").inc()
        if ect is not None:
            self.metrics.estimated_completion.labels(ect[0]).observe(ect[1])
        text = f"Successfully assigned {qp.key} to {node}: {message}"
        log.info("%s", text)
        self._side(
            qp.uid,
            self.recorder.pod_event,
            qp.obj,
            reason="Scheduled",
            message=text,
            action="Binding",
        )

    def _side(self, uid: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run a best-effort API call (event, condition) about pod ``uid`` without holding up
        decisions, after the calls made before it about that pod (:class:`SidePool`)."""
        if not self._stopping:
            self._side_pool.submit(uid, fn, *args, **kwargs)

    async def stop(self, *, drain_s: float = 10.0) -> None:
        """Stop deciding; let started binds finish (bounded), then release the pools."""
        self._stopping = True
        if self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()  # it only ever waits in pop() or for leadership
        if self._binds:
            await asyncio.wait(set(self._binds), timeout=drain_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.recorder.close()  # a write being retried must not hold the exit up
        self._side_pool.shutdown(wait=False, cancel_futures=True)
