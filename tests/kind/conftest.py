"""Fixtures of the kind suite: real kubelets, and the scheduler installed by its own chart.

- ``kind`` (session): the kind cluster of hack/kind/up.sh (``KIND_CLUSTER_NAME``, default
  cloudedge), made when it is missing and kept afterwards (``make kind-down`` deletes it). No
  cluster is a failure, never a skip.
- ``image`` (session): ``make image``'s image, loaded into the control-plane node.
- ``release_namespace`` (function): a namespace enforcing the restricted Pod Security Standard,
  where the chart is installed; ``workloads`` (function): a plain one for the example pods.

Every test in tests/kind is marked ``kind``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

KIND_DIR = Path(__file__).resolve().parent
# The e2e suite's helpers (cluster_support, deploy_support) serve this suite too.
sys.path.insert(0, str(KIND_DIR.parent / "e2e"))

from cluster_support import Cluster, find_kubectl, scratch_namespace, tool_bindir  # noqa: E402
from kind_support import kind_cluster_up, restricted_namespace, scheduler_image  # noqa: E402

CRD_DIR = KIND_DIR.parents[1] / "charts" / "cloud-edge-scheduler" / "crds"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if KIND_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.kind)


@pytest.fixture(scope="session")
def kind() -> Iterator[Cluster]:
    """The kind cluster under test; FAILS (never skips) when it cannot be had."""
    kubeconfig = kind_cluster_up()
    cluster = Cluster.connect(str(kubeconfig), find_kubectl(tool_bindir()), started_here=False)
    cluster.kubectl("apply", "-f", str(CRD_DIR))
    print(cluster.kubectl("get", "nodes", "-o", "wide").stdout)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def image(kind: Cluster) -> str:
    return scheduler_image()


@pytest.fixture
def release_namespace(kind: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = restricted_namespace(kind, request.node.name)
    yield name
    kind.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def workloads(kind: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A plain namespace for the workload pods; its controllers and pods are deleted and waited
    for afterwards, so that the next test starts with the workers' allocatable whole."""
    with scratch_namespace(
        kind, request.node.name, prefix="work", label="cloudedge.io/kind-e2e"
    ) as name:
        yield name
        kind.kubectl(
            "delete",
            "deployments,replicasets,jobs,pods",
            "--all",
            "-n",
            name,
            "--wait=true",
            "--timeout=180s",
            timeout=200,
        )
