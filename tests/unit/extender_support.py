"""Helpers of the extender tests: Node and Pod objects, a served app, a fake API at the HTTP edge.

:class:`Served` runs the aiohttp application with aiohttp's own TestServer and TestClient on
127.0.0.1, in an event loop of its own thread, so that tests (hypothesis ones too) stay plain
synchronous functions and one server answers a whole run of examples.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import threading
import types
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from kubernetes.client import exceptions as k8s_exc

from cloudedge import extender, metrics, model
from cloudedge.cluster import view as view_mod

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0  # one request, generous for a loaded CI machine


def node(
    name: str,
    *,
    tier: str | None = "edge",
    cpu: str = "2",
    memory: str = "4Gi",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    """A v1 Node as the API serves it, with the cloudedge labels a test cares about."""
    all_labels = {"kubernetes.io/hostname": name, **(labels or {})}
    if tier is not None:
        all_labels["cloudedge.io/tier"] = tier
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": dict(annotations or {})},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str = "p",
    *,
    annotations: Mapping[str, str] | None = None,
    cpu: str = "500m",
    node_name: str | None = None,
    namespace: str = "default",
    uid: str | None = None,
) -> dict[str, Any]:
    """A v1 Pod requesting ``cpu``; bound to ``node_name`` when given."""
    spec: dict[str, Any] = {
        "containers": [{"name": "main", "image": "x", "resources": {"requests": {"cpu": cpu}}}]
    }
    if node_name is not None:
        spec["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "annotations": dict(annotations or {}),
        },
        "spec": spec,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


EDGE_ONLY = {"cloudedge.io/tier": "edge", "cloudedge.io/workload": "latency-sensitive"}


def small_cluster() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Five nodes and the pod filling one of them.

    cloud-1, cloud-2: cloud; edge-1: an idle edge node; edge-2: an edge node whose 2 CPUs are
    taken; plain: no tier label.
    """
    nodes = [
        node("cloud-1", tier="cloud", cpu="8", memory="32Gi"),
        node("cloud-2", tier="cloud", cpu="8", memory="32Gi"),
        node("edge-1"),
        node("edge-2"),
        node("plain", tier=None),
    ]
    pods = [pod("hog", cpu="2", node_name="edge-2")]
    return nodes, pods


def make_view(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]] | None = None
) -> view_mod.ClusterView:
    """A ClusterView fed as the watches would, listed once."""
    view = view_mod.ClusterView()
    view.replace_nodes(nodes)
    view.replace_pods(pods or [])
    return view


@dataclasses.dataclass
class Reply:
    """What the client saw: status, raw body and the body parsed as JSON when it is JSON."""

    status: int
    body: bytes
    content_type: str

    @property
    def doc(self) -> Any:
        return json.loads(self.body)


