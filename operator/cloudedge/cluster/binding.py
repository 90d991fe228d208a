"""Bind a pod to a node through the ``pods/binding`` subresource, with the pod's UID.

The Python client's binding calls try to deserialize the API's reply (a ``Status``) as a
``V1Binding`` and raise on the missing ``target``; the call is therefore made with
``_preload_content=False`` and the reply read as what it is.

Outcomes are explicit: bound, already bound to that very node (a retry after a lost reply,
which counts as success), or a :class:`cloudedge.errors.BindError` whose ``reason`` says
whether anything can help: ``conflict`` (bound elsewhere, or the UID belongs to a recreated
pod), ``gone`` (404 or being deleted) or ``retry`` (anything transient).
"""

from __future__ import annotations

import json
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_exc

from cloudedge import errors
from cloudedge.cluster import client

ALREADY_BOUND_SAME_NODE = "already-bound"


def bind(
    core: k8s.CoreV1Api, *, namespace: str, name: str, uid: str, node: str, timeout_s: float = 30
) -> str:
    """Create the Binding; returns ``"bound"`` or :data:`ALREADY_BOUND_SAME_NODE`."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": uid} if uid else {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    try:
        # POST pods/NAME/binding: the subresource kube-scheduler uses, and the only binding
        # permission the chart's role grants.
        client.drain(
            core.create_namespaced_pod_binding(
                name, namespace, cast(Any, body), _preload_content=False, _request_timeout=timeout_s
            )
        )
    except k8s_exc.ApiException as err:
        return _classify(core, err, namespace=namespace, name=name, uid=uid, node=node)
    except Exception as err:  # urllib3 / socket errors: the bind may or may not have happened
        raise errors.BindError(f"binding {namespace}/{name}: {err}", reason="retry") from err
    return "bound"


def _message(err: k8s_exc.ApiException) -> str:
    try:
        body = json.loads(err.body or "{}")
    except (TypeError, ValueError):
        return str(err.reason or err.status)
    return str(body.get("message") or err.reason or err.status)


def _classify(
    core: k8s.CoreV1Api,
    err: k8s_exc.ApiException,
    *,
    namespace: str,
    name: str,
    uid: str,
    node: str,
) -> str:
    text = _message(err)
    where = f"binding {namespace}/{name} to {node}"
    if err.status == 404:
        raise errors.BindError(f"{where}: pod is gone ({text})", reason="gone") from err
    if err.status == 409:
        # Already assigned: find out where. On our node it was our own earlier attempt.
        try:
            pod = core.read_namespaced_pod(name, namespace, _request_timeout=10)
        except k8s_exc.ApiException as read_err:
            if read_err.status == 404:
                raise errors.BindError(f"{where}: pod is gone", reason="gone") from err
            raise errors.BindError(f"{where}: {text}", reason="retry") from err
        bound_uid = pod.metadata.uid if pod.metadata else None
        bound_node = pod.spec.node_name if pod.spec else None
        same_pod = not uid or bound_uid == uid
        if same_pod and bound_node == node:
            return ALREADY_BOUND_SAME_NODE
        if not same_pod:
            raise errors.BindError(f"{where}: pod was recreated ({text})", reason="gone") from err
        if not bound_node:
            # A 409 for a pod still unbound was not about its assignment: the API server also
            # answers 409 when etcd fails mid-write ("rpc error: code = Unavailable"). Taken
            # for a conflict, the pod left the queue unbound for good (tests/faults, etcd).
            raise errors.BindError(f"{where}: {text}", reason="retry") from err
        raise errors.BindError(f"{where}: {text}", reason="conflict", node=bound_node) from err
    if err.status in (400, 422) and "being deleted" in text:
        raise errors.BindError(f"{where}: {text}", reason="gone") from err
    if err.status == 403:
        raise errors.BindError(f"{where}: forbidden ({text})", reason="forbidden") from err
    raise errors.BindError(f"{where}: HTTP {err.status}: {text}", reason="retry") from err
