"""The kube-scheduler extender HTTP service: ``POST /filter``, ``/prioritize``, ``/bind``,
``/preempt`` (and ``GET /healthz``), answering with the same model the kopf front end uses.

kube-scheduler runs its own plugins first and then asks this service about the nodes left. The
service answers from a :class:`cloudedge.cluster.view.ClusterView` that watches the cluster:

- ``nodeCacheCapable: true`` (the shipped configuration): requests name the nodes; they are
  looked up in the view, whose usage counts every bound pod. A name the view has never seen
  is a 400 naming it, as the issue asks: a strict kube-scheduler retries the pod (the watch is
  only moments behind), an ``ignorable`` one places that pod without us.
- ``nodeCacheCapable: false``: requests carry the Node objects. Those objects are parsed as
  given, so labels and allocatable are kube-scheduler's; their usage is the view's for nodes
  the view knows and zero for the others (kube-scheduler's own NodeResourcesFit has checked the
  fit already, so a missing usage can only soften our scores, never overcommit a node).

Pods without any ``cloudedge.io/`` annotation pass through untouched: every node passes, every
score is 0 (no preference, so kube-scheduler's plugins decide alone), victims are kept, and
binding is done as asked. Invalid annotations are the workload author's error, reported in the
protocol's ``Error`` field (with ``ignorable: false`` kube-scheduler shows it in the pod's
``FailedScheduling`` event; with ``ignorable: true`` it schedules the pod without us). A request
that is not the protocol is a 400, a body over the limit a 413, both with a JSON
``{"Error": ...}`` body. No path answers with aiohttp's bare 500: a failure of the service itself
is logged and answered in the protocol (see :meth:`_Extender.middleware`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
from aiohttp import web
from kubernetes import client as k8s

from cloudedge import errors, inputs, model
from cloudedge import metrics as metrics_mod
from cloudedge.cluster import binding, client
from cloudedge.cluster import view as view_mod
from cloudedge.extender import wire

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 2**20
"""Largest request body read (413 beyond it). A full NodeList of 5,000 nodes is about 25 MB in
kube-scheduler's JSON, which is why ``nodeCacheCapable: true`` is the shipped setting; names
alone stay under 100 kB for such clusters."""

VERBS = ("filter", "prioritize", "bind", "preempt")
"""Route names, also the ``verb`` label of the request metrics (bounded: plus healthz, other)."""

BIND_TIMEOUT_S = 4.0
MIN_BIND_S = 0.5
"""A Binding is not started with less than this left of BIND_TIMEOUT_S."""
BIND_WORKERS = 16
"""Threads making Bindings: kube-scheduler binds many pods at once (its binding cycles run in
parallel); asyncio's default pool (6 threads on 2 CPUs) queued them past httpTimeout."""
"""Timeout of the Binding call: kube-scheduler gives the whole ``/bind`` call ``httpTimeout``
(5 s shipped). Should the reply still be lost, kube-scheduler retries the pod and the retry
finds it bound to that node, which :func:`cloudedge.cluster.binding.bind` reports as success."""

PARSED_PODS = 256
"""Parsed pods kept for reuse between a pod's filter and prioritize calls: far more than
kube-scheduler has in flight (it schedules one pod at a time per profile)."""

INTERNAL_ERROR = "internal error in the cloudedge extender (see its log): "

T = TypeVar("T", bound=np.generic)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UnknownNodesError(wire.WireError):
    """Node names the view does not know in a nodeCacheCapable request: a 400 naming them."""

    def __init__(self, names: list[str], *, synced: bool) -> None:
        shown = names[:10] + ([f"... {len(names) - 10} more"] if len(names) > 10 else [])
        why = "nodes known to the extender's node cache"
        if not synced:
            why += " (the cache has not finished its first list yet)"
        super().__init__("NodeNames", shown, why)
        self.names = names


def make_app(
    *,
    view: view_mod.ClusterView,
    config: model.ModelConfig,
    metrics: metrics_mod.Metrics,
    core: k8s.CoreV1Api | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    bad_nodes: Mapping[str, str] | None = None,
) -> web.Application:
    """The extender as an aiohttp application.

    ``core`` is the API used for ``/bind`` (None: every bind answers with an ``Error``).
    ``bad_nodes`` maps nodes the view dropped for malformed cloudedge labels to the error text,
    as the owner of the view records them (``ClusterView(on_bad_node=...)``): such nodes fail
    as unresolvable with that text instead of being unknown.
    """
    ext = _Extender(
        view=view,
        config=config,
        metrics=metrics,
        core=core,
        max_body_bytes=max_body_bytes,
        bad_nodes=bad_nodes if bad_nodes is not None else {},
    )
    app = web.Application(client_max_size=max_body_bytes, middlewares=[ext.middleware])
    app.router.add_post("/filter", ext.filter)
    app.router.add_post("/prioritize", ext.prioritize)
    app.router.add_post("/bind", ext.bind)
    app.router.add_post("/preempt", ext.preempt)
    app.router.add_get("/healthz", ext.healthz)
    app.on_cleanup.append(ext.close)
    return app


