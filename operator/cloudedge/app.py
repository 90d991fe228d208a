"""``cloudedge run``: the scheduler, the extender and the metrics endpoint in one process.

One asyncio loop runs kopf (the NetworkTopology status), the scheduling cycle, and two
aiohttp servers: ``/metrics`` + ``/healthz`` on the metrics port and the extender API on the
extender port. Watches of nodes, pods and NetworkTopology run in threads and feed one shared
ClusterView, so the binder and the extender see the same cluster; the one pod watch also feeds
the binder's queue (:mod:`cloudedge.scheduler.stream`). SIGTERM, at any time from the process's
start, stops deciding, lets started binds finish (bounded), and closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import ssl
import threading
from typing import Any

import kopf
import prometheus_client as prom
from aiohttp import web
from kubernetes import client as k8s

from cloudedge import SCHEDULER_NAME, errors, inputs, memory, model
from cloudedge.cluster import client, events, live
from cloudedge.metrics import Metrics
from cloudedge.scheduler import batching, core, leader, operator, ownership, stream

log = logging.getLogger(__name__)

MODES = ("both", "scheduler", "extender")
UTILIZATION_PERIOD_S = 1.0
"""How often the per-tier gauges are refreshed: cheap sums over the view's arrays."""


@dataclasses.dataclass
class RunOptions:
    """Everything ``cloudedge run`` can be told, with the documented defaults."""

    kubeconfig: str | None = None
    mode: str = "both"
    bind_address: str = "127.0.0.1"
    extender_port: int = 8888
    metrics_port: int = 8080
    config_path: str | None = None
    leader_elect: bool = True
    lease_namespace: str = "default"
    lease_name: str = "cloud-edge-scheduler"
    owned_leases: tuple[str, ...] = ()
    """``LEASE[=DEPLOYMENT]``: Leases given an owner so that uninstalling removes them."""
    bind_workers: int = core.BIND_WORKERS
    drain_s: float = 10.0
    placement: str = batching.DEFAULT_PLACEMENT.value
    batch_window_s: float = batching.DEFAULT_WINDOW_S
    batch_max: int = batching.DEFAULT_MAX_PODS
    batch_time_limit_s: float = batching.DEFAULT_TIME_LIMIT_S
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None


def extender_tls(opts: RunOptions) -> ssl.SSLContext | None:
    """The extender's TLS server context from PEM files (a mounted Secret), or None for HTTP.

    Both files or neither; unreadable or mismatched files are a ConfigError at start-up, not
    a server that fails every handshake later. TLS 1.2 at least, as kube-scheduler's client.
    """
    cert, key = opts.tls_cert_file, opts.tls_private_key_file
    if not cert and not key:
        return None
    if not (cert and key):
        raise errors.ConfigError("--tls-cert-file and --tls-private-key-file go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise errors.ConfigError(
            f"cannot load the extender's TLS certificate {cert}: {err}"
        ) from err
    return context


def _in_cluster_namespace() -> str | None:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
        return f.read().strip() or None
    return None


