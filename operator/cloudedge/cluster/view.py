"""The scheduler's view of the cluster: nodes, every pod's requests per node, reservations.

Watches (see :mod:`cloudedge.cluster.reflector`) feed it; it keeps one
:class:`cloudedge.model.ClusterState` whose usage is updated in place as pods come and go, so
a decision never rebuilds arrays for thousands of nodes. A node's new labels, taints,
conditions or allocatable replace that node's columns (``ClusterState.with_node``); the state
is built again from every node and pod only when nodes come or go, or one moves in the
network (tier, site, bandwidth, compute rate). Usage ``U_i`` is the requests of every
non-terminated pod bound to node *i*, whoever scheduled it, plus *reservations*: pods this
scheduler has chosen but not yet seen bound. A reservation ends when the watch shows the pod
bound (its requests then count as a pod), when the bind fails, or when the pod is deleted.

All methods are thread-safe: watches run in threads, decisions in the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from cloudedge import errors, inputs, model
from cloudedge.cluster import reflector
from cloudedge.inputs import pods as pod_inputs
from cloudedge.inputs import volumes as volume_inputs

log = logging.getLogger(__name__)

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

RESERVATION_TTL_S = (
    2 * (reflector.WATCH_TIMEOUT_S + reflector.WATCH_CLIENT_MARGIN_S + reflector.LIST_TIMEOUT_S)
    + reflector.BACKOFF_MAX_S
)
"""A bound reservation the watch never confirms is dropped after this long (790 s). A pod
watch can be behind for as long as a stalled stream takes to be given up (the client-side
timeout), plus a relist with its backoff; twice that, so that no reservation expires while
its pod's bound state could still be on its way. A relist drops the reservations of pods
it no longer lists (see ``replace_pods``), which is what normally ends a lost one."""

UNSURE_HOLD_S = 30.0
"""How long a reservation is kept when its Binding's outcome is unknown (:meth:`ClusterView.
unsure`): far longer than the pod watch takes to show a Binding that was made, short enough
that one never made does not keep others out of its room for long."""


@dataclasses.dataclass(frozen=True)
class PodUsage:
    """What one pod takes from one node."""

    key: str
    node: str
    pod: model.Pod
    """What the model places: requests, labels, host ports, required anti-affinity."""
    inputs: int = 0
    """:func:`_inputs_of` of the object it was parsed from: an update that changes none of
    it (a status update: the kubelet's, kwok's) leaves the pod as it is."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """The node a decision reserved, by name, with what the decision's events report.

    Read under the view's lock at the moment of the decision: an index into the model state
    would name another node once a watch rebuilt that state (a node added or removed sorts
    the names anew), and the tier of that other node went into the metrics.
    """

    node: str
    terms: model.NodeTerms
    tier: model.Tier | None


@dataclasses.dataclass
class Reservation:
    """A chosen-but-not-yet-seen-bound pod; ``bound_at`` is set once the Binding succeeded."""

    key: str
    node: str
    pod: model.Pod
    """What the model places: requests, labels, host ports, required anti-affinity."""
    created_at: float
    bound_at: float | None = None
    ttl_s: float = RESERVATION_TTL_S
    """How long after ``bound_at`` the watch has to confirm it before it is dropped."""


class _LastEvaluation(NamedTuple):
    """The view's last evaluation and what it was made from (see ``ClusterView.evaluate``)."""

    pod: model.Pod
    config: model.ModelConfig
    state: model.ClusterState
    version: int
    evaluation: model.Evaluation


class ClusterView:
    """Nodes, pod usage and reservations, with a model state kept in step."""

    def __init__(
        self,
        *,
        topology: model.Topology | None = None,
        on_change: Callable[[str], None] | None = None,
        on_bad_node: Callable[[Mapping[str, Any], errors.InputError], None] | None = None,
        kinds: Iterable[str] = ("nodes", "pods"),
    ) -> None:
        self._lock = threading.RLock()
        self._kinds = frozenset(kinds)
        """What must be listed before the view is synced (LiveView adds namespaces)."""
        self._namespaces: Mapping[str, Mapping[str, str]] = {}
        """Namespace -> labels; replaced, never changed in place (readers keep a snapshot)."""
        self._storage: dict[str, dict[str, Mapping[str, Any]]] = {kind: {} for kind in STORAGE}
        """PersistentVolumeClaims (by namespace/name), PersistentVolumes and StorageClasses
        (by name): what a pod's claims mean (see :meth:`volumes_of`)."""
        self._by_namespace_selector: dict[str, Mapping[str, Any]] = {}
        """Placed pods whose (anti-)affinity selects namespaces by label, by UID: parsed again
        when namespace labels change."""
        self._nodes: dict[str, model.Node] = {}
        self._node_objects: dict[str, Mapping[str, Any]] = {}
        self._pods: dict[str, PodUsage] = {}  # by uid
        self._reservations: dict[str, Reservation] = {}  # by uid
        self._topology = topology or model.Topology()
        self._state: model.ClusterState | None = None
        self._last_evaluation: _LastEvaluation | None = None
        self._on_change = on_change
        self._on_bad_node = on_bad_node
        self.synced = threading.Event()
        self._pods_list_started = float("-inf")  # without pods_listing, no list is trusted
        self._synced_kinds: set[str] = set()
        self._stale: set[str] = set()

    # -- feeding from watches -------------------------------------------------------------

    def replace_nodes(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """A relist of nodes: the view keeps exactly these."""
        with self._lock:
            self._nodes.clear()
            self._node_objects.clear()
            for obj in objects:
                self._put_node(obj)
            self._state = None
            self._mark_synced("nodes")
        self._changed("nodes-relisted")

    def upsert_node(self, obj: Mapping[str, Any]) -> None:
        """A node was added or changed."""
        with self._lock:
            name = str(obj.get("metadata", {}).get("name", ""))
            before = self._nodes.get(name)
            self._put_node(obj)
            after = self._nodes.get(name)
            if after == before:
                return  # a heartbeat: nothing the model reads has changed
            # Labels, taints, conditions, allocatable: the one node's columns, in place of a
            # state rebuilt from every node and pod (model.ClusterState.with_node).
            known = self._state
            self._state = (
                known.with_node(after)
                if known is not None and before is not None and after is not None
                else None
            )
        self._changed("node-updated")

    def delete_node(self, name: str) -> None:
        """A node is gone; pods and reservations on it stop counting anywhere."""
        with self._lock:
            if self._nodes.pop(name, None) is None:
                return
            self._node_objects.pop(name, None)
            self._state = None
        self._changed("node-deleted")

    def replace_namespaces(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """A relist of namespaces."""
        with self._lock:
            self._namespaces = {_name(o): _labels(o) for o in objects}
            self._namespaces_changed()
            self._mark_synced("namespaces")
        self._changed("namespaces-relisted")

    def upsert_namespace(self, obj: Mapping[str, Any]) -> None:
        """A namespace was added or changed (only its labels matter)."""
        with self._lock:
            name, labels = _name(obj), _labels(obj)
            if self._namespaces.get(name) == labels:
                return
            self._namespaces = {**self._namespaces, name: labels}
            self._namespaces_changed()
        self._changed("namespace-labels")

    def delete_namespace(self, obj: Mapping[str, Any]) -> None:
        """A namespace is gone."""
        with self._lock:
            name = _name(obj)
            if name not in self._namespaces:
                return
            self._namespaces = {k: v for k, v in self._namespaces.items() if k != name}
            self._namespaces_changed()
        self._changed("namespace-deleted")

    def namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        """Every namespace's labels (a snapshot: never changed once returned)."""
        with self._lock:
            return self._namespaces

    def _namespaces_changed(self) -> None:
        for obj in list(self._by_namespace_selector.values()):
            self._put_pod(obj, reparse=True)

    def replace_storage(self, kind: str, objects: Iterable[Mapping[str, Any]]) -> None:
        """A relist of ``kind`` (one of :data:`STORAGE`)."""
        with self._lock:
            self._storage[kind] = {_storage_key(kind, o): o for o in objects}
            self._mark_synced(kind)
        self._changed(f"{kind}-relisted")

    def upsert_storage(self, kind: str, obj: Mapping[str, Any]) -> None:
        """A claim, volume or class was added or changed (a claim bound, say)."""
        with self._lock:
            self._storage[kind][_storage_key(kind, obj)] = obj
        self._changed(f"{kind}-changed")

    def delete_storage(self, kind: str, obj: Mapping[str, Any]) -> None:
        """A claim, volume or class is gone."""
        with self._lock:
            self._storage[kind].pop(_storage_key(kind, obj), None)
        self._changed(f"{kind}-deleted")

    def volumes_of(self, obj: Mapping[str, Any]) -> volume_inputs.VolumeFacts:
        """What the claims of ``obj`` (a v1 Pod) mean for its placement, now."""
        if not pod_inputs.claim_names(obj):
            return volume_inputs.NO_VOLUMES
        with self._lock:
            return volume_inputs.pod_volumes(
                obj,
                claims=self._storage["persistentvolumeclaims"],
                volumes=self._storage["persistentvolumes"],
                classes=self._storage["storageclasses"],
            )

    def claim_users(self, claims: Iterable[str], *, other_than: str) -> list[str]:
        """The bound or reserved pods, other than UID ``other_than``, that mount one of
        ``claims`` (``namespace/name``), by ``namespace/name``: VolumeRestrictions keeps a
        ReadWriteOncePod claim to one pod. A scan of every pod, made only for a pod with such
        a claim."""
        wanted = set(claims)
        with self._lock:
            entries: list[tuple[str, PodUsage | Reservation]] = [*self._pods.items()]
            entries += self._reservations.items()
            return sorted(
                {e.key for uid, e in entries if uid != other_than and wanted & set(e.pod.claims)}
            )

    def pods_listing(self) -> None:
        """A list of pods is about to be requested (see :meth:`replace_pods`)."""
        with self._lock:
            self._pods_list_started = time.monotonic()

    def replace_pods(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """A relist of pods: pods that vanished during a watch gap stop counting.

        So do reservations of pods bound before the list was requested and absent from it:
        deleted in the gap, they will never be seen bound or deleted, and held their room
        until RESERVATION_TTL_S (tests/unit/test_cluster_view_gaps.py). Reservations of binds
        that succeeded after the list was requested stay: the list may predate them.
        """
        with self._lock:
            self._pods.clear()
            self._by_namespace_selector.clear()
            listed = set()
            for obj in objects:
                listed.add(_uid(obj))
                self._put_pod(obj)
            started = self._pods_list_started
            for uid, res in list(self._reservations.items()):
                if uid not in listed and res.bound_at is not None and res.bound_at < started:
                    self._drop_reservation(uid)
            self._state = None
            self._mark_synced("pods")
        self._changed("pods-relisted")

    def upsert_pod(self, obj: Mapping[str, Any]) -> None:
        """A pod was added or changed (bound, finished, ...)."""
        with self._lock:
            before = self._usage_of(obj)
            self._put_pod(obj)
            after = self._usage_of(obj)
        if before is not None and after is None:
            self._changed("pod-finished")

    def delete_pod(self, obj: Mapping[str, Any]) -> None:
        """A pod was deleted: its requests and any reservation are released."""
        uid = _uid(obj)
        with self._lock:
            usage = self._pods.pop(uid, None)
            self._by_namespace_selector.pop(uid, None)
            if usage is not None:
                self._release(usage.node, usage.pod)
            self._drop_reservation(uid)
        self._changed("pod-deleted")

    # -- decisions --------------------------------------------------------------------------

    def decide(
        self, pod: model.Pod, config: model.ModelConfig, *, on: str | None = None
    ) -> tuple[model.Evaluation, Choice | None]:
        """Evaluate ``pod`` on the current state and reserve a node, atomically: the best one,
        or ``on`` when every filter still passes there (a batch decided on a
        :meth:`snapshot`); if the cluster changed under that solve so that ``on`` no longer
        fits, the best node now."""
        with self._lock:
            self._expire_reservations()
            state = self.state()
            ev = model.evaluate(pod, state, config)
            i = None if on is None else state.index.get(on)
            best = i if i is not None and bool(ev.feasible[i]) else ev.best()
            if best is None:
                return ev, None
            node = state.names[best]
            choice = Choice(node=node, terms=ev.node_terms(best), tier=state.nodes[best].tier)
            if pod.uid:
                self._reservations[pod.uid] = Reservation(
                    key=pod.key, node=node, pod=pod, created_at=time.monotonic()
                )
                state.assign(pod, best)
            return ev, choice

    def snapshot(self) -> model.ClusterState:
        """A copy of the current state, reservations included, for a decision that takes
        longer than a lock should be held (a batch solve); ``decide(on=...)`` commits it."""
        with self._lock:
            self._expire_reservations()
            return self.state().copy()

    def reserve(self, pod: model.Pod, node: str) -> str | None:
        """Count ``pod`` on ``node`` from now on, decided elsewhere (kube-scheduler, through the
        extender's ``/bind``): the binder of the same process (``--mode both``) then sees
        that room taken before the watch shows the pod bound. One reservation book for both
        front ends; :meth:`bound` and :meth:`unreserve` end it as for the binder's own.

        Returns why the pod was refused, or None. A pod whose requests no longer fit the
        node's room, as this view counts it (bound pods and every other reservation), is
        refused: kube-scheduler's cache can be behind the cluster. When a ``/bind`` reply is
        lost (the extender killed mid-request), kube-scheduler forgets that pod's place while
        its Binding still lands, fills the place again, and binding the second pod
        overcommitted the node (tests/faults: 4080m bound on a 4000m node). A pod already
        bound is never refused (a retry after a lost reply), nor one on a node the view
        does not know (kube-scheduler's fit is all there is to go by).
        """
        with self._lock:
            if not pod.uid or pod.uid in self._pods:
                return None
            self._drop_reservation(pod.uid)
            self._expire_reservations()
            state = self.state()
            i = state.index.get(node)
            if i is not None:
                short = state.vector(pod) > state.headroom[:, i]
                if short.any():
                    lacking = [r for r, s in zip(state.resources, short.tolist(), strict=True) if s]
                    return f"{node} has no room left for it: {', '.join(lacking)} taken"
            self._reservations[pod.uid] = Reservation(
                key=pod.key, node=node, pod=pod, created_at=time.monotonic()
            )
            if i is not None:
                state.assign(pod, i)
            return None

    def evaluate(self, pod: model.Pod, config: model.ModelConfig) -> model.Evaluation:
        """Evaluate without reserving (the extender and ``explain``).

        The last answer is reused while the pod, the configuration and the cluster (nodes,
        usage, reservations) are the same objects and version: kube-scheduler asks the
        extender to filter and then to prioritize the same pod, one call after the other.
        """
        with self._lock:
            state = self.state()
            last = self._last_evaluation
            if (
                last is not None
                and last.pod is pod
                and last.config is config
                and last.state is state
                and last.version == state.version
            ):
                return last.evaluation
            ev = model.evaluate(pod, state, config)
            self._last_evaluation = _LastEvaluation(pod, config, state, state.version, ev)
            return ev

    def bound(self, uid: str) -> None:
        """The Binding for ``uid`` succeeded: keep the reservation until the watch confirms."""
        with self._lock:
            res = self._reservations.get(uid)
            if res is not None:
                res.bound_at = time.monotonic()
            if uid in self._pods:
                self._drop_reservation(uid)

    def unsure(self, uid: str) -> None:
        """The Binding's outcome is unknown (it timed out or its connection broke): it may
        have been made. Keep counting the pod where it was reserved for UNSURE_HOLD_S, so the
        room is not given away before the watch can show it taken; the watch ends it as for a
        success, or it expires then."""
        with self._lock:
            res = self._reservations.get(uid)
            if res is not None:
                res.bound_at = time.monotonic()
                res.ttl_s = UNSURE_HOLD_S
            if uid in self._pods:
                self._drop_reservation(uid)

    def unreserve(self, uid: str) -> None:
        """The Binding failed or was abandoned: give the capacity back (kube-scheduler's
        ``ForgetPod``)."""
        with self._lock:
            self._drop_reservation(uid)
        self._changed("reservation-dropped")

    def state(self) -> model.ClusterState:
        """The model state (built again lazily after the node changes ``with_node`` does not
        take); call under the lock."""
        with self._lock:
            if self._state is None:
                self._state = self._build_state()
            return self._state

    def set_topology(self, topology: model.Topology) -> None:
        """Use a new NetworkTopology for the next decisions."""
        with self._lock:
            self._topology = topology
            self._state = None
        self._changed("topology")

    # -- read-only ----------------------------------------------------------------------------

    def node_names(self) -> list[str]:
        """Names of the nodes the model knows, sorted."""
        with self._lock:
            return sorted(self._nodes)

    def sites(self) -> set[str]:
        """The site of every node the model knows."""
        with self._lock:
            return {node.site for node in self._nodes.values()}

    def node_object(self, name: str) -> Mapping[str, Any] | None:
        """The last seen Node object, for the extender's node-cache mode."""
        with self._lock:
            return self._node_objects.get(name)

    def is_bound_or_reserved(self, uid: str) -> str | None:
        """The node the pod is bound to or reserved on, if any."""
        with self._lock:
            usage = self._pods.get(uid)
            if usage is not None:
                return usage.node
            res = self._reservations.get(uid)
            return res.node if res is not None else None

    def usage_by_node(self) -> dict[str, model.ResourceList]:
        """Requested amounts per resource and known node, reservations included."""
        with self._lock:
            state = self.state()
            return {
                name: model.ResourceList(dict(zip(state.resources, row.tolist(), strict=True)))
                for name, row in zip(state.names, state.used, strict=True)
            }

    def usage_and_placed(
        self,
    ) -> tuple[dict[str, model.ResourceList], list[tuple[model.Pod, str]], model.Topology]:
        """Requested amounts per known node, every pod counted on one (bound or reserved) and
        the topology, read in one hold of the lock: a state built from Node objects other than
        the view's (the extender without its node cache) adds the pods to the usage, and a
        watch thread changing them in between would count a pod in one and not the other, or
        break the walk over a node's pods."""
        with self._lock:
            state = self.state()
            placed = [
                (pod, state.names[i])
                for i, on_node in state.placed.items()
                for pod in on_node.values()
            ]
            return self.usage_by_node(), placed, state.topology

    def reservations(self) -> int:
        """How many reservations are open."""
        with self._lock:
            return len(self._reservations)

    # -- internals ------------------------------------------------------------------------------

    def mark_stale(self, kind: str) -> None:
        """The watch of ``kind`` (nodes, pods) broke; :meth:`fresh` is False until it relists.

        Each watch relists on its own backoff (up to 10 s apart after a long outage). Deciding
        in between mixed a fresh pod list (room freed in the gap) with stale nodes (a cordon
        made in the gap unseen), and bound pods to a cordoned node (tests/faults, watch cut).
        """
        with self._lock:
            self._stale.add(kind)

    def fresh(self) -> bool:
        """True unless a watch broke and has not relisted since: safe to decide."""
        with self._lock:
            return not self._stale

    def _mark_synced(self, kind: str) -> None:
        self._stale.discard(kind)
        self._synced_kinds.add(kind)
        if self._kinds <= self._synced_kinds:
            self.synced.set()

    def _changed(self, why: str) -> None:
        if self._on_change is not None:
            self._on_change(why)

    def _put_node(self, obj: Mapping[str, Any]) -> None:
        name = str(obj.get("metadata", {}).get("name", ""))
        try:
            node = inputs.parse_node(obj)
        except errors.InputError as err:
            self._nodes.pop(name, None)
            self._node_objects.pop(name, None)
            log.warning("node %s is not a candidate: %s", name, err)
            if self._on_bad_node is not None:
                self._on_bad_node(obj, err)
            return
        self._nodes[name] = node
        self._node_objects[name] = obj

    def _usage_of(self, obj: Mapping[str, Any]) -> PodUsage | None:
        return self._pods.get(_uid(obj))

    def _put_pod(self, obj: Mapping[str, Any], *, reparse: bool = False) -> None:
        """Count ``obj`` (a v1 Pod) where it is bound, in place of what it was.

        A bound pod's status is written several times as it starts (the kubelet's
        conditions, IPs and phase), and none of it is what the model reads; such an update
        keeps the pod as parsed, its usage and the state's version (which the extender's
        filter-to-prioritize cache is keyed on), and costs a hash instead of a parse.
        ``reparse`` parses it anyway: the namespace labels its selectors read changed."""
        uid = _uid(obj)
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        node = spec.get("nodeName")
        old = self._pods.get(uid)
        inputs = _inputs_of(obj) if node else 0
        if (
            old is not None
            and not reparse
            and old.inputs == inputs
            and status.get("phase") not in TERMINAL_PHASES
        ):
            if uid in self._by_namespace_selector:
                self._by_namespace_selector[uid] = obj
            self._drop_reservation(uid)
            return
        self._pods.pop(uid, None)
        self._by_namespace_selector.pop(uid, None)
        if old is not None:
            self._release(old.node, old.pod)
        if not node or status.get("phase") in TERMINAL_PHASES:
            if not node:
                return
            self._drop_reservation(uid)
            return
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
        if _selects_namespaces_by_label(obj):
            self._by_namespace_selector[uid] = obj
        try:
            placed = pod_inputs.parse_placed(obj, namespace_labels=self._namespaces)
        except errors.InputError as err:
            # The API server validated this pod; count what we can rather than nothing.
            log.warning("pod %s unreadable, counted by its requests only: %s", key, err)
            try:
                requests = pod_inputs.pod_requests(obj, who=f"Pod {key}")
            except errors.InputError:
                requests = model.ResourceList(pods=1.0)
            placed = model.Pod(name=key, uid=uid, requests=requests)
        usage = PodUsage(key=key, node=str(node), pod=placed, inputs=inputs)
        self._pods[uid] = usage
        self._drop_reservation(uid)
        self._assign(usage.node, usage.pod)

    def _drop_reservation(self, uid: str) -> None:
        res = self._reservations.pop(uid, None)
        if res is not None:
            self._release(res.node, res.pod)

    def _expire_reservations(self) -> None:
        now = time.monotonic()
        stale = [
            uid
            for uid, res in self._reservations.items()
            if res.bound_at is not None and now - res.bound_at > res.ttl_s
        ]
        for uid in stale:
            unsure = self._reservations[uid].ttl_s < RESERVATION_TTL_S
            log.log(
                logging.INFO if unsure else logging.WARNING,
                "reservation of %s never confirmed by the watch; dropped",
                uid,
            )
            self._drop_reservation(uid)

    def _assign(self, node: str, pod: model.Pod) -> None:
        if self._state is not None and node in self._state.index:
            self._state.assign(pod, self._state.index[node])

    def _release(self, node: str, pod: model.Pod) -> None:
        if self._state is not None and node in self._state.index:
            self._state.release(pod, self._state.index[node])

    def _build_state(self) -> model.ClusterState:
        requests: dict[str, list[model.ResourceList]] = {}
        placed: list[tuple[model.Pod, str]] = []
        entries: list[PodUsage | Reservation] = [*self._pods.values()]
        entries += self._reservations.values()
        for entry in entries:
            requests.setdefault(entry.node, []).append(entry.pod.requests)
            placed.append((entry.pod, entry.node))
        nodes = [
            dataclasses.replace(node, used=model.ResourceList.total(requests.get(name, ())))
            for name, node in sorted(self._nodes.items())
        ]
        return model.ClusterState(nodes, topology=self._topology, placed=placed)


STORAGE = ("persistentvolumeclaims", "persistentvolumes", "storageclasses")
"""The storage kinds the view keeps, as their reflectors are named."""


def _storage_key(kind: str, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    if kind == "persistentvolumeclaims":
        return f"{meta.get('namespace')}/{meta.get('name')}"
    return str(meta.get("name") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def _selects_namespaces_by_label(obj: Mapping[str, Any]) -> bool:
    """Whether a pod has a required (anti-)affinity term with a non-empty namespaceSelector."""
    affinity = (obj.get("spec") or {}).get("affinity") or {}
    if not isinstance(affinity, Mapping):
        return False
    for kind in ("podAffinity", "podAntiAffinity"):
        section = affinity.get(kind)
        if not isinstance(section, Mapping):
            continue
        terms = section.get("requiredDuringSchedulingIgnoredDuringExecution")
        for term in terms if isinstance(terms, list) else []:
            selector = term.get("namespaceSelector") if isinstance(term, Mapping) else None
            if isinstance(selector, Mapping) and any(selector.values()):
                return True
    return False


def _inputs_of(obj: Mapping[str, Any]) -> int:
    """What of a Pod object the view reads (its spec, labels, annotations and name), as one
    number. ``repr`` and not a canonical form: the API server writes an object's fields in
    one order, so an unchanged pod repeats its text, and one written in another order only
    costs a parse. 9 us against 70 us for :func:`.pods.parse_placed` of a camera pod."""
    meta = obj.get("metadata") or {}
    return hash(
        repr(
            (
                obj.get("spec"),
                meta.get("labels"),
                meta.get("annotations"),
                meta.get("namespace"),
                meta.get("name"),
            )
        )
    )


def _uid(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
