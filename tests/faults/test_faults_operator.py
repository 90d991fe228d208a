"""Faults of the scheduler process and its neighbours, each during a burst of 300-400 pods.

SIGKILL at random (seeded) points, another client binding our pending pods (the 409 path),
a node turning NotReady / unschedulable / tainted / deleted while pods wait for it, and a
leader stalled past its lease. Every test ends with :class:`faults_support.Invariants`.
"""

from __future__ import annotations

import functools
import random
import secrets
import signal
import threading
import time
from typing import Any

import pytest
from cluster_support import Cluster, wait_until
from control_plane import ControlPlane
from faults_support import (
    Invariants,
    NodeSpec,
    TestNodes,
    burst,
    capacity_in_pods,
    create_pods,
)
from kubernetes.client import ApiException
from operator_support import OperatorProcess, two_replicas

SEED = 20260508
BURST = 400
RETRY_ROUND_S = 25.0
"""Long enough for every parked pod to be retried once after a change (backoff <= 10 s)."""


def has_bound(proc: OperatorProcess, count: int) -> bool:
    return proc.sample("cloudedge_schedule_attempts_total", result="scheduled") >= count


def bound_count(kube: Cluster, namespace: str) -> int:
    return sum(1 for p in kube.pods(namespace) if p.spec.node_name)


@pytest.mark.timeout(300)
def test_sigkilled_five_times_mid_burst_every_pod_that_fits_is_bound_exactly_once(
    kube: Cluster, namespace: str, nodes: TestNodes
) -> None:
    rng = random.Random(SEED)  # the kill points are the same in every run
    lease = f"ft-{secrets.token_hex(4)}"
    pods = burst(nodes, "kill", BURST)
    waves = [pods[k::5] for k in range(5)]  # 80 pods arrive before every kill
    kills: list[tuple[int, int]] = []
    # Without leader election a restarted process binds at once; with it, it would first wait
    # out the dead one's lease (15 s) and most kills would land on an idle process.
    args = ["--no-leader-elect"]
    proc = OperatorProcess(kube.kubeconfig, lease_name=lease, extra_args=args).start()
    try:
        for wave in waves:
            creator = threading.Thread(target=create_pods, args=(kube, namespace, wave))
            creator.start()
            # Killed after a random number of its own binds: always with binds in flight.
            after = rng.randint(5, 60)
            wait_until(
                f"the operator to bind {after} pods",
                functools.partial(has_bound, proc, after),
                timeout=60,
                interval=0.02,
            )
            proc.kill(signal.SIGKILL)
            kills.append((after, bound_count(kube, namespace)))
            creator.join(timeout=60)
            assert not creator.is_alive(), "creating a wave of pods took over 60 s"
            proc.close()
            proc = OperatorProcess(kube.kubeconfig, lease_name=lease, extra_args=args)
            if len(kills) < len(waves):
                proc.start()
        # Binds the killed process had sent have landed by now; nothing else binds our pods.
        time.sleep(1.0)
        bound_before = bound_count(kube, namespace)
        proc.start()
        check = Invariants(kube, namespace, nodes, operator=proc, total=BURST)
        outcome = check.wait_settled(timeout=180, events=False)
        outcome.events = check.stable_events()
        missing = len(outcome.bound) - len(outcome.events)
        print(
            f"kills (after n binds, pods bound then): {kills}; bound before the last start:"
            f" {bound_before}; bound at the end: {len(outcome.bound)}; bound without a"
            f" Scheduled event (lost with a killed process): {missing}"
        )
        check.check(
            outcome,
            expect_bound=min(BURST, capacity_in_pods(nodes.specs.values())),
            scheduled=len(outcome.bound) - bound_before,
            # An event is written after its bind: SIGKILL in between loses it. Only pods the
            # killed processes bound may lack one; the last process's binds all have theirs.
            missing_events_allowed=bound_before,
        )
    finally:
        proc.close()


class RogueBinder:
    """Another client binding our pending pods to its own node, as fast as it can."""

    def __init__(self, kube: Cluster, namespace: str, node: str, *, deadline_s: float) -> None:
        self.kube = kube
        self.namespace = namespace
        self.node = node
        self.deadline = time.monotonic() + deadline_s
        self.won: list[str] = []
        self.lost = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="rogue-binder", daemon=True)

    def run(self) -> None:
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            pending = self.kube.core.list_namespaced_pod(
                self.namespace, field_selector="spec.nodeName=", _request_timeout=10
            ).items
            for pod in sorted(pending, key=lambda p: p.metadata.name)[:20]:
                body: Any = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": pod.metadata.name, "uid": pod.metadata.uid},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
                }
                try:
                    self.kube.core.create_namespaced_binding(
                        self.namespace, body, _preload_content=False, _request_timeout=10
                    )
                    self.won.append(pod.metadata.name)
                except ApiException as err:
                    if err.status != 409:
                        self.errors.append(f"{pod.metadata.name}: HTTP {err.status}")
                    self.lost += 1
            self.stop.wait(0.05)

    def __enter__(self) -> RogueBinder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.mark.timeout(300)
