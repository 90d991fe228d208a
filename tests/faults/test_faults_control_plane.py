"""Faults of the control plane during a burst of 400 pods: kube-apiserver stopped and started,
etcd killed and started, and the scheduler's watches cut while pods and nodes change, with etcd
compacted and the API server restarted (empty watch cache) so that nothing seen before can be
resumed from (410 Gone) and everything must be relisted.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from cluster_support import Cluster, wait_until
from control_plane import ControlPlane
from faults_support import (
    Invariants,
    NodeSpec,
    TcpProxy,
    TestNodes,
    burst,
    capacity_in_pods,
    create_pods,
)
from operator_support import OperatorProcess

BURST = 400
DOWN_S = 5.0


def bound_count(kube: Cluster, namespace: str) -> int:
    return sum(1 for p in kube.pods(namespace) if p.spec.node_name)


def restart_mid_burst(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    operator: OperatorProcess,
    plane: ControlPlane,
    component: str,
    sig: int,
) -> None:
    pods = burst(nodes, "cp", BURST)
    creator = threading.Thread(
        target=create_pods, args=(kube, namespace, pods), kwargs={"retry_s": 120}
    )
    creator.start()
    try:
        wait_until(
            "the operator to bind 100 pods",
            lambda: operator.sample("cloudedge_schedule_attempts_total", result="scheduled") >= 100,
            timeout=60,
            interval=0.1,
        )
        at_fault = bound_count(kube, namespace)
        argv = plane.stop(component, sig=sig)
        time.sleep(DOWN_S)
        plane.start(component, argv)
        wait_until("the API server ready again", kube.is_ready, timeout=90, interval=1)
        # kube-controller-manager and kube-scheduler exit when their lease lapses; a real
        # cluster restarts them, and so does this suite (ServiceAccounts of later tests).
        revived = plane.revive()
    finally:
        creator.join(timeout=150)
    assert not creator.is_alive(), "creating the burst did not finish"
    check = Invariants(kube, namespace, nodes, operator=operator, total=BURST)
    outcome = check.wait_settled(timeout=180)
    print(
        f"{component} stopped with signal {sig} for {DOWN_S:.0f}s with {at_fault} of {BURST} pods"
        f" bound; {len(outcome.bound)} bound at the end; restarted after it: {revived}"
    )
    check.check(
        outcome,
        expect_bound=min(BURST, capacity_in_pods(nodes.specs.values())),
        scheduled=len(outcome.bound),
    )
    assert operator.proc is not None
    assert operator.proc.poll() is None, "the operator survived"


@pytest.mark.timeout(300)
def test_kube_apiserver_stopped_and_started_mid_burst(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    operator: OperatorProcess,
    healthy_control_plane: ControlPlane,
) -> None:
    restart_mid_burst(
        kube, namespace, nodes, operator, healthy_control_plane, "kube-apiserver", signal.SIGTERM
    )


@pytest.mark.timeout(300)
def test_etcd_killed_and_started_mid_burst(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    operator: OperatorProcess,
    healthy_control_plane: ControlPlane,
) -> None:
    restart_mid_burst(
        kube, namespace, nodes, operator, healthy_control_plane, "etcd", signal.SIGKILL
    )


def proxied_kubeconfig(kubeconfig: str, port: int, tmp_path: Path) -> str:
    """The kubeconfig with its server behind the proxy (same host, so TLS still verifies)."""
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    for cluster in doc["clusters"]:
        server = cluster["cluster"]["server"]
        host = server.split("://", 1)[1].rsplit(":", 1)[0]
        cluster["cluster"]["server"] = f"https://{host}:{port}"
    path = tmp_path / "kubeconfig-proxied"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def api_address(kube: Cluster) -> tuple[str, int]:
    doc = yaml.safe_load(Path(kube.kubeconfig).read_text())
    server = doc["clusters"][0]["cluster"]["server"].split("://", 1)[1]
    host, port = server.rsplit(":", 1)
    return host, int(port)


@pytest.mark.timeout(360)
def test_pods_deleted_while_the_watch_is_cut_free_their_room_for_waiting_pods(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    healthy_control_plane: ControlPlane,
    tmp_path: Path,
) -> None:
    plane = healthy_control_plane
    proxy = TcpProxy(*api_address(kube))
    operator = OperatorProcess(
        proxied_kubeconfig(kube.kubeconfig, proxy.port, tmp_path),
        lease_name=f"ft-{secrets.token_hex(4)}",
    )
    try:
        operator.start()
        create_pods(kube, namespace, burst(nodes, "gap", BURST))
        check = Invariants(kube, namespace, nodes, operator=operator, total=BURST)
        before = check.wait_settled(timeout=150)  # 350 bound, 50 waiting
        log_before = operator.log_tail(2_000_000)

        # The gap: the operator hears nothing while pods and nodes change.
        proxy.cut()
        cut_at = time.monotonic()
        freed = sorted(before.bound)[:20]  # 20 x 40m of room the operator cannot see
        gone = sorted(before.pending)[:10]  # waiting pods that stop waiting
        for name in freed + gone:
            kube.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        cordoned = nodes.node_name("edge-0")
        kube.kubectl("cordon", cordoned)
        small = NodeSpec(nodes.node_name("edge-small"), "edge", "200m")  # room for 5
        nodes.add(small)
        nodes.wait_ready([small.name])
        # Nothing seen before the gap can be resumed from: etcd forgets every older revision
        # and the restarted API server's watch cache starts empty (410 Gone on resume).
        revision = plane.compact_etcd()
        plane.restart("kube-apiserver", down_s=1.0)
        wait_until("the API server ready again", kube.is_ready, timeout=90, interval=1)
        plane.revive()
        gap = time.monotonic() - cut_at
        proxy.heal()
        healed_at = time.monotonic()

        check.total = BURST - len(freed) - len(gone)
        # The freed room must serve waiting pods well before a reservation could expire
        # (120 s): a relist forgets the deleted pods at once.
        outcome = check.wait_settled(timeout=90)
        settle = time.monotonic() - healed_at
        print(
            f"gap {gap:.1f}s (etcd compacted at revision {revision}): {len(freed)} bound and "
            f"{len(gone)} waiting pods deleted, {cordoned} cordoned, {small.name} added; settled "
            f"{settle:.1f}s after the gap: {len(outcome.bound)} bound, {len(outcome.pending)} "
            "waiting"
        )
        new_room = sum(1 for n in freed if before.bound[n] != cordoned) + 5
        check.check(outcome, expect_bound=len(before.bound) - len(freed) + new_room)
        assert settle < 60
        scheduled = operator.sample("cloudedge_schedule_attempts_total", result="scheduled")
        assert scheduled == len(outcome.bound) + len(freed), "one count per pod it bound"
        log = operator.log_tail(2_000_000)
        for kind in ("pods", "nodes"):
            line = f"{kind} listed at resourceVersion"
            assert log.count(line) > log_before.count(line), f"{kind} not relisted after the gap"
    finally:
        operator.close()
        proxy.close()