RECENT_NODE_LISTS = 2
"""Node-name lists remembered with their rows, most recently used first (see
``_Extender._rows_of``): filter's list of every node and the last list of nodes that passed,
which prioritize sends next."""


class _Extender:
    """The handlers and what they share; one per application."""

    def __init__(
        self,
        *,
        view: view_mod.ClusterView,
        config: model.ModelConfig,
        metrics: metrics_mod.Metrics,
        core: k8s.CoreV1Api | None,
        max_body_bytes: int,
        bad_nodes: Mapping[str, str],
    ) -> None:
        self.view = view
        # kube-scheduler runs its own score plugins before calling us: terms that reproduce
        # one (preferred affinity, PreferNoSchedule taints, ...) would count twice.
        self.config = config.without_terms(model.kube_scored_terms())
        self.metrics = metrics
        self.core = core
        self.max_body_bytes = max_body_bytes
        self.bad_nodes = bad_nodes
        # Node name -> row of the view's state, the JSON prefix of its HostPriority and its
        # HostPriority text for each score: rebuilt only when the view rebuilt its state (a new
        # names list), not on every request.
        self._names: list[str] | None = None
        self._index: dict[str, int] = {}
        self._prefixes: dict[str, str] = {}
        self._priority_texts: npt.NDArray[np.object_] = np.empty((0, 0), dtype=object)
        self._recent_rows: list[tuple[dict[str, int], Sequence[str], _Rows]] = []
        """The last requests' node names and their rows: kube-scheduler sends the same lists
        call after call (every node to filter, those that passed to prioritize), and comparing
        a list is several times cheaper than mapping its names again."""
        # kube-scheduler sends the same pod to filter and then prioritize; a pod's content is
        # fixed by its UID and resourceVersion, so the parse is reused (bounded, oldest out).
        self._pods: collections.OrderedDict[tuple[str, str], model.Pod] = collections.OrderedDict()
        self._bind_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=BIND_WORKERS, thread_name_prefix="extender-bind"
        )

    async def close(self, _: web.Application) -> None:
        """Release the bind threads (the application's cleanup)."""
        self._bind_pool.shutdown(wait=False, cancel_futures=True)

    # -- plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count and time every request; turn every failure into a JSON reply.

        400 for requests that are not the protocol, the status of aiohttp's own HTTP errors
        (413, 404, 405) with a JSON body, and 503 for a failure of the service itself that the
        handlers could not answer in the protocol: kube-scheduler reads any non-200 as a failed
        call (skipped when ``ignorable``), and 503 says the extender, not the request, is at
        fault. Handlers answer their own internal failures in the protocol, so 503 means a bug.
        """
        verb = request.path.strip("/")
        if verb not in (*VERBS, "healthz"):
            verb = "other"
        start = time.perf_counter()
        try:
            response = await handler(request)
        except wire.WireError as err:
            response = _error(400, str(err))
        except web.HTTPException as err:  # aiohttp's own: 404, 405, 413
            response = _error(err.status, err.text or err.reason)
        except Exception as err:
            log.exception("extender %s failed", request.path)
            response = _error(503, INTERNAL_ERROR + type(err).__name__)
        self.metrics.extender_requests.labels(verb, str(response.status)).inc()
        self.metrics.extender_duration.labels(verb).observe(time.perf_counter() - start)
        return response

    async def _body(self, request: web.Request) -> Any:
        """The request's JSON document, or a WireError / 413."""
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            # Refused before reading: a 50 MB NodeList is not buffered just to be dropped.
            raise web.HTTPRequestEntityTooLarge(self.max_body_bytes, length)
        # The media type read by hand: aiohttp's parser raises on some malformed parameters
        # (``x;0*`` is an IndexError inside the email package), which must be a 400, not a 503.
        header = request.headers.get("Content-Type", "")
        ctype = header.split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise wire.WireError("Content-Type", header[:100], "application/json")
        try:
            raw = await request.read()
        except ConnectionResetError as err:
            # The client left mid-body, so there never was a request: a 400 nobody reads, not
            # the 503 and traceback of a failed service (tests/faults, clients that stall).
            raise wire.WireError("body", "<incomplete>", "a complete request body") from err
        return wire.loads(raw)

    # -- routes -----------------------------------------------------------------------------

    async def filter(self, request: web.Request) -> web.Response:
        """``ExtenderArgs`` -> ``ExtenderFilterResult``."""
        args = wire.node_args(await self._body(request))
        try:
            result = self._filter(args)
        except wire.WireError:
            raise
        except errors.InputError as err:  # the pod's annotations: the author's error
            result = _filter_error(str(err))
        except Exception as err:
            log.exception("filter failed")
            result = _filter_error(INTERNAL_ERROR + f"{type(err).__name__}: {err}")
        return _reply(result)

    async def prioritize(self, request: web.Request) -> web.Response:
        """``ExtenderArgs`` -> ``HostPriorityList``.

        The protocol has no error field here, and kube-scheduler ignores failed prioritize
        calls anyway: invalid annotations (already reported by filter) and internal failures
        answer 0 for every node, i.e. no preference.
        """
        args = wire.node_args(await self._body(request))
        try:
            text = self._prioritize(args)
        except wire.WireError:
            raise
        except errors.InputError:
            text = self._no_preference(args)
        except Exception:
            log.exception("prioritize failed")
            text = self._no_preference(args)
        return web.Response(text=text, content_type="application/json")

    async def bind(self, request: web.Request) -> web.Response:
        """``ExtenderBindingArgs`` -> ``ExtenderBindingResult``; idempotent.

        A retry after a lost reply finds the pod bound to that node already, which is success.
        """
        args = wire.bind_args(await self._body(request))
        if self.core is None:
            return _reply(wire.ExtenderBindingResult(Error="this extender has no API client"))
        start = time.perf_counter()
        core = self.core
        # Read in the event loop, which owns the cache of parsed pods.
        parsed = next((p for (u, _), p in reversed(self._pods.items()) if u == args.uid), None)

        def bind_in_time() -> str:
            # The Binding must be made within BIND_TIMEOUT_S of the request, or not at all: a
            # request that waited that long for a thread has been given up by kube-scheduler,
            # which forgot the pod's place and may have filled it; binding it then overcommitted
            # nodes (tests/faults, the extender killed mid-burst: 118 pods on a 110-pod node).
            left = BIND_TIMEOUT_S - (time.perf_counter() - start)
            if left < MIN_BIND_S:
                raise errors.BindError(
                    f"not bound: the request waited {BIND_TIMEOUT_S - left:.1f}s for a worker,"
                    " past kube-scheduler's httpTimeout; it will retry the pod",
                    reason="retry",
                )
            reserved = self._reserve(args.namespace, args.name, args.uid, args.node, parsed)
            try:
                outcome = binding.bind(
                    core,
                    namespace=args.namespace,
                    name=args.name,
                    uid=args.uid,
                    node=args.node,
                    timeout_s=left,
                )
            except binding.BindRetry:
                # Timed out or cut off: the Binding may have been made. Forgetting the room now
                # let kube-scheduler, which forgets it too, fill it before the watch showed it
                # taken (tests/faults, /bind replies slower than httpTimeout).
                if reserved:
                    self.view.unsure(args.uid)
                raise
            except Exception:
                if reserved:
                    self.view.unreserve(args.uid)
                raise
            if reserved:
                self.view.bound(args.uid)
            return outcome

        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._bind_pool, bind_in_time
            )
        except errors.BindError as err:
            if err.reason in ("conflict", "gone"):
                self.metrics.binding_conflicts.inc()
            log.info("bind %s/%s to %s refused: %s", args.namespace, args.name, args.node, err)
            return _reply(wire.ExtenderBindingResult(Error=str(err)))
        except Exception as err:
            log.exception("bind %s/%s failed", args.namespace, args.name)
            error = INTERNAL_ERROR + f"{type(err).__name__}: {err}"
            return _reply(wire.ExtenderBindingResult(Error=error))
        self.metrics.binding_duration.observe(time.perf_counter() - start)
        log.debug("bind %s/%s to %s: %s", args.namespace, args.name, args.node, outcome)
        return _reply(wire.ExtenderBindingResult(Error=""))

    async def preempt(self, request: web.Request) -> web.Response:
        """``ExtenderPreemptionArgs`` -> ``ExtenderPreemptionResult``.

        Victims are returned as given (as MetaVictims, the only form the reply has); candidate
        nodes where our filter says the pod can never run, whoever is evicted, are dropped, so
        nobody is evicted for nothing. No error field here either: invalid annotations and
        internal failures keep every candidate (no opinion).
        """
        args = wire.preempt_args(await self._body(request))
        try:
            kept = self._preempt(args)
        except wire.WireError:
            raise
        except errors.InputError:
            kept = args.victims
        except Exception:
            log.exception("preempt failed")
            kept = args.victims
        return _reply(wire.ExtenderPreemptionResult(NodeNameToMetaVictims=kept))

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: the service answers; ``synced`` says whether the view has listed once."""
        return web.json_response({"status": "ok", "synced": self.view.synced.is_set()})

    # -- decisions (synchronous: a 1,000-node evaluation takes about a millisecond) -------

    def _evaluate(self, args: wire.NodeArgs) -> _Evaluated | None:
        """Evaluate the pod on the requested nodes; None for a pass-through pod.

        Raises InputError for invalid annotations and UnknownNodesError.
        """
        if not inputs.has_cloudedge_annotations(args.pod):
            return None
        pod = self._parse_pod(args.pod)
        if args.node_objects is not None:
            return self._evaluate_objects(pod, args.node_objects)
        ev = self.view.evaluate(pod, self.config)
        rows, names = self._rows_of(ev, args.node_names)
        bad: dict[str, str] = {}
        if (rows < 0).any():
            unknown = []
            for pos in np.flatnonzero(rows < 0).tolist():
                name = args.node_names[pos]
                if name in self.bad_nodes:
                    bad[name] = self.bad_nodes[name]
                else:
                    unknown.append(name)
            if unknown:
                raise UnknownNodesError(unknown, synced=self.view.synced.is_set())
        return _Evaluated(ev, rows, bad, names)

    def _evaluate_objects(self, pod: model.Pod, objects: tuple[wire.KubeObject, ...]) -> _Evaluated:
        """nodeCacheCapable false: the given Node objects, with the view's usage where known."""
        # The pods the view holds on each node, by name: the congestion term reads them.
        usage, placed, topology = self.view.usage_and_placed()
        nodes: list[model.Node] = []
        rows: list[int] = []
        names: list[str] = []
        bad: dict[str, str] = {}
        for obj in objects:
            name = obj["metadata"]["name"]
            names.append(name)
            try:
                node = inputs.parse_node(obj, used=usage.get(name))
            except errors.InputError as err:
                bad[name] = str(err)
                rows.append(-1)
                continue
            rows.append(len(nodes))
            nodes.append(node)
        state = model.ClusterState(nodes, topology=topology, placed=placed)
        ev = model.evaluate(pod, state, self.config)
        row_array = np.asarray(rows, dtype=np.int64).reshape(-1)
        return _Evaluated(ev, row_array, bad, _object_array(names))

    def _reserve(
        self, namespace: str, name: str, uid: str, node: str, pod: model.Pod | None
    ) -> bool:
        """Count the pod on ``node`` in the shared view before its Binding is sent (bind
        thread), so that the binder of ``--mode both`` cannot fill the same room meanwhile;
        raises BindError when the view says the node has no room left for it (see
        :meth:`cloudedge.cluster.view.ClusterView.reserve`).

        The pod is the one filter and prioritize parsed (cached by UID); failing that it is
        read once. Returns whether a reservation was made (none without a UID or a pod).
        """
        if not uid:
            return False
        if pod is None and self.core is not None:
            try:
                raw: Any = self.core.read_namespaced_pod(
                    name, namespace, _preload_content=False, _request_timeout=5
                )
                pod = inputs.parse_placed(json.loads(client.drain(raw)))
            except Exception as err:  # the Binding itself will say what is wrong
                log.info("bind %s/%s: pod not read for its reservation: %s", namespace, name, err)
                return False
        if pod is None:
            return False
        refused = self.view.reserve(pod, node)
        if refused is not None:
            raise errors.BindError(
                f"not bound: {refused} (kube-scheduler's cache is behind the cluster);"
                " it will retry the pod",
                reason="retry",
            )
        return True

    def _parse_pod(self, obj: wire.KubeObject) -> model.Pod:
        meta = obj.get("metadata") or {}
        uid, version = meta.get("uid"), meta.get("resourceVersion")
        if not (isinstance(uid, str) and uid and isinstance(version, str) and version):
            return inputs.parse_pod(obj)
        key = (uid, version)
        pod = self._pods.get(key)
        if pod is None:
            pod = self._pods[key] = inputs.parse_pod(obj)
            if len(self._pods) > PARSED_PODS:
                self._pods.popitem(last=False)
        return pod

    def _rows_of(self, ev: model.Evaluation, names: Sequence[str]) -> _Rows:
        """Each requested node's row in ``ev`` (-1 for names it does not have), and the names
        as an array (replies pick names by mask, in C)."""
        index = self._index_of(ev)
        for k, (seen_index, seen_names, seen) in enumerate(self._recent_rows):
            if seen_index is index and len(seen_names) == len(names) and seen_names == names:
                if k:  # most recently used first: filter's list of every node stays in
                    entry = self._recent_rows.pop(k)
                    self._recent_rows.insert(0, entry)
                return seen
        rows = np.fromiter(
            map(index.get, names, itertools.repeat(-1)), dtype=np.int64, count=len(names)
        )
        return self._remember_rows(ev, names, rows, _object_array(names))

    def _remember_rows(
        self,
        ev: model.Evaluation,
        names: Sequence[str],
        rows: npt.NDArray[np.int64],
        name_array: npt.NDArray[np.object_],
    ) -> _Rows:
        """Keep ``names`` (a tuple, as requests carry them) and their rows for ``_rows_of``."""
        rows.flags.writeable = False
        name_array.flags.writeable = False
        found = _Rows(rows, name_array)
        entry = (self._index_of(ev), names, found)
        self._recent_rows = [entry, *self._recent_rows[: RECENT_NODE_LISTS - 1]]
        return found

    def _index_of(self, ev: model.Evaluation) -> dict[str, int]:
        if ev.node_names is not self._names:
            self._index = {name: i for i, name in enumerate(ev.node_names)}
            self._prefixes = {name: wire.host_prefix(name) for name in ev.node_names}
            prefixes = _object_array([self._prefixes[n] for n in ev.node_names])
            # Every HostPriority text each node can have (n x 11 short strings, about 4 MiB
            # for 5,000 nodes): a reply picks its texts by index, building none per call.
            self._priority_texts = prefixes[:, np.newaxis] + _SCORE_ENDINGS[np.newaxis, :]
            self._names = ev.node_names
        return self._index

    def _filter(self, args: wire.NodeArgs) -> wire.ExtenderFilterResult:
        evaluated = self._evaluate(args)
        failed: wire.FailedNodesMap = {}
        unresolvable: wire.FailedNodesMap = {}
        if evaluated is None:
            passed = list(args.node_names)
        else:
            ev, rows, bad, name_array = evaluated
            feasible = (rows >= 0) & _take(ev.result.feasible, rows)
            names = args.node_names
            passed = name_array[feasible].tolist()
            if len(passed) < len(names):
                # Plain dicts zipped from arrays, one text per kind of failure: a cluster-wide
                # tier mismatch fails hundreds of nodes per call, and a Python step per node
                # cost more than the model's evaluation.
                fail_rows, fail_names = rows[~feasible], name_array[~feasible]
                known = fail_rows >= 0  # rows of -1 have no row to read: malformed labels
                known_rows, known_names = fail_rows[known], fail_names[known]
                texts = ev.result.reason_texts(known_rows)
                hopeless = ev.result.unresolvable[known_rows]
                failed = _named(known_names[~hopeless], texts[~hopeless])
                unresolvable = _named(known_names[hopeless], texts[hopeless])
                # Malformed cloudedge labels: nothing the pod's scheduling can change.
                unresolvable.update((name, bad[name]) for name in fail_names[~known].tolist())
            if args.node_objects is None and passed:
                # kube-scheduler's prioritize call for this pod names, in the normal case,
                # exactly the nodes that passed: remember their rows as a list already seen.
                self._remember_rows(ev, tuple(passed), rows[feasible], name_array[feasible])
        if args.node_objects is None:
            return wire.ExtenderFilterResult(
                Nodes=None,
                NodeNames=passed,
                FailedNodes=failed,
                FailedAndUnresolvableNodes=unresolvable,
                Error="",
            )
        objects = dict(zip(args.node_names, args.node_objects, strict=True))
        return wire.ExtenderFilterResult(
            Nodes=wire.NodeList(metadata={}, items=[objects[name] for name in passed]),
            NodeNames=None,
            FailedNodes=failed,
            FailedAndUnresolvableNodes=unresolvable,
            Error="",
        )

    def _prioritize(self, args: wire.NodeArgs) -> str:
        """The ``HostPriorityList`` text: each requested node's score, 0..100 -> 0..10 half up;
        failed nodes score 0."""
        evaluated = self._evaluate(args)
        if evaluated is None:
            return self._no_preference(args)
        ev, rows, _, _ = evaluated
        steps = np.floor(ev.scores / 10.0 + 0.5)
        np.clip(steps, wire.MIN_PRIORITY, wire.MAX_PRIORITY, out=steps)
        steps[np.isnan(steps)] = 0  # a node without a score: no preference
        table = steps.astype(np.int64)
        if args.node_objects is None and len(rows) and int(rows.min()) >= 0:
            # Rows of the view's state, every requested node known: each node's text for its
            # score, picked from the cached table and joined (a Python step per node cost as
            # much as the model's decision).
            parts = self._priority_texts[rows, table[rows]]
            return "[" + ",".join(parts.tolist()) + "]"
        scores: list[int] = np.where(rows >= 0, _take(table, rows), 0).tolist()
        return wire.dumps_priorities(args.node_names, scores, prefixes=self._prefixes)

    def _no_preference(self, args: wire.NodeArgs) -> str:
        """Every requested node at 0: no preference."""
        zeros = [0] * len(args.node_names)
        return wire.dumps_priorities(args.node_names, zeros, prefixes=self._prefixes)

    def _preempt(self, args: wire.PreemptArgs) -> dict[str, wire.MetaVictims | None]:
        if not inputs.has_cloudedge_annotations(args.pod):
            return args.victims
        pod = self._parse_pod(args.pod)
        ev = self.view.evaluate(pod, self.config)
        index = self._index_of(ev)
        hopeless = ev.result.unresolvable
        kept: dict[str, wire.MetaVictims | None] = {}
        unknown: list[str] = []
        for name, victims in args.victims.items():
            row = index.get(name)
            if row is None:
                if name in self.bad_nodes:
                    continue  # malformed cloudedge labels: evicting cannot help
                if args.node_cache:
                    unknown.append(name)
                # Without a node cache the view need not know every node: keep what we
                # cannot judge.
                kept[name] = victims
            elif not hopeless[row]:
                kept[name] = victims
        if unknown:
            raise UnknownNodesError(unknown, synced=self.view.synced.is_set())
        return kept