def test_pods_bound_by_another_client_between_decision_and_bind_are_left_alone(
    kube: Cluster, namespace: str, nodes: TestNodes, operator: OperatorProcess
) -> None:
    # The rogue's node has no cloudedge.io/tier: never a candidate of ours, room for everything.
    rogue_node = nodes.node_name("rogue")
    nodes.add(NodeSpec(rogue_node, "", "100", memory="64Gi", pods="500"))
    nodes.wait_ready([rogue_node])
    pods = burst(nodes, "race", BURST)
    with RogueBinder(kube, namespace, rogue_node, deadline_s=120) as rogue:
        # Two halves, so the rogue's list sees pods the operator has not decided yet.
        create_pods(kube, namespace, pods[: BURST // 2])
        create_pods(kube, namespace, pods[BURST // 2 :])
        check = Invariants(
            kube, namespace, nodes, operator=operator, total=BURST, foreign_nodes=[rogue_node]
        )
        outcome = check.wait_settled(timeout=180)
    ours = {n for n, node in outcome.bound.items() if node != rogue_node}
    conflicts = operator.sample("cloudedge_binding_conflicts_total")
    print(
        f"rogue bound {len(rogue.won)} pods and lost {rogue.lost} races; the operator bound"
        f" {len(ours)} and counted {conflicts:.0f} conflicts (409)"
    )
    assert not rogue.errors, f"the other client's Bindings failed otherwise: {rogue.errors}"
    assert rogue.won, "the other client bound nothing: no race happened"
    assert set(rogue.won) == {n for n, node in outcome.bound.items() if node == rogue_node}
    ours_room = capacity_in_pods(s for s in nodes.specs.values() if s.name != rogue_node)
    check.check(
        outcome,
        expect_bound=min(BURST, len(rogue.won) + ours_room),
        scheduled=len(ours),
    )
    assert operator.sample("cloudedge_schedule_attempts_total", result="error") == 0
    assert operator.proc is not None
    assert operator.proc.poll() is None


def set_ready(kube: Cluster, node: str, ready: bool) -> None:
    status = "True" if ready else "False"
    reason = "KubeletReady" if ready else "FaultTest"
    kube.core.patch_node_status(
        node,
        {"status": {"conditions": [{"type": "Ready", "status": status, "reason": reason}]}},
    )


def pods_on(kube: Cluster, namespace: str, node: str) -> list[str]:
    return sorted(p.metadata.name for p in kube.pods(namespace) if p.spec.node_name == node)


def delete_pods(kube: Cluster, namespace: str, names: list[str]) -> None:
    for name in names:
        kube.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    wait_until(
        f"{len(names)} pods deleted",
        lambda: not set(names) & {p.metadata.name for p in kube.pods(namespace)},
        timeout=60,
    )


@pytest.mark.timeout(300)
def test_a_node_that_turns_not_ready_cordoned_tainted_or_deleted_gets_no_queued_pod(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    operator: OperatorProcess,
    healthy_control_plane: ControlPlane,
) -> None:
    plane = healthy_control_plane
    pool = {"pool": f"p-{nodes.token}"}
    target = nodes.node_name("target")
    nodes.add(NodeSpec(target, "edge", "2"))
    kube.core.patch_node(target, {"metadata": {"labels": pool}})
    nodes.wait_ready([target])
    total = 300
    create_pods(kube, namespace, burst(nodes, "q", total, node_selector=pool))
    check = Invariants(kube, namespace, nodes, operator=operator, total=total)
    first = check.wait_settled(timeout=120)
    assert len(first.bound) == 50
    assert set(first.bound.values()) == {target}
    kept_waiting = first.pending

    def attempts() -> float:
        return operator.sample("cloudedge_schedule_attempts_total", result="unschedulable")

    def no_new_binds(phase: str, expected: list[str], before: float) -> None:
        """Nothing lands on the node while the waiting pods are retried (a round at least).

        ``before``: the attempts counted before the change that starts the phase. The change
        itself wakes the parked pods, so a count taken after it (a loaded machine takes a
        while to delete pods) missed the round it had started.
        """
        started = time.monotonic()
        # Parked pods come back after their backoff (at most 10 s) once the cluster changed.
        for _ in range(int(RETRY_ROUND_S / 0.5) + 1):
            assert pods_on(kube, namespace, target) == expected, f"a pod was bound {phase}"
            tried = attempts() - before
            if tried >= len(kept_waiting) and time.monotonic() - started >= 3:
                break
            time.sleep(0.5)
        print(f"{phase}: {tried:.0f} unschedulable attempts, none bound")
        assert tried >= len(kept_waiting), f"the waiting pods were not retried {phase}"

    # kwok-controller keeps every node Ready; paused, it lets the Ready condition be ours.
    plane.pause("kwok-controller")
    try:
        before = attempts()
        set_ready(kube, target, False)
        freed = pods_on(kube, namespace, target)[:25]
        delete_pods(kube, namespace, freed)  # room on the node, which is not Ready
        kept = pods_on(kube, namespace, target)
        no_new_binds("while NotReady", kept, before)

        before = attempts()
        kube.kubectl("cordon", target)
        set_ready(kube, target, True)
        no_new_binds("while cordoned", kept, before)

        # Tainted before uncordoned: no moment without either.
        before = attempts()
        kube.kubectl("taint", "node", target, "fault-test/broken=yes:NoSchedule")
        kube.kubectl("uncordon", target)
        no_new_binds("while tainted", kept, before)

        before = attempts()
        delete_pods(kube, namespace, kept)  # drained, then deleted
        nodes.delete(target)
        no_new_binds("after deletion", [], before)
    finally:
        plane.resume("kwok-controller")

    # A new node of the pool: the waiting pods take it, and only as many as fit.
    spare = nodes.node_name("spare")
    nodes.add(NodeSpec(spare, "edge", "2"))
    kube.core.patch_node(spare, {"metadata": {"labels": pool}})
    check.total = total - 50
    outcome = check.wait_settled(timeout=120)
    assert set(outcome.bound.values()) == {spare}
    check.check(outcome, expect_bound=50, scheduled=100)


@pytest.mark.timeout(300)
def test_a_leader_stalled_past_its_lease_binds_nothing_once_resumed(
    kube: Cluster, namespace: str, nodes: TestNodes
) -> None:
    with two_replicas(kube.kubeconfig, lease_prefix="ft") as (leader, other):
        pods = burst(nodes, "stall", BURST)
        creator = threading.Thread(target=create_pods, args=(kube, namespace, pods[:200]))
        creator.start()
        wait_until(
            "the leader to bind 60 pods",
            lambda: leader.sample("cloudedge_schedule_attempts_total", result="scheduled") >= 60,
            timeout=60,
            interval=0.2,
        )
        before_stall = leader.sample("cloudedge_schedule_attempts_total", result="scheduled")
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGSTOP)
        stalled_at = time.monotonic()
        try:
            creator.join(timeout=60)
            create_pods(kube, namespace, pods[200:])
            wait_until("the other replica to take over", other.is_leader, timeout=40)
            takeover = time.monotonic() - stalled_at
            wait_until(
                "the new leader to bind",
                lambda: other.sample("cloudedge_schedule_attempts_total", result="scheduled") > 0,
                timeout=30,
            )
        finally:
            leader.proc.send_signal(signal.SIGCONT)
        stall = time.monotonic() - stalled_at
        # What the stalled process had sent before the stall completes on resume; measure after.
        time.sleep(2.0)
        after_resume = leader.sample("cloudedge_schedule_attempts_total", result="scheduled")
        assert not leader.is_leader(), "the resumed replica still says it leads"
        check = Invariants(kube, namespace, nodes, operator=other, total=BURST)
        outcome = check.wait_settled(timeout=180)
        final = leader.sample("cloudedge_schedule_attempts_total", result="scheduled")
        print(
            f"stalled {stall:.1f}s, takeover after {takeover:.1f}s; stalled replica scheduled "
            f"{before_stall:.0f} before, {after_resume:.0f} after resume, {final:.0f} at the end"
        )
        assert final == after_resume, "the resumed replica bound pods after losing its lease"
        assert after_resume - before_stall <= 16, "more completions than binds in flight"
        by_other = other.sample("cloudedge_schedule_attempts_total", result="scheduled")
        check.check(outcome, expect_bound=min(BURST, capacity_in_pods(nodes.specs.values())))
        assert final + by_other == len(outcome.bound), "each bound pod counted by one replica"
        assert leader.sample("cloudedge_pending_pods") == other.sample("cloudedge_pending_pods")
