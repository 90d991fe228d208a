"""``cloudedge explain POD -n NAMESPACE``: every candidate node's terms and score for a live pod;
``cloudedge placements -n NAMESPACE``: where each pod of ours landed, and why.

It reads the cluster once (nodes, non-terminated pods, NetworkTopology), removes the pod's
own requests if it is already bound, and runs the same evaluation the scheduler runs, so the
table shows what the scheduler would decide now and why each other node lost or failed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_exc

from cloudedge import SCHEDULER_NAME, errors, inputs, model
from cloudedge.cluster import client, live, view


def _items(resp: Any) -> list[dict[str, Any]]:
    return list(json.loads(client.drain(resp)).get("items") or [])


def explain(
    name: str,
    namespace: str,
    *,
    kubeconfig: str | None = None,
    config: model.ModelConfig | None = None,
) -> str:
    """The explanation as text; raises ClusterError when the pod cannot be read."""
    api = client.api_client(kubeconfig)
    core = k8s.CoreV1Api(api)
    try:
        raw_pod: Any = core.read_namespaced_pod(name, namespace, _preload_content=False)
        pod_obj = json.loads(client.drain(raw_pod))
        nodes = _items(core.list_node(_preload_content=False))
        pods = _items(
            core.list_pod_for_all_namespaces(
                field_selector=live.NON_TERMINATED, _preload_content=False
            )
        )
    except k8s_exc.ApiException as err:
        raise errors.ClusterError(f"reading pod {namespace}/{name}: HTTP {err.status}") from err
    topologies: dict[str, dict[str, Any]] = {}
    try:
        resp = k8s.CustomObjectsApi(api).list_cluster_custom_object(
            live.TOPOLOGY_GROUP, live.TOPOLOGY_VERSION, live.TOPOLOGY_PLURAL, _preload_content=False
        )
        topologies = {str(o["metadata"]["name"]): o for o in _items(resp)}
    except k8s_exc.ApiException:
        pass  # no CRD installed: the documented defaults apply
    try:
        namespaces = _items(core.list_namespace(_preload_content=False))
        storage = {
            "persistentvolumeclaims": _items(
                core.list_persistent_volume_claim_for_all_namespaces(_preload_content=False)
            ),
            "persistentvolumes": _items(core.list_persistent_volume(_preload_content=False)),
            "storageclasses": _items(
                k8s.StorageV1Api(api).list_storage_class(_preload_content=False)
            ),
        }
    except k8s_exc.ApiException as err:
        raise errors.ClusterError(f"listing namespaces and storage: HTTP {err.status}") from err
    uid = pod_obj["metadata"].get("uid")
    cluster = view.ClusterView()
    cluster.replace_nodes(nodes)
    cluster.replace_namespaces(namespaces)
    for kind, items in storage.items():
        cluster.replace_storage(kind, items)
    cluster.replace_pods([p for p in pods if p["metadata"].get("uid") != uid])
    chosen = live.choose_topology(topologies)
    if chosen is not None:
        cluster.set_topology(inputs.parse_topology(chosen))
    bound = (pod_obj.get("spec") or {}).get("nodeName")
    header = [f"pod {namespace}/{name}: " + (f"bound to {bound}" if bound else "pending")]
    if not bound and (pod_obj.get("spec") or {}).get("schedulingGates"):
        gates = [str((g or {}).get("name")) for g in pod_obj["spec"]["schedulingGates"]]
        header.append(f"not ready for scheduling: waiting for the gates {', '.join(gates)}")
    try:
        claims = cluster.volumes_of(pod_obj)
    except errors.InputError as err:
        return "\n".join([*header, f"invalid volume: {err}"])
    unhonoured = inputs.unhonoured_fields(pod_obj) + claims.refused
    if unhonoured:
        header.append(f"refused by the binder: {inputs.refusal(unhonoured)}")
    if claims.pending:
        header.append(f"no node until its claims change: {', '.join(claims.pending)}")
    users = (
        cluster.claim_users(claims.exclusive, other_than=str(uid or "")) if claims.exclusive else []
    )
    if users:
        header.append(
            "no node until its ReadWriteOncePod claim is free: in use by " + ", ".join(users)
        )
    try:
        pod = inputs.parse_pod(pod_obj, namespace_labels=cluster.namespace_labels())
        pod = dataclasses.replace(
            pod, volume_node_terms=claims.node_terms, volume_reason=claims.reason
        )
    except errors.InputError as err:
        return "\n".join([*header, f"invalid scheduling input: {err}"])
    ev = cluster.evaluate(pod, config or model.ModelConfig())
    return "\n".join([*header, *format_evaluation(ev)])


def format_evaluation(ev: model.Evaluation) -> list[str]:
    """The per-node table, best first, filtered nodes last with their reasons.

    One column per term that applied to the pod, in registry order: time terms in seconds,
    the capacity term as the leftover share, preference terms as their 0..1 goodness.
    """
    best = ev.best()
    titles = [t.label for t in ev.terms]
    widths = [max(9, len(title)) for title in titles]
    lines = [
        f"workload {ev.pod.workload.value}; "
        + (
            f"the scheduler would choose {ev.node_names[best]}"
            if best is not None
            else ev.failure_summary()
        ),
        "",
        f"{'NODE':<20} {'SCORE':>6} {'ECT(s)':>9} "
        + "".join(f"{title:>{w}} " for title, w in zip(titles, widths, strict=True))
        + " FILTERED BY",
    ]
    order = sorted(range(len(ev.node_names)), key=lambda i: (not ev.feasible[i], -ev.scores[i]))
    for i in order:
        t = ev.node_terms(i)
        cells = []
        for term, w in zip(ev.terms, widths, strict=True):
            value = term.shown_value(t.values[term.name], t.goodness.get(term.name, 0.0))
            digits = 4 if term.kind is model.TermKind.TIME else 3
            cells.append(f"{value:>{w}.{digits}f} ")
        lines.append(
            f"{t.node:<20} {t.score:>6.1f} {t.ect_s:>9.4f} "
            + "".join(cells)
            + " "
            + ("" if t.feasible else ", ".join(t.reasons))
        )
    return lines


def placements(namespace: str, *, kubeconfig: str | None = None) -> str:
    """A table of the namespace's pods of our scheduler: node, tier and the last word on them.

    The reason column is the newest ``Scheduled`` event (the term breakdown) for bound pods
    and the newest ``FailedScheduling`` message for pending ones.
    """
    api = client.api_client(kubeconfig)
    core = k8s.CoreV1Api(api)
    try:
        pods = _items(core.list_namespaced_pod(namespace, _preload_content=False))
        nodes = _items(core.list_node(_preload_content=False))
        evs = _items(core.list_namespaced_event(namespace, _preload_content=False))
    except k8s_exc.ApiException as err:
        raise errors.ClusterError(f"reading namespace {namespace}: HTTP {err.status}") from err
    tier = {
        n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get("cloudedge.io/tier", "-")
        for n in nodes
    }
    last: dict[tuple[str, str], tuple[str, str]] = {}
    for e in evs:
        if (e.get("source") or {}).get("component") != SCHEDULER_NAME:
            continue
        name = (e.get("involvedObject") or {}).get("name", "")
        stamp = str(e.get("lastTimestamp") or e.get("eventTime") or "")
        key = (name, str(e.get("reason")))
        if key not in last or stamp >= last[key][0]:
            last[key] = (stamp, str(e.get("message") or ""))
    lines = [f"{'POD':<36} {'NODE':<20} {'TIER':<6} WHY"]
    ours = [p for p in pods if (p.get("spec") or {}).get("schedulerName") == SCHEDULER_NAME]
    for p in sorted(ours, key=lambda p: str(p["metadata"]["name"])):
        name = str(p["metadata"]["name"])
        node = (p.get("spec") or {}).get("nodeName")
        if node:
            why = last.get((name, "Scheduled"), ("", ""))[1].partition(": ")[2]
        else:
            why = last.get((name, "FailedScheduling"), ("", "waiting for a decision"))[1]
        lines.append(f"{name:<36} {node or '<pending>':<20} {tier.get(node or '', '-'):<6} {why}")
    bound = sum(1 for p in ours if (p.get("spec") or {}).get("nodeName"))
    lines.append(f"\n{bound} of {len(ours)} pods bound in namespace {namespace}")
    return "\n".join(lines)