class _Evaluated(NamedTuple):
    """An evaluation and where each requested node is in it.

    ``rows[k]`` is the row of the k-th requested node in ``ev``, -1 for a node that is not
    there: one with malformed cloudedge labels, whose error is ``bad[name]``. ``names`` is
    the requested names as an object array.
    """

    ev: model.Evaluation
    rows: npt.NDArray[np.int64]
    bad: dict[str, str]
    names: npt.NDArray[np.object_]


class _Rows(NamedTuple):
    rows: npt.NDArray[np.int64]
    names: npt.NDArray[np.object_]


def _object_array(items: Sequence[str]) -> npt.NDArray[np.object_]:
    """``items`` as a 1-D object array (``np.array`` would make a fixed-width string array)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    out.flags.writeable = False
    return out


_SCORE_ENDINGS = _object_array([f"{score}}}" for score in range(wire.MAX_PRIORITY + 1)])
"""The end of a ``HostPriority`` for each score prioritize can answer (0..10)."""


def _named(names: npt.NDArray[np.object_], texts: npt.NDArray[np.object_]) -> dict[str, str]:
    """``{name: text}`` from two parallel object arrays, built in C."""
    return dict(zip(names.tolist(), texts.tolist(), strict=True))


def _take(values: npt.NDArray[T], rows: npt.NDArray[np.int64]) -> npt.NDArray[T]:
    """``values[rows]`` where rows of -1 read a harmless element (callers mask them)."""
    if len(values) == 0:
        return np.zeros(len(rows), dtype=values.dtype)
    out: npt.NDArray[T] = values[np.maximum(rows, 0)]
    return out


def _filter_error(message: str) -> wire.ExtenderFilterResult:
    return wire.ExtenderFilterResult(
        Nodes=None, NodeNames=None, FailedNodes=None, FailedAndUnresolvableNodes=None, Error=message
    )


def _reply(doc: object) -> web.Response:
    return web.Response(body=wire.dumps(doc), content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=wire.dumps(wire.ErrorBody(Error=message)),
        content_type="application/json",
    )
