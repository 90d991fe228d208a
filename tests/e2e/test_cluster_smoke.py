"""The control plane under test is a real one: nodes, controllers, scheduler, validation, RBAC."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cluster_support import Cluster, wait_until
from kubernetes import client as k8s_client
from kubernetes.client import ApiException

# hack/nodes/default.yaml: the seed article's 3 cloud and 5 edge nodes.
DEFAULT_NODES = {
    **{f"cloud-{i}": "cloud" for i in range(1, 4)},
    **{f"edge-{i}": "edge" for i in range(1, 6)},
}
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def _uses_default_kwok_nodes(kube: Cluster) -> bool:
    nodes = kube.core.list_node().items
    return any(
        n.metadata is not None
        and (n.metadata.annotations or {}).get(KWOK_NODE_ANNOTATION) == "fake"
        for n in nodes
    )


def _get_nodes_with_tier(kube: Cluster) -> dict[str, tuple[str, str]]:
    """``kubectl get nodes -L cloudedge.io/tier``, parsed: name -> (status, tier)."""
    out = kube.kubectl("get", "nodes", "-L", "cloudedge.io/tier", "--no-headers").stdout
    rows: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        cols = line.split()
        # NAME STATUS ROLES AGE VERSION TIER (TIER is empty for a node without the label)
        rows[cols[0]] = (cols[1], cols[5] if len(cols) > 5 else "")
    return rows


def test_kubectl_lists_the_cloud_and_edge_nodes_ready_with_their_tier(kube: Cluster) -> None:
    rows = wait_until(
        "every node with a cloudedge.io/tier label to be Ready",
        lambda: (
            rows
            if (rows := _get_nodes_with_tier(kube))
            and all(status == "Ready" for status, tier in rows.values() if tier)
            else None
        ),
        timeout=60,
    )
    tiered = {name: tier for name, (_, tier) in rows.items() if tier}
    if _uses_default_kwok_nodes(kube):
        # The local cluster's own nodes; examples (make run) may have added more beside them.
        assert {n: t for n, t in tiered.items() if n in DEFAULT_NODES} == DEFAULT_NODES
        assert {n: rows[n][0] for n in DEFAULT_NODES} == dict.fromkeys(DEFAULT_NODES, "Ready")
    else:  # any other cluster (kind): at least one Ready node of each tier
        assert set(tiered.values()) == {"cloud", "edge"}


def _deployment(name: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: pause
          image: {PAUSE_IMAGE}
          resources:
            requests: {{cpu: 100m, memory: 32Mi}}
"""


def _running_and_scheduled(pod: Any) -> bool:
    scheduled = any(
        c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions or []
    )
    return bool(pod.spec.node_name) and scheduled and pod.status.phase == "Running"


def test_a_deployment_gets_its_pods_created_scheduled_and_running(
    kube: Cluster, namespace: str
) -> None:
    out = kube.apply(_deployment("smoke", 5), namespace=namespace)
    assert "deployment.apps/smoke created" in out

    pods = wait_until(
        "5 pods of the Deployment bound and Running",
        lambda: (
            pods
            if len(pods := kube.pods(namespace, "app=smoke")) == 5
            and all(_running_and_scheduled(p) for p in pods)
            else None
        ),
        timeout=120,
        interval=1,
    )
    for pod in pods:
        # Created by the ReplicaSet controller of kube-controller-manager ...
        owners = pod.metadata.owner_references or []
        assert [o.kind for o in owners] == ["ReplicaSet"]
        # ... bound by kube-scheduler to a node of the cluster ...
        assert pod.spec.scheduler_name == "default-scheduler"
        assert pod.spec.node_name in _get_nodes_with_tier(kube)
    events = kube.core.list_namespaced_event(namespace, field_selector="reason=Scheduled").items
    scheduled = {e.involved_object.name: _event_source(e) for e in events}
    assert {p.metadata.name: "default-scheduler" for p in pods}.items() <= scheduled.items()
    # ... and the Deployment controller sees them available.
    wait_until(
        "the Deployment to report 5 available replicas",
        lambda: _available_replicas(kube, namespace, "smoke") == 5,
        timeout=60,
    )


def _event_source(event: k8s_client.CoreV1Event) -> str | None:
    if event.source is not None and event.source.component:
        return event.source.component
    return event.reporting_component


def _available_replicas(kube: Cluster, namespace: str, name: str) -> int:
    status = kube.apps.read_namespaced_deployment(name, namespace).status
    return (status.available_replicas or 0) if status is not None else 0


@pytest.mark.parametrize(
    ("container", "field"),
    [
        pytest.param(
            k8s_client.V1Container(name="c"),
            "spec.containers[0].image",
            id="container-without-image",
        ),
        pytest.param(
            k8s_client.V1Container(
                name="c",
                image=PAUSE_IMAGE,
                resources=k8s_client.V1ResourceRequirements(requests={"cpu": "-1"}),
            ),
            "spec.containers[0].resources.requests[cpu]",
            id="negative-cpu-request",
        ),
    ],
)
def test_the_api_server_rejects_a_pod_with_an_invalid_spec_with_422(
    kube: Cluster, namespace: str, container: k8s_client.V1Container, field: str
) -> None:
    pod = k8s_client.V1Pod(
        metadata=k8s_client.V1ObjectMeta(name="invalid"),
        spec=k8s_client.V1PodSpec(containers=[container]),
    )
    with pytest.raises(ApiException) as excinfo:
        kube.core.create_namespaced_pod(namespace, pod)
    assert excinfo.value.status == 422
    status: dict[str, Any] = json.loads(excinfo.value.body or "{}")
    assert status["reason"] == "Invalid"
    assert field in [cause.get("field") for cause in status["details"]["causes"]]
    with pytest.raises(ApiException) as missing:
        kube.core.read_namespaced_pod("invalid", namespace)
    assert missing.value.status == 404


def test_rbac_denies_a_service_account_until_a_role_binding_grants_it(
    kube: Cluster, namespace: str
) -> None:
    def can_create_pods() -> str:
        who = f"system:serviceaccount:{namespace}:default"
        proc = kube.kubectl(
            "auth", "can-i", "create", "pods", "-n", namespace, "--as", who, check=False
        )
        return proc.stdout.strip()

    assert can_create_pods() == "no"
    kube.kubectl(
        "create",
        "rolebinding",
        "edit",
        "--clusterrole=edit",
        f"--serviceaccount={namespace}:default",
        "--namespace",
        namespace,
    )
    wait_until("the RoleBinding to take effect", lambda: can_create_pods() == "yes", timeout=30)
