"""Fixtures of the fault suite: a local cluster of its own, its processes, a namespace per test.

The fault tests stop and start kube-apiserver and etcd, pause kwok-controller and compact etcd,
so they never run on a cluster somebody else uses: ``kube`` always starts (or reuses) the local
kwokctl cluster named ``$CLOUDEDGE_FAULTS_CLUSTER`` (default ``cloudedge-faults``) with
hack/cluster-up.sh, whatever ``KUBECONFIG`` says, and deletes it after the session unless it was
already running or ``CLOUDEDGE_FAULTS_KEEP_CLUSTER=1``. ``control_plane`` fails (never skips)
when that cluster's processes cannot be controlled.

Every test in tests/faults is marked ``faults``; the helpers of tests/e2e are importable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FAULTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(FAULTS_DIR.parent / "e2e"))
sys.path.insert(0, str(FAULTS_DIR))

from cluster_support import (  # noqa: E402
    HACK_DIR,
    Cluster,
    find_kubectl,
    scratch_namespace,
    tool_bindir,
    wait_until,
)
from control_plane import ControlPlane, NotControllableError  # noqa: E402
from faults_support import TestNodes  # noqa: E402
from operator_support import OperatorProcess  # noqa: E402

CRD_DIR = FAULTS_DIR.parents[1] / "charts" / "cloud-edge-scheduler" / "crds"
CLUSTER_UP_TIMEOUT = 3600.0  # covers a cold tool build (docs/local-cluster.md)
CLUSTER_DOWN_TIMEOUT = 300.0
CLEANUP_TIMEOUT = 120.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if FAULTS_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.faults)


def _cache_dir() -> Path:
    return Path(os.environ.get("CACHE_DIR") or Path.home() / ".cache" / "cloudedge")


def cluster_name() -> str:
    return os.environ.get("CLOUDEDGE_FAULTS_CLUSTER", "cloudedge-faults")


def _run_hack(script: str, name: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLUSTER_NAME": name}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [str(HACK_DIR / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def kube() -> Iterator[Cluster]:
    """The fault suite's own local cluster; FAILS (never skips) when it cannot be had."""
    name = cluster_name()
    kubeconfig = _cache_dir() / "clusters" / name / "kubeconfig"
    bindir = tool_bindir()
    started = True
    if kubeconfig.is_file() and (bindir / "kubectl").is_file():
        running = Cluster.connect(str(kubeconfig), bindir / "kubectl", started_here=False)
        started = not running.is_ready()
        running.close()
    if started:
        try:
            proc = _run_hack("cluster-up.sh", name, CLUSTER_UP_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"hack/cluster-up.sh did not finish in {exc.timeout:.0f}s", pytrace=False)
        if proc.returncode != 0:
            pytest.fail(
                f"no cluster for the fault suite: CLUSTER_NAME={name} hack/cluster-up.sh "
                f"exited {proc.returncode}:\n{proc.stderr[-4000:]}",
                pytrace=False,
            )
    keep = os.environ.get("CLOUDEDGE_FAULTS_KEEP_CLUSTER", "") not in ("", "0")
    try:
        cluster = Cluster.connect(str(kubeconfig), find_kubectl(bindir), started_here=started)
        wait_until("the API server's /readyz", cluster.is_ready, timeout=60, interval=1)
        cluster.kubectl("apply", "-f", str(CRD_DIR))
    except Exception as exc:
        if started and not keep:
            _run_hack("cluster-down.sh", name, CLUSTER_DOWN_TIMEOUT)
        pytest.fail(f"no cluster: cannot use the API server of {kubeconfig}: {exc}", pytrace=False)
    yield cluster
    cluster.close()
    if started and not keep:
        _run_hack("cluster-down.sh", name, CLUSTER_DOWN_TIMEOUT)


@pytest.fixture(scope="session")
def control_plane(kube: Cluster) -> ControlPlane:
    """The processes of ``kube``; fails with the reason when they are not ours to control."""
    plane = ControlPlane(cluster_name(), cache_dir=_cache_dir(), bindir=tool_bindir())
    try:
        plane.check()
    except NotControllableError as err:
        pytest.fail(str(err), pytrace=False)
    return plane


@pytest.fixture
def healthy_control_plane(kube: Cluster, control_plane: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane, put back in order after the test whatever it did to it."""
    yield control_plane
    for component in ("etcd", "kube-apiserver", "kwok-controller"):
        with contextlib.suppress(NotControllableError, ProcessLookupError):
            control_plane.resume(component)  # if paused
    control_plane.revive()
    wait_until("the API server's /readyz after the test", kube.is_ready, timeout=90, interval=1)


@pytest.fixture
def namespace(kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace; its pods are deleted (and gone) before the next test starts."""
    with scratch_namespace(
        kube,
        request.node.name,
        prefix="ft",
        label="cloudedge.io/fault-test",
        drain_timeout=CLEANUP_TIMEOUT,
    ) as name:
        yield name


@pytest.fixture
def operator(kube: Cluster) -> Iterator[OperatorProcess]:
    """``cloudedge run --mode scheduler`` on the suite's cluster, with a Lease of its own."""
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"ft-{secrets.token_hex(4)}")
    proc.start()
    yield proc
    proc.close()


@pytest.fixture
def nodes(kube: Cluster) -> Iterator[TestNodes]:
    """Five kwok nodes of the test's own (2 cloud x 4 CPU, 3 edge x 2 CPU), deleted after."""
    test_nodes = TestNodes(kube)
    try:
        test_nodes.wait_ready()
        yield test_nodes
    finally:
        test_nodes.delete_all()