class App:
    """The running process: owns every component and its shutdown order."""

    def __init__(self, opts: RunOptions) -> None:
        if opts.mode not in MODES:
            raise errors.ConfigError(f"--mode {opts.mode!r} is invalid: one of {', '.join(MODES)}")
        self.opts = opts
        if opts.kubeconfig:
            os.environ["KUBECONFIG"] = opts.kubeconfig  # kopf's login reads it
        self.config: model.ModelConfig = inputs.load_config(opts.config_path)
        try:
            owned = [ownership.OwnedLease.parse(text) for text in opts.owned_leases]
        except ValueError as err:
            raise errors.ConfigError(str(err)) from err
        self.batch = batching.BatchOptions(
            placement=opts.placement,
            window_s=opts.batch_window_s,
            max_pods=opts.batch_max,
            time_limit_s=opts.batch_time_limit_s,
        )
        self.extender_ssl = extender_tls(opts)
        self.api = client.api_client(opts.kubeconfig)
        self.core = k8s.CoreV1Api(self.api)
        self.registry = prom.CollectorRegistry()
        prom.ProcessCollector(registry=self.registry)
        self.metrics = Metrics(self.registry)
        self.recorder = events.EventRecorder(self.core)
        self.scheduling = opts.mode in ("both", "scheduler")
        self.serving_extender = opts.mode in ("both", "extender")
        self.scheduler: core.Scheduler | None = None
        self.live = live.LiveView(
            self.api,
            on_change=self._cluster_changed,
            on_bad_node=self._bad_node,
            on_bad_topology=self._bad_topology,
            on_topology_warning=self._topology_warning,
        )
        lease_namespace = _in_cluster_namespace() or opts.lease_namespace
        self.ownership = ownership.LeaseOwnership(self.api, lease_namespace, owned)
        own_deployment = next((o.deployment for o in owned if o.lease == opts.lease_name), None)
        self.gate = leader.LeaderGate(
            self.api,
            namespace=lease_namespace,
            name=opts.lease_name,
            enabled=opts.leader_elect and self.scheduling,
            on_change=self._leadership_changed,
            owner=(
                None
                if own_deployment is None
                else lambda: self.ownership.owner_reference(own_deployment)
            ),
        )
        if self.scheduling:
            # Read the fenced gate at scrape time, not the elector's callbacks: a replica resumed
            # after a stall past its lease (SIGSTOP, a long pause) is told it lost the lease
            # only after its renew deadline, and reported cloudedge_leader 1 meanwhile while
            # another replica led (tests/faults, the stalled-leader test).
            self.metrics.leader.set_function(lambda: 1.0 if self.gate.is_leader() else 0.0)
            self.scheduler = core.Scheduler(
                cluster=self.live.view,
                core=self.core,
                config=self.config,
                metrics=self.metrics,
                gate=self.gate,
                recorder=self.recorder,
                bind_workers=opts.bind_workers,
                batch=self.batch,
            )
            self.live.pods = stream.PodStream(self.scheduler)
        self._runners: list[web.AppRunner] = []
        self.bad_nodes: dict[str, str] = {}
        self._stop = asyncio.Event()

    # -- callbacks from threads --------------------------------------------------------------

    def _cluster_changed(self, why: str) -> None:
        if self.scheduler is not None:
            self.scheduler.cluster_changed(why)

    def _leadership_changed(self, leading: bool) -> None:
        if self.scheduler is not None:
            self.scheduler.leadership_changed(leading)

    def _bad_node(self, obj: Any, err: errors.InputError) -> None:
        """The view drops such nodes; the extender still names them with the reason, and the
        Node gets a Warning naming key, value and what is allowed (once per distinct error:
        every kubelet heartbeat brings the node back through here)."""
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        text = str(err)
        if self.bad_nodes.get(name) == text:
            return
        self.bad_nodes[name] = text
        log.warning("node %s ignored: %s", name, err)
        involved = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": meta.get("uid")}
        # Off the watch thread: an event write retries for up to ~45 s.
        threading.Thread(
            target=self.recorder.event,
            args=(involved,),
            kwargs={
                "reason": "InvalidNodeLabel",
                "message": f"{text} (the node is not a candidate of {SCHEDULER_NAME})",
                "warning": True,
                "action": "Validating",
            },
            name="node-event",
            daemon=True,
        ).start()

    def _bad_topology(self, obj: Any, err: errors.InputError) -> None:
        self._topology_event(obj, f"{err} (the last valid topology stays in force)")

    def _topology_warning(self, obj: Any, err: errors.InputError) -> None:
        self._topology_event(obj, f"{err} (applied; links to those sites are unused)")

    def _topology_event(self, obj: Any, message: str) -> None:
        meta = obj.get("metadata") or {}
        involved = {
            "apiVersion": "cloudedge.io/v1alpha1",
            "kind": "NetworkTopology",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
        }
        self.recorder.event(
            involved,
            reason="InvalidTopology",
            message=message,
            warning=True,
            action="Validating",
        )

    # -- HTTP ----------------------------------------------------------------------------------

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=prom.generate_latest(self.registry),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type": prom.CONTENT_TYPE_LATEST},
        )

    async def _healthz(self, _: web.Request) -> web.Response:
        if not self.live.view.synced.is_set():
            return web.Response(status=503, text="cluster view not synced\n")
        return web.Response(text="ok\n")

    async def _start_site(
        self, app: web.Application, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.opts.bind_address, port, ssl_context=ssl_context).start()
        self._runners.append(runner)

    def _extender_app(self) -> web.Application:
        from cloudedge.extender import server  # imported here: the extender is optional

        return server.make_app(
            view=self.live.view,
            config=self.config,
            metrics=self.metrics,
            core=self.core,
            bad_nodes=self.bad_nodes,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def _update_utilization(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                state = self.live.view.state()
                for code, tier in ((0, "cloud"), (1, "edge")):
                    mask = state.tier == code
                    self.metrics.nodes.labels(tier).set(int(mask.sum()))
                    for resource in ("cpu", "memory"):
                        r = state.resource_index[resource]
                        cap = float(state.allocatable[mask, r].sum())
                        used = float(state.used[mask, r].sum())
                        self.metrics.tier_requested.labels(tier, resource).set(
                            used / cap if cap > 0 else 0.0
                        )
            await asyncio.sleep(UTILIZATION_PERIOD_S)

    def _trap_stop_signals(self, loop: asyncio.AbstractEventLoop, *, stopping: bool) -> None:
        """Turn SIGTERM/SIGINT into the stop flag, from the first line of :meth:`run` on.

        kopf installs its own handlers only once it runs, and Python's default for SIGTERM is to
        die at once: a replica stopped while it syncs (a rollout that replaces a pod still
        starting) would exit 143 with nothing closed. Once kopf returns its handlers are left
        behind with a finished future; ``stopping`` puts ours back so that a second signal
        during the drain is logged, not raised inside the loop.
        """

        def on_signal(signum: signal.Signals) -> None:
            if stopping or self._stop.is_set():
                log.info("%s received while stopping; the drain goes on", signum.name)
                return
            log.info("%s received: stopping", signum.name)
            self._stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)

    async def _sync(self, loop: asyncio.AbstractEventLoop) -> bool:
        """List the cluster (bounded by :meth:`live.LiveView.start`), unless a stop comes first.

        Returns whether the view is synced; a stop during the listing closes the watches, which
        ends the listing thread at once.
        """
        listing: asyncio.Future[None] = loop.run_in_executor(None, self.live.start)
        stopped: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((listing, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not listing.done():
            self.live.close()
            with contextlib.suppress(errors.ClusterError):
                await listing
            return False
        listing.result()
        return True

    async def _start(self, loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> bool:
        """Start the servers, the view, the campaign and the decision loop, in that order.

        Returns False when a stop came during the start: what started is closed by
        :meth:`run` as after a normal run, what did not start is skipped.
        """
        health = web.Application()
        health.router.add_get("/metrics", self._metrics)
        health.router.add_get("/healthz", self._healthz)
        health.router.add_get("/readyz", self._healthz)
        await self._start_site(health, self.opts.metrics_port)
        log.info("metrics and health on %s:%d", self.opts.bind_address, self.opts.metrics_port)
        if self.scheduler is not None:
            self.scheduler.attach(loop)
        if not await self._sync(loop):
            return False
        log.info("cluster view synced: %d nodes", len(self.live.view.node_names()))
        log.info("%d objects frozen out of the cyclic collector", memory.freeze_survivors())
        if self._stop.is_set():
            return False
        if self.serving_extender:
            await self._start_site(
                self._extender_app(), self.opts.extender_port, ssl_context=self.extender_ssl
            )
            log.info(
                "extender on %s://%s:%d",
                "https" if self.extender_ssl else "http",
                self.opts.bind_address,
                self.opts.extender_port,
            )
        self.ownership.start()
        tasks.append(asyncio.create_task(self._update_utilization()))
        if self.scheduler is not None:
            self.gate.start()
            tasks.append(asyncio.create_task(self.scheduler.run()))
        return not self._stop.is_set()

    async def run(self) -> None:
        """Start everything, run until SIGTERM/SIGINT, then shut down in order.

        A signal at any point, the start included, ends in the same ordered shutdown.
        """
        loop = asyncio.get_running_loop()
        self._trap_stop_signals(loop, stopping=False)
        tasks: list[asyncio.Task[Any]] = []
        try:
            if await self._start(loop, tasks):
                # kopf replaces the handlers with its own and returns on SIGTERM/SIGINT or on
                # the stop flag (set by a signal that came before it ran).
                await kopf.operator(
                    registry=operator.registry(),
                    settings=operator.settings(),
                    clusterwide=True,
                    standalone=True,
                    stop_flag=self._stop,
                )
        finally:
            self._trap_stop_signals(loop, stopping=True)
            log.info("shutting down")
            self.ownership.stop()
            self.gate.stop()
            if self.scheduler is not None:
                await self.scheduler.stop(drain_s=self.opts.drain_s)
            for task in tasks:
                task.cancel()
            self.live.close()
            for runner in self._runners:
                await runner.cleanup()
            log.info("stopped")


def run(opts: RunOptions) -> None:
    """Blocking entry point of ``cloudedge run``."""
    memory.keep_freed_memory()
    asyncio.run(App(opts).run())
