"""Fixtures of the e2e suite: a live control plane, a namespace per test.

- ``kube`` (session): the cluster of ``KUBECONFIG`` when it is set; otherwise the local one of
  hack/cluster-up.sh (kwok fake nodes), started for the session and deleted after it unless it
  was already running. No cluster is a failure, never a skip.
- ``namespace`` (function): a fresh namespace whose default ServiceAccount exists, deleted after.

Every test in tests/e2e is marked ``e2e``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_support import (
    HACK_DIR,
    Cluster,
    find_kubectl,
    scratch_namespace,
    tool_bindir,
    wait_until,
)

E2E_DIR = Path(__file__).resolve().parent
CRD_DIR = E2E_DIR.parents[1] / "charts" / "cloud-edge-scheduler" / "crds"
CLUSTER_UP_TIMEOUT = 3600.0  # covers a cold tool build (see docs/local-cluster.md)
CLUSTER_DOWN_TIMEOUT = 300.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _cache_dir() -> Path:
    return Path(os.environ.get("CACHE_DIR") or Path.home() / ".cache" / "cloudedge")


def _local_cluster(name: str) -> tuple[Path, bool]:
    """Start (or reuse) the local cluster; returns its kubeconfig and whether it was started."""
    kubeconfig = _cache_dir() / "clusters" / name / "kubeconfig"
    bindir = tool_bindir()
    if kubeconfig.is_file() and (bindir / "kubectl").is_file():
        running = Cluster.connect(str(kubeconfig), bindir / "kubectl", started_here=False)
        if running.is_ready():
            return kubeconfig, False
    env = {**os.environ, "CLUSTER_NAME": name}
    env.pop("KUBECONFIG", None)
    try:
        proc = subprocess.run(
            [str(HACK_DIR / "cluster-up.sh")],
            capture_output=True,
            text=True,
            timeout=CLUSTER_UP_TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hack/cluster-up.sh did not finish in {exc.timeout:.0f}s", pytrace=False)
    if proc.returncode != 0:
        pytest.fail(
            f"no cluster: KUBECONFIG is not set and hack/cluster-up.sh exited {proc.returncode}:\n"
            f"{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return kubeconfig, True


def _cluster_down(name: str) -> None:
    subprocess.run(
        [str(HACK_DIR / "cluster-down.sh")],
        env={**os.environ, "CLUSTER_NAME": name},
        timeout=CLUSTER_DOWN_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="session")
def kube() -> Iterator[Cluster]:
    """The cluster under test; FAILS (never skips) when none can be had."""
    env_kubeconfig = os.environ.get("KUBECONFIG", "").strip()
    name = os.environ.get("CLUSTER_NAME", "cloudedge")
    if env_kubeconfig:
        kubeconfig, started = env_kubeconfig, False
    else:
        path, started = _local_cluster(name)
        kubeconfig = str(path)
    keep = os.environ.get("CLOUDEDGE_E2E_KEEP_CLUSTER", "") not in ("", "0")
    try:
        cluster = Cluster.connect(kubeconfig, find_kubectl(tool_bindir()), started_here=started)
        wait_until("the API server's /readyz", cluster.is_ready, timeout=60, interval=1)
        # The scheduler watches NetworkTopology: its CRD belongs to every cluster under test.
        cluster.kubectl("apply", "-f", str(CRD_DIR))
    except Exception as exc:
        if started and not keep:
            _cluster_down(name)
        pytest.fail(f"no cluster: cannot use the API server of {kubeconfig}: {exc}", pytrace=False)
    yield cluster
    cluster.close()
    if started and not keep:
        _cluster_down(name)


@pytest.fixture
def namespace(kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A unique namespace for one test, with its default ServiceAccount; deleted afterwards."""
    with scratch_namespace(kube, request.node.name, prefix="e2e", label="cloudedge.io/e2e") as name:
        yield name