class Served:
    """An extender app served on 127.0.0.1 by aiohttp's TestServer, driven synchronously."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="extender-test")
        self.client: TestClient[web.Request, web.Application] | None = None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(CALL_TIMEOUT_S)

    async def _start(self) -> TestClient[web.Request, web.Application]:
        client = TestClient(TestServer(self.app, host="127.0.0.1"))
        await client.start_server()
        return client

    def start(self) -> None:
        self.thread.start()
        self.client = self._run(self._start())

    def stop(self) -> None:
        if self.client is not None:
            self._run(self.client.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(CALL_TIMEOUT_S)
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: Mapping[str, str] | None = None,
        chunked: bool = False,
    ) -> RawReply:
        """Send raw bytes; ``chunked`` streams them without a Content-Length."""
        assert self.client is not None
        client = self.client
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type

        # aiohttp warns (an error here) about big raw bytes: stream those from a buffer.
        data: Any = io.BytesIO(body) if len(body) > 2**20 else body
        if chunked:
            data = _chunks(body)

        async def go() -> Reply:
            async with client.request(method, path, data=data, headers=all_headers) as resp:
                return Reply(resp.status, await resp.read(), resp.content_type)

        return self._run(go())

    def post(self, path: str, doc: Any) -> Reply:
        """POST ``doc`` as JSON, the way kube-scheduler does."""
        return self.request("POST", path, body=json.dumps(doc).encode())


async def _chunks(body: bytes, size: int = 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@contextmanager
def served(
    view: view_mod.ClusterView,
    *,
    core: Any = None,
    registry_metrics: metrics.Metrics | None = None,
    **kwargs: Any,
) -> Iterator[Served]:
    """The extender for ``view`` with default model settings, served for the block."""
    app = extender.make_app(
        view=view,
        config=model.ModelConfig(),
        metrics=registry_metrics or metrics.Metrics(),
        core=core,
        **kwargs,
    )
    server = Served(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cache_args(pod_obj: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """``ExtenderArgs`` of a nodeCacheCapable kube-scheduler."""
    return {"Pod": pod_obj, "Nodes": None, "NodeNames": names}


def list_args(pod_obj: Mapping[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """``ExtenderArgs`` of a kube-scheduler that is not nodeCacheCapable."""
    return {"Pod": pod_obj, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}


class RawReply:
    """What ``_preload_content=False`` calls return: a body to read and a connection to release."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.released = False

    def release_conn(self) -> None:
        self.released = True


class FakeCore:
    """The two CoreV1Api calls binding makes, over an in-memory set of pods.

    Behaves like the API server: a Binding for a bound pod is a 409, for a missing pod a 404,
    and a UID precondition that does not match is a 409.
    """

    def __init__(self, pods: Mapping[tuple[str, str], tuple[str, str | None]]) -> None:
        self.pods = dict(pods)  # (namespace, name) -> (uid, node or None)
        self.bindings: list[tuple[str, str, str, str]] = []  # (namespace, name, uid, node)
        self.lock = threading.Lock()
        self.fail_with: k8s_exc.ApiException | None = None
        self.gated: set[tuple[str, str]] = set()
        self.deleting: set[tuple[str, str]] = set()

    def create_namespaced_pod_binding(self, name: str, namespace: str, body: Any, **_: Any) -> None:
        assert body["metadata"]["name"] == name, "the subresource path names the pod"
        uid = body["metadata"].get("uid", "")
        target = body["target"]["name"]
        with self.lock:
            self.bindings.append((namespace, name, uid, target))
            if self.fail_with is not None:
                raise self.fail_with
            current = self.pods.get((namespace, name))
            if current is None:
                raise api_error(404, f'pods "{name}" not found')
            have_uid, bound = current
            if uid and uid != have_uid:
                raise api_error(409, "Precondition failed: UID in precondition")
            if (namespace, name) in self.deleting:
                raise api_error(409, f"pod {name} is being deleted, cannot be assigned to a host")
            if (namespace, name) in self.gated:
                raise api_error(409, f"pod {name} has non-empty .spec.schedulingGates")
            if bound is not None:
                raise api_error(
                    409,
                    f'Operation cannot be fulfilled on pods/binding "{name}": '
                    f'pod {name} is already assigned to node "{bound}"',
                )
            self.pods[(namespace, name)] = (have_uid, target)
            return RawReply(b'{"kind":"Status","status":"Success","code":201}')

    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> Any:
        with self.lock:
            current = self.pods.get((namespace, name))
        if current is None:
            raise api_error(404, f'pods "{name}" not found')
        uid, bound = current
        key = (namespace, name)
        deleted_at = "2026-01-01T00:00:00Z" if key in self.deleting else None
        gates = [types.SimpleNamespace(name="wait")] if key in self.gated else None
        return types.SimpleNamespace(
            metadata=types.SimpleNamespace(uid=uid, deletion_timestamp=deleted_at),
            spec=types.SimpleNamespace(node_name=bound, scheduling_gates=gates),
        )


def api_error(status: int, message: str) -> k8s_exc.ApiException:
    """An ApiException with a Status body, as the client raises it."""
    body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status})
    return k8s_exc.ApiException(status=status, reason=message, body=body)
