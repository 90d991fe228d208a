"""Side by side with the real kube-scheduler: our binder never binds where kube-scheduler's
filters would refuse, and leaves nothing pending that kube-scheduler would place.

Hypothesis generates, from a seed, nodes and 200 pods with the constraints the binder honours
(named resources, GPUs, ephemeral storage, host ports, node selectors, taints, required pod
affinity and anti-affinity, DoNotSchedule topology spread). Each seed runs in three steps:

1. our binder places the pods in a node group of their own (namespace A), until it is idle;
2. safety: the twin of every pod we bound goes to the cluster's kube-scheduler in namespace B,
   pinned to the twin of our node in a twin node group; every one must be bound there (a twin
   left pending is a node kube-scheduler's filters refuse, with its reason);
3. liveness: the twin of every pod we left pending goes to kube-scheduler unpinned; none may
   be bound (kube-scheduler would have placed what we left pending).

Reproduce a failure with its seed: ``pytest tests/e2e/test_differential.py -k 'seed-N'``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from cluster_support import Cluster, node_ready, scratch_namespace, wait_until
from differential_support import Scenario, node_object, pod_object, scenarios
from hypothesis import HealthCheck, Phase, given, seed, settings
from operator_support import OperatorProcess

from cloudedge import SCHEDULER_NAME

DEFAULT_SCHEDULER = "default-scheduler"
NODES, PODS = 10, 200
SEEDS = (1, 2, 3)
QUIET_S = 12.0
"""A placement is final once nothing changed for this long: longer than the longest backoff
between retries of an unschedulable pod after a cluster change, ours and kube-scheduler's
(10 s each)."""


def scenario_of(number: int) -> Scenario:
    """The scenario of seed ``number``: the last of three Hypothesis examples (the first is
    the minimal one, every pod alike), the same on every run."""
    drawn: list[Scenario] = []

    @seed(number)
    @settings(
        max_examples=3,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(scenarios(nodes=NODES, pods=PODS))
    def draw(scenario: Scenario) -> None:
        drawn.append(scenario)

    draw()
    return drawn[-1]


@pytest.fixture
def operator(kube: Cluster) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(kube.kubeconfig, lease_name=f"e2e-{secrets.token_hex(4)}")
    proc.start()
    yield proc
    proc.close()


@pytest.fixture
def twin_namespace(kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    with scratch_namespace(kube, request.node.name, prefix="twin", label="cloudedge.io/e2e") as n:
        yield n


def node_of(kube: Cluster, namespace: str) -> dict[str, str | None]:
    return {
        p.metadata.name: p.spec.node_name for p in kube.core.list_namespaced_pod(namespace).items
    }


def failed_messages(kube: Cluster, namespace: str, component: str) -> dict[str, str]:
    """Pod name -> its newest FailedScheduling message from ``component``."""
    out: dict[str, tuple[str, str]] = {}
    for e in kube.core.list_namespaced_event(namespace).items:
        # kube-scheduler writes events.k8s.io events: their v1 view names it only in
        # reportingComponent.
        source = (e.source and e.source.component) or e.reporting_component
        if e.reason != "FailedScheduling" or source != component:
            continue
        stamp = str(e.last_timestamp or e.event_time or "")
        name = e.involved_object.name
        if name not in out or stamp >= out[name][0]:
            out[name] = (stamp, e.message or "")
    return {name: message for name, (_, message) in out.items()}


def settle(kube: Cluster, namespace: str, component: str, names: set[str]) -> dict[str, str | None]:
    """Wait until each pod of ``names`` is bound or refused by ``component``, and nothing has
    changed for QUIET_S; return where each is."""
    last: dict[str, str | None] = {}
    changed = time.monotonic()

    def quiet() -> dict[str, str | None] | None:
        nonlocal last, changed
        now = {k: v for k, v in node_of(kube, namespace).items() if k in names}
        if now != last:
            last, changed = now, time.monotonic()
            return None
        refused = failed_messages(kube, namespace, component)
        undecided = [n for n in names if not now.get(n) and n not in refused]
        if undecided or time.monotonic() - changed < QUIET_S:
            return None
        return now

    return wait_until(f"{component} to settle in {namespace}", quiet, timeout=240, interval=1)


@pytest.mark.parametrize("number", SEEDS, ids=[f"seed-{n}" for n in SEEDS])
def test_the_binder_agrees_with_kube_scheduler_on_generated_pods(
    kube: Cluster,
    operator: OperatorProcess,
    namespace: str,
    twin_namespace: str,
    number: int,
) -> None:
    scenario = scenario_of(number)
    tag = secrets.token_hex(3)
    ours, theirs = f"d{number}a{tag}", f"d{number}b{tag}"
    made: dict[str, int] = {}  # node -> its own taints
    try:
        for spec in scenario.nodes:
            for group in (ours, theirs):
                body = node_object(spec, group=group)
                kube.core.create_node(body)
                made[body["metadata"]["name"]] = len(body.get("spec", {}).get("taints", []))
        wait_until(
            "the scenario's nodes Ready and untainted by the lifecycle controller",
            lambda: all(node_ready(kube, name, taints=own) for name, own in made.items()),
            timeout=90,
        )
        run_scenario(kube, scenario, namespace, twin_namespace, ours, theirs, number)
    finally:
        for name in made:
            kube.kubectl("delete", "node", name, "--ignore-not-found", "--wait=false")


def run_scenario(
    kube: Cluster,
    scenario: Scenario,
    ns_ours: str,
    ns_theirs: str,
    ours: str,
    theirs: str,
    number: int,
) -> None:
    specs = {p["metadata"]["name"]: p for p in scenario.pods}
    for spec in scenario.pods:
        kube.core.create_namespaced_pod(
            ns_ours, pod_object(spec, group=ours, scheduler=SCHEDULER_NAME)
        )
    placed = settle(kube, ns_ours, SCHEDULER_NAME, set(specs))
    bound = {name: node for name, node in placed.items() if node}
    pending = sorted(name for name, node in placed.items() if not node)
    assert bound, f"seed {number}: our binder bound nothing"

    # Safety: kube-scheduler accepts each of our nodes for the twin of the pod we put there.
    for name in sorted(bound):
        twin_node = str(bound[name]).replace(ours, theirs, 1)
        kube.core.create_namespaced_pod(
            ns_theirs,
            pod_object(specs[name], group=theirs, scheduler=DEFAULT_SCHEDULER, pin=twin_node),
        )
    twins = settle(kube, ns_theirs, DEFAULT_SCHEDULER, set(bound))
    refused = failed_messages(kube, ns_theirs, DEFAULT_SCHEDULER)
    breaches = {
        name: f"bound to {bound[name]}; kube-scheduler: {refused.get(name, '?')}"
        for name, node in twins.items()
        if not node
    }
    assert not breaches, f"seed {number}: bound where kube-scheduler refuses: {breaches}"

    # Liveness: kube-scheduler places none of the pods we left pending.
    ours_said = failed_messages(kube, ns_ours, SCHEDULER_NAME)
    for name in pending:
        kube.core.create_namespaced_pod(
            ns_theirs, pod_object(specs[name], group=theirs, scheduler=DEFAULT_SCHEDULER)
        )
    leftovers = settle(kube, ns_theirs, DEFAULT_SCHEDULER, set(pending))
    missed = {
        name: f"kube-scheduler bound it to {node}; we said: {ours_said.get(name, '?')}"
        for name, node in leftovers.items()
        if node
    }
    assert not missed, f"seed {number}: left pending what kube-scheduler places: {missed}"
    _report(number, len(bound), len(pending))


def _report(number: int, bound: int, pending: int) -> None:
    # Shown with -rA / on failure: how much of the scenario each seed exercised.
    print(f"seed {number}: {bound} bound by both, {pending} pending for both")
