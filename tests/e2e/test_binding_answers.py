"""What the real API server answers to Bindings, read as ``cluster/binding.py`` reads it.

The binder tells its own binding from someone else's by the text of a 409: only "is already
assigned to node" means the pod was bound before the request (a 409 about storage, while etcd
fails, may come with the request's own write stored). The fake API server of the unit tests
copies that text; this checks it against the real one.
"""

from __future__ import annotations

import json

import pytest
from cluster_support import Cluster
from kubernetes import client as k8s_client
from kubernetes.client import ApiException

from cloudedge.cluster import binding

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def test_a_second_binding_is_refused_as_already_assigned_and_read_as_an_earlier_one(
    kube: Cluster, namespace: str
) -> None:
    nodes = [
        n.metadata.name
        for n in kube.core.list_node().items
        if n.metadata is not None and (n.metadata.labels or {}).get("cloudedge.io/tier")
    ]
    assert len(nodes) >= 2, nodes
    first, other = nodes[0], nodes[1]
    # No scheduler serves this name: only the test binds the pod.
    pod = kube.core.create_namespaced_pod(
        namespace,
        k8s_client.V1Pod(
            metadata=k8s_client.V1ObjectMeta(name="p"),
            spec=k8s_client.V1PodSpec(
                scheduler_name="nobody",
                containers=[k8s_client.V1Container(name="c", image=PAUSE_IMAGE)],
            ),
        ),
    )
    uid = pod.metadata.uid
    bind = {"namespace": namespace, "name": "p", "uid": uid}
    assert binding.bind(kube.core, node=first, **bind) is binding.Outcome.BOUND
    # The API server's own words for a pod bound before the request.
    with pytest.raises(ApiException) as refused:
        kube.core.create_namespaced_pod_binding(
            "p",
            namespace,
            {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": "p", "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": first},
            },
        )
    assert refused.value.status == 409
    assert binding.ALREADY_ASSIGNED in json.loads(refused.value.body or "{}")["message"]
    assert binding.bind(kube.core, node=first, **bind) is binding.Outcome.ALREADY_BOUND_SAME_NODE
    with pytest.raises(binding.BindConflict) as conflict:
        binding.bind(kube.core, node=other, **bind)
    assert conflict.value.node == first
    assert kube.core.read_namespaced_pod("p", namespace).spec.node_name == first
