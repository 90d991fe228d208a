"""The scheduling cycle: pop a pod, decide with the model, reserve, bind in the background.

Decisions are sequential, in arrival order, exactly as ``simulate --strategy score`` places a
batch, so both agree on the same input. With ``--placement batch`` the pods of a window are
placed together first (:mod:`.batching`, as ``simulate --strategy batch``), then reserved and
bound one by one along the same path. Binds run concurrently in a thread pool (each is one
API round trip); the view's reservations make that safe: a pod being bound already counts on
its node, so the next decision cannot overcommit it. Only the leader binds, and leadership is
checked again right before each Binding is sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import time
from typing import Any

from kubernetes import client as k8s

from cloudedge import errors, inputs, model
from cloudedge.cluster import binding, events, view
from cloudedge.metrics import Metrics
from cloudedge.scheduler import batching
from cloudedge.scheduler import leader as leader_mod
from cloudedge.scheduler import queue as queue_mod

log = logging.getLogger(__name__)

BIND_WORKERS = 16
"""Concurrent Binding calls: enough to hide API latency, few enough for a small API server."""

LOST_REPLY = "bound by an earlier attempt whose reply was lost"

FRESH_VIEW_WAIT_S = 30.0
"""How often the wait for a broken watch to relist is logged (its backoff tops out at 10 s);
nothing is decided on a view that is partly out of date."""


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
        self._side_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="events"
        )
        self._slots = asyncio.Semaphore(bind_workers)
        self._binds: set[asyncio.Task[None]] = set()
        self._leading = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._run_task: asyncio.Task[Any] | None = None
        self._unconfirmed: dict[str, set[str]] = {}
        """Pod UID -> nodes of its Bindings whose outcome is unknown (lost reply): see _bind."""
        self._binding: set[str] = set()
        """UIDs with a bind in flight."""
        self.alive = time.monotonic()

    # -- inputs from watches (any thread) ------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop so watch threads can hand events to it."""
        self._loop = loop

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

    def pod_gone(self, uid: str, *, node: str | None = None) -> None:
        """A pod left the pending set: bound (to ``node``, by anyone) or deleted (event loop).

        Bound where one of our Bindings with a lost reply sent it, it is our success, with
        its Scheduled event and count (the API server restarting or etcd failing mid-bind
        lost replies, and such pods went uncounted: tests/faults). A bind in flight settles
        that itself.
        """
        qp = self.queue.get(uid)
        if uid not in self._binding:
            tried = self._unconfirmed.pop(uid, set())
            if qp is not None and node is not None and node in tried:
                self._succeeded(qp, node=node, message=LOST_REPLY, started=None, ect=None)
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
                self._schedule_one(qp)
            except Exception:
                self._slots.release()
                log.exception("scheduling %s failed unexpectedly; will retry", qp.key)
                self.metrics.schedule_attempts.labels("error").inc()
                self.queue.failed(qp.uid, wait_for_change=False)

    def _requeue(self, qps: list[queue_mod.QueuedPod]) -> None:
        for qp in qps:
            self.queue.requeue(qp.uid)

    async def _schedule_batch(self, qps: list[queue_mod.QueuedPod]) -> None:
        """Place ``qps`` jointly on a snapshot (:mod:`.batching`), then reserve and bind each
        as greedy does; the whole batch is decided pod by pod when the solver cannot take it."""
        admitted: list[tuple[queue_mod.QueuedPod, model.Pod]] = []
        for qp in qps:
            try:
                pod = self._admit(qp)
            except Exception:
                self._failed_unexpectedly(qp)
                continue
            if pod is not None:
                admitted.append((qp, pod))
        if not admitted:
            return
        pods = [pod for _, pod in admitted]
        nodes: list[str | None] | None = None
        reasons: list[str | None] = [None] * len(pods)
        if not batching.needs_greedy(pods):
            snapshot = self.cluster.snapshot()
            started = time.monotonic()
            try:
                result = await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: batching.place(
                        pods, snapshot, self.config, time_limit_s=self.batch.time_limit_s
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
            try:
                if nodes is None:
                    evaluation, best = self.cluster.decide(pod, self.config)
                elif nodes[k] is None:
                    message = str(reasons[k]) + inputs.preemption_note(qp.obj)
                    self._not_placed(qp, "unschedulable", message)
                    continue
                else:
                    evaluation, best = self.cluster.decide_on(pod, str(nodes[k]), self.config)
                self._commit(qp, pod, evaluation, best)
            except Exception:
                self._slots.release()
                self._failed_unexpectedly(qp)

    def _failed_unexpectedly(self, qp: queue_mod.QueuedPod) -> None:
        log.exception("scheduling %s failed unexpectedly; will retry", qp.key)
        self.metrics.schedule_attempts.labels("error").inc()
        self.queue.failed(qp.uid, wait_for_change=False)

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

    def _schedule_one(self, qp: queue_mod.QueuedPod) -> None:
        """Decide one pod; on success start its bind (holding one slot until it ends)."""
        pod = self._admit(qp)
        if pod is None:
            self._slots.release()
            return
        evaluation, best = self.cluster.decide(pod, self.config)
        self._commit(qp, pod, evaluation, best)

    def _admit(self, qp: queue_mod.QueuedPod) -> model.Pod | None:
        """The pod to decide; None (reported, and the queue told) when there is nothing to
        decide: already bound or reserved, a field the binder refuses, or invalid input."""
        if self.cluster.is_bound_or_reserved(qp.uid) is not None:
            self.queue.done(qp.uid)
            return None
        unhonoured = inputs.unhonoured_fields(qp.obj)
        if unhonoured:
            self._report_not_placed(qp, "unschedulable", inputs.refusal(unhonoured), hold=True)
            return None
        try:
            return inputs.parse_pod(qp.obj)
        except errors.InputError as err:
            # A changed annotation brings the pod back at once (see SchedulingQueue.add).
            self._report_not_placed(qp, "invalid", f"invalid scheduling input: {err}")
            return None

    def _commit(
        self,
        qp: queue_mod.QueuedPod,
        pod: model.Pod,
        evaluation: model.Evaluation,
        best: int | None,
    ) -> None:
        """Start the bind of a decided pod (holding one slot until it ends), or report it
        unschedulable (releasing the slot)."""
        if best is None:
            message = evaluation.failure_summary() + inputs.preemption_note(qp.obj)
            self._not_placed(qp, "unschedulable", message)
            return
        terms = evaluation.node_terms(best)
        tier = self.cluster.state().nodes[best].tier
        task = asyncio.ensure_future(self._bind(qp, pod, terms, tier))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)

    def _not_placed(
        self, qp: queue_mod.QueuedPod, result: str, message: str, *, hold: bool = False
    ) -> None:
        """Release the attempt's slot and report the pod (:meth:`_report_not_placed`)."""
        self._slots.release()
        self._report_not_placed(qp, result, message, hold=hold)

    def _report_not_placed(
        self, qp: queue_mod.QueuedPod, result: str, message: str, *, hold: bool = False
    ) -> None:
        """Report a pod that gets no node, as kube-scheduler does, and park it (``hold``: until
        its spec changes)."""
        self.metrics.schedule_attempts.labels(result).inc()
        log.info("%s %s: %s", qp.key, result, message)
        self._side(
            self.recorder.pod_event,
            qp.obj,
            reason="FailedScheduling",
            message=message,
            warning=True,
        )
        self._side(self._mark_unschedulable, qp.uid, qp.obj, message)
        if hold:
            self.queue.hold(qp.uid)
        else:
            self.queue.failed(qp.uid)
        self.metrics.pending_pods.set(len(self.queue))

    def _mark_unschedulable(self, uid: str, obj: dict[str, Any], message: str) -> None:
        """Set ``PodScheduled=False`` (events thread); forget the pod if it no longer exists.

        kopf relists after a watch expired (410 Gone) without reporting the pods deleted in
        the gap, so such a pod that did not fit stayed queued for ever, counted in
        ``cloudedge_pending_pods`` (tests/faults, the watch-cut test). This patch, sent after
        every failed attempt anyway, is what finds out.
        """
        if not self.recorder.unschedulable(obj, message=message) and self._loop is not None:
            self._loop.call_soon_threadsafe(self.pod_gone, uid)

    async def _bind(
        self,
        qp: queue_mod.QueuedPod,
        pod: model.Pod,
        terms: model.NodeTerms,
        tier: model.Tier | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        node = terms.node
        self._binding.add(qp.uid)
        try:
            if not self.gate.is_leader():
                self.cluster.unreserve(qp.uid)
                self.queue.requeue(qp.uid)
                return
            started = time.monotonic()

            def send() -> str | None:
                # Fenced again in the bind thread, right before the request: a process stopped
                # between the check above and this thread's turn (SIGSTOP, a long pause) sent,
                # once resumed, Bindings decided under a lease another replica held by then
                # (tests/faults, the stalled-leader test). None: not sent.
                if not self.gate.is_leader():
                    return None
                return binding.bind(
                    self.core, namespace=pod.namespace, name=pod.name, uid=pod.uid, node=node
                )

            try:
                outcome = await loop.run_in_executor(self._pool, send)
            except errors.BindError as err:
                self.cluster.unreserve(qp.uid)
                tried = self._unconfirmed.setdefault(qp.uid, set())
                if err.reason == "conflict" and err.node in tried:
                    # Bound where an earlier attempt of ours sent it, its reply lost.
                    self._succeeded(qp, node=str(err.node), message=LOST_REPLY, started=None)
                    return
                if err.reason == "retry":
                    # The Binding may have been made with its reply lost: a 409 naming this
                    # node later is then this process's own success, not someone else's.
                    tried.add(node)
                if err.reason in ("conflict", "gone"):
                    self.metrics.binding_conflicts.inc()
                    log.info("%s not bound: %s", qp.key, err)
                    self.queue.done(qp.uid)
                else:
                    self.metrics.schedule_attempts.labels("error").inc()
                    log.warning("%s bind failed, will retry: %s", qp.key, err)
                    self._side(
                        self.recorder.pod_event,
                        qp.obj,
                        reason="FailedScheduling",
                        message=f"Binding rejected: {err}",
                        warning=True,
                    )
                    self.queue.failed(qp.uid, wait_for_change=False)
                return
            if outcome is None:
                self.cluster.unreserve(qp.uid)
                self.queue.requeue(qp.uid)
                return
            if outcome == binding.ALREADY_BOUND_SAME_NODE and node not in self._unconfirmed.get(
                qp.uid, ()
            ):
                # Bound to this node, but not by an attempt of ours: another replica (or
                # client) got there first with the same choice. Its Scheduled event and count
                # are its own; this one must not add a second (tests/faults, stalled leader).
                self.cluster.bound(qp.uid)  # it is on that node: keep counting it there
                self.metrics.binding_conflicts.inc()
                log.info("%s was bound to %s by someone else", qp.key, node)
                self.queue.done(qp.uid)
                self._unconfirmed.pop(qp.uid, None)
                return
            message = terms.describe()
            if outcome == binding.ALREADY_BOUND_SAME_NODE:
                message += " (already bound by an earlier attempt)"
            ect = (tier.value if tier else "none", terms.ect_s)
            self._succeeded(qp, node=node, message=message, started=started, ect=ect)
        finally:
            self._binding.discard(qp.uid)
            if self.queue.get(qp.uid) is None:
                self._unconfirmed.pop(qp.uid, None)
            self._slots.release()
            self.metrics.pending_pods.set(len(self.queue))

    def _succeeded(
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
        self.cluster.bound(qp.uid)
        self.queue.done(qp.uid)
        if started is not None:
            self.metrics.binding_duration.observe(now - started)
        self.metrics.scheduling_duration.observe(now - qp.first_seen)
        self.metrics.schedule_attempts.labels("scheduled").inc()
        if ect is not None:
            self.metrics.estimated_completion.labels(ect[0]).observe(ect[1])
        text = f"Successfully assigned {qp.key} to {node}: {message}"
        log.info("%s", text)
        self._side(
            self.recorder.pod_event, qp.obj, reason="Scheduled", message=text, action="Binding"
        )

    def _side(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Run a best-effort API call (event, condition) without holding up decisions."""
        if not self._stopping:
            self._side_pool.submit(fn, *args, **kwargs)

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
