"""Bind a pod to a node through the ``pods/binding`` subresource, with the pod's UID.

The Python client's binding calls try to deserialize the API's reply (a ``Status``) as a
``V1Binding`` and raise on the missing ``target``; the call is therefore made with
``_preload_content=False`` and the reply read as what it is.

Outcomes are explicit: :class:`Outcome` (bound, or already bound to that very node: a retry
after a lost reply, which counts as success), or a :class:`cloudedge.errors.BindError`
subclass whose ``reason`` says whether anything can help::

    BindError
    ├── BindConflict      ``conflict``: bound elsewhere (``node`` says where)
    ├── BindGone          ``gone``: being deleted, or the UID belongs to a recreated pod
    │   └── BindNotFound  ``gone``: 404, no such pod
    ├── BindGated         ``gone``: the pod has scheduling gates; it comes back when they are lifted
    ├── BindForbidden     ``forbidden``: our role may not bind
    └── BindRetry         ``retry``: anything transient (the Binding may even have been made)

Callers act on the class, not on ``reason`` (kept for logs and the extender's reply).
"""

from __future__ import annotations

import enum
import json
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_exc

from cloudedge import errors
from cloudedge.cluster import client

ALREADY_ASSIGNED = "is already assigned to node"
"""The API server's 409 for a Binding of a pod that was bound before it (kube-apiserver's
``assignPod``)."""


class Outcome(enum.StrEnum):
    """A Binding that worked."""

    BOUND = "bound"
    ALREADY_BOUND_SAME_NODE = "already-bound"
    """Bound to this very node before: an earlier attempt whose reply was lost, or another
    client with the same choice."""


class BindConflict(errors.BindError):
    """The pod is bound to another node (409)."""

    def __init__(self, message: str, *, node: str | None) -> None:
        super().__init__(message, reason="conflict", node=node)


class BindGone(errors.BindError):
    """The pod no longer exists as the one decided for (404, deleting, recreated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="gone")


class BindNotFound(BindGone):
    """No pod of that name exists any more (404)."""


class BindGated(errors.BindError):
    """The API server refuses to bind a pod with scheduling gates (409): not a failure to
    report or retry; lifting the gates is an update that queues the pod again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="gone")


class BindForbidden(errors.BindError):
    """Our role may not create Bindings (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="forbidden")


class BindRetry(errors.BindError):
    """A transient failure: the Binding may or may not have been made; retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="retry")


def bind(
    core: k8s.CoreV1Api, *, namespace: str, name: str, uid: str, node: str, timeout_s: float = 30
) -> Outcome:
    """Create the Binding; returns the :class:`Outcome` or raises a BindError subclass."""
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
        raise BindRetry(f"binding {namespace}/{name}: {err}") from err
    return Outcome.BOUND


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
) -> Outcome:
    text = _message(err)
    where = f"binding {namespace}/{name} to {node}"
    if err.status == 404:
        raise BindNotFound(f"{where}: pod is gone ({text})") from err
    if err.status == 409:
        # Already assigned, gated or being deleted: find out which. On our node, already
        # assigned was our own earlier attempt.
        try:
            pod = core.read_namespaced_pod(name, namespace, _request_timeout=10)
        except k8s_exc.ApiException as read_err:
            if read_err.status == 404:
                raise BindNotFound(f"{where}: pod is gone") from err
            raise BindRetry(f"{where}: {text}") from err
        except Exception as read_err:
            raise BindRetry(f"{where}: {text}; reading the pod failed: {read_err}") from err
        meta, spec = pod.metadata, pod.spec
        bound_uid = meta.uid if meta else None
        bound_node = spec.node_name if spec else None
        same_pod = not uid or bound_uid == uid
        if same_pod and bound_node == node:
            if ALREADY_ASSIGNED in text:
                return Outcome.ALREADY_BOUND_SAME_NODE
            # The 409 was about the write, not the assignment: the API server turns any
            # storage error of a Binding into a 409 ("rpc error: code = Unavailable" while
            # etcd fails), and etcd may have stored the write before it failed. The pod is
            # where this request sent it, and nothing else had bound it (that 409 says
            # "already assigned"): this request bound it. Taken for someone else's binding,
            # such pods had no Scheduled event and went uncounted (tests/faults, etcd killed
            # mid-burst: the five Bindings in flight at the kill).
            return Outcome.BOUND
        if not same_pod:
            raise BindGone(f"{where}: pod was recreated ({text})") from err
        if bound_node:
            raise BindConflict(f"{where}: {text}", node=bound_node) from err
        if getattr(meta, "deletion_timestamp", None) is not None:
            raise BindGone(f"{where}: pod is being deleted ({text})") from err
        if getattr(spec, "scheduling_gates", None):
            raise BindGated(f"{where}: pod has scheduling gates ({text})") from err
        # A 409 for a pod still unbound, ungated and alive was not about its assignment: the
        # API server also answers 409 when etcd fails mid-write ("rpc error: code =
        # Unavailable"). Taken for a conflict, the pod left the queue unbound for good
        # (tests/faults, etcd).
        raise BindRetry(f"{where}: {text}") from err
    if err.status in (400, 422) and "being deleted" in text:
        raise BindGone(f"{where}: {text}") from err
    if err.status == 403:
        raise BindForbidden(f"{where}: forbidden ({text})") from err
    raise BindRetry(f"{where}: HTTP {err.status}: {text}") from err
