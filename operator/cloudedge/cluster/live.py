"""Wire a :class:`ClusterView` to the API server: reflectors for nodes, pods and topology.

Pods are watched with ``status.phase!=Succeeded,status.phase!=Failed`` (server-side): the view
needs every non-terminated pod, bound or not, whoever scheduled it. That one pod watch is the
scheduler's only one: after the view has taken each event, a :class:`PodHandler` (the binder's
queue, :mod:`cloudedge.scheduler.stream`) gets it too, so the queue is never ahead of the view
and both relist together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kubernetes import client as k8s

from cloudedge import errors, inputs, model
from cloudedge.cluster import reflector, view
from cloudedge.inputs import topology as topology_inputs

log = logging.getLogger(__name__)

START_POLL_S = 0.2
"""How often :meth:`LiveView.start` looks whether it was closed while it waits for the lists."""

NON_TERMINATED = "status.phase!=Succeeded,status.phase!=Failed"
TOPOLOGY_GROUP, TOPOLOGY_VERSION, TOPOLOGY_PLURAL = "cloudedge.io", "v1alpha1", "networktopologies"


class PodHandler(Protocol):
    """Who else hears the pod stream, after the view (called from the reflector thread)."""

    def pods_listed(self, objects: list[Mapping[str, Any]]) -> None:
        """A (re)list: exactly these pods exist."""

    def pod_changed(self, obj: Mapping[str, Any]) -> None:
        """A pod was added or changed."""

    def pod_deleted(self, obj: Mapping[str, Any]) -> None:
        """A pod was deleted or finished."""


class LiveView:
    """A ClusterView plus the threads that keep it current."""

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        on_change: Callable[[str], None] | None = None,
        on_bad_node: Callable[[Mapping[str, Any], errors.InputError], None] | None = None,
        on_bad_topology: Callable[[Mapping[str, Any], errors.InputError], None] | None = None,
        on_topology_warning: Callable[[Mapping[str, Any], errors.InputError], None] | None = None,
        watch_topology: bool = True,
        pods: PodHandler | None = None,
    ) -> None:
        self.api = api
        self.pods = pods
        self.view = view.ClusterView(
            on_change=on_change, on_bad_node=on_bad_node, kinds=("nodes", "pods", "namespaces")
        )
        self.stop = threading.Event()
        self._on_bad_topology = on_bad_topology
        self._on_topology_warning = on_topology_warning
        self._in_force: Mapping[str, Any] | None = None  # the object of _last_good
        self._topologies: dict[str, Mapping[str, Any]] = {}
        self._last_good: model.Topology | None = None
        core = k8s.CoreV1Api(api)
        self.reflectors = [
            reflector.Reflector(
                api,
                core.list_node,
                name="nodes",
                on_replace=self.view.replace_nodes,
                on_upsert=self.view.upsert_node,
                on_delete=lambda obj: self.view.delete_node(str(obj["metadata"]["name"])),
                stop=self.stop,
                on_stale=lambda: self.view.mark_stale("nodes"),
            ),
            # Namespace labels, for the namespaceSelector of pod (anti-)affinity terms.
            reflector.Reflector(
                api,
                core.list_namespace,
                name="namespaces",
                on_replace=self.view.replace_namespaces,
                on_upsert=self.view.upsert_namespace,
                on_delete=self.view.delete_namespace,
                stop=self.stop,
                on_stale=lambda: self.view.mark_stale("namespaces"),
            ),
            reflector.Reflector(
                api,
                core.list_pod_for_all_namespaces,
                name="pods",
                field_selector=NON_TERMINATED,
                on_replace=self._pods_replaced,
                on_upsert=self._pod_changed,
                on_delete=self._pod_deleted,
                stop=self.stop,
                on_list_start=self.view.pods_listing,
                on_stale=lambda: self.view.mark_stale("pods"),
            ),
        ]
        # Claims, volumes and classes, for the volume topology of pods with PVCs.
        storage = k8s.StorageV1Api(api)
        listers: dict[str, reflector.Lister] = {
            "persistentvolumeclaims": core.list_persistent_volume_claim_for_all_namespaces,
            "persistentvolumes": core.list_persistent_volume,
            "storageclasses": storage.list_storage_class,
        }
        for kind, lister in listers.items():
            self.reflectors.append(self._storage_reflector(kind, lister))
        if watch_topology:
            custom = k8s.CustomObjectsApi(api)

            def list_topologies(**kwargs: Any) -> Any:
                return custom.list_cluster_custom_object(
                    TOPOLOGY_GROUP, TOPOLOGY_VERSION, TOPOLOGY_PLURAL, **kwargs
                )

            self.reflectors.append(
                reflector.Reflector(
                    api,
                    list_topologies,
                    name="networktopologies",
                    on_replace=self._replace_topologies,
                    on_upsert=self._upsert_topology,
                    on_delete=self._delete_topology,
                    stop=self.stop,
                )
            )

    def _storage_reflector(self, kind: str, lister: reflector.Lister) -> reflector.Reflector:
        return reflector.Reflector(
            self.api,
            lister,
            name=kind,
            on_replace=lambda items: self.view.replace_storage(kind, items),
            on_upsert=lambda obj: self.view.upsert_storage(kind, obj),
            on_delete=lambda obj: self.view.delete_storage(kind, obj),
            stop=self.stop,
            on_stale=lambda: self.view.mark_stale(kind),
        )

    def start(self, *, wait_s: float = 60.0) -> None:
        """Start the watches and wait (bounded) for nodes, namespaces and pods to be listed.

        Returns early, unsynced, when :meth:`close` is called meanwhile (a stop during the
        start), so that the caller's thread is not held for the rest of ``wait_s``.
        """
        for r in self.reflectors:
            r.start()
        deadline = time.monotonic() + wait_s
        while not self.view.synced.wait(min(START_POLL_S, max(0.0, deadline - time.monotonic()))):
            if self.stop.is_set():
                return
            if time.monotonic() >= deadline:
                raise errors.ClusterError(
                    f"nodes, namespaces and pods not listed within {wait_s:.0f}s"
                )
        if self._in_force is not None and self._last_good is not None:
            self._warn_unknown_sites(self._in_force, self._last_good)  # nodes are known now

    def close(self) -> None:
        """Stop every watch."""
        self.stop.set()
        for r in self.reflectors:
            r.close()

    # The pod stream: the view first (its reservations end as the pod shows up bound), then
    # the handler.
    def _pods_replaced(self, items: list[Mapping[str, Any]]) -> None:
        self.view.replace_pods(items)
        if self.pods is not None:
            self.pods.pods_listed(items)

    def _pod_changed(self, obj: Mapping[str, Any]) -> None:
        self.view.upsert_pod(obj)
        if self.pods is not None:
            self.pods.pod_changed(obj)

    def _pod_deleted(self, obj: Mapping[str, Any]) -> None:
        self.view.delete_pod(obj)
        if self.pods is not None:
            self.pods.pod_deleted(obj)

    # NetworkTopology: the one named "default", else the only one; a bad one keeps the last
    # good topology in force and is reported.
    def _replace_topologies(self, items: list[Mapping[str, Any]]) -> None:
        self._topologies = {str(o["metadata"]["name"]): o for o in items}
        self._apply_topology()

    def _upsert_topology(self, obj: Mapping[str, Any]) -> None:
        self._topologies[str(obj["metadata"]["name"])] = obj
        self._apply_topology()

    def _delete_topology(self, obj: Mapping[str, Any]) -> None:
        self._topologies.pop(str(obj["metadata"]["name"]), None)
        self._apply_topology()

    def _apply_topology(self) -> None:
        chosen = choose_topology(self._topologies)
        if chosen is None:
            if self._topologies:
                log.warning(
                    "%d NetworkTopology objects and none named %r: using defaults",
                    len(self._topologies),
                    topology_inputs.DEFAULT_NAME,
                )
            self._last_good = None
            self.view.set_topology(model.Topology())
            return
        try:
            topo = inputs.parse_topology(chosen)
        except errors.InputError as err:
            log.warning("NetworkTopology rejected, keeping the last good one: %s", err)
            if self._on_bad_topology is not None:
                self._on_bad_topology(chosen, err)
            return
        self._last_good = topo
        self._in_force = chosen
        self.view.set_topology(topo)
        if self.view.synced.is_set():
            self._warn_unknown_sites(chosen, topo)

    def _warn_unknown_sites(self, obj: Mapping[str, Any], topo: model.Topology) -> None:
        """Report links naming sites that no node and no ``spec.sites`` entry declares.

        Such a topology is applied (a site's nodes may join later; until then its links are
        unused), but a typo in a site name would otherwise go unnoticed (tests/faults, the
        topology test). Checked once the nodes are listed, so start-up order raises none.
        """
        unknown = topology_inputs.unknown_sites(topo, self.view.sites())
        if not unknown:
            return
        err = errors.TopologyError(
            f"NetworkTopology {obj.get('metadata', {}).get('name')}",
            "spec.links",
            unknown[:10],
            "sites that a node (cloudedge.io/site, zone or name) or spec.sites declares",
        )
        log.warning("NetworkTopology names unknown sites, links to them unused: %s", err)
        if self._on_topology_warning is not None:
            self._on_topology_warning(obj, err)


def choose_topology(by_name: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The NetworkTopology in force: the one named ``default``, else the only one."""
    chosen = by_name.get(topology_inputs.DEFAULT_NAME)
    if chosen is None and len(by_name) == 1:
        chosen = next(iter(by_name.values()))
    return chosen
