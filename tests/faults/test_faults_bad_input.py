"""Bad input on the live path: 10 kB annotation values, and NetworkTopology objects that the CRD
schema rejects, or that it accepts and the scheduler must refuse (keeping the last good one) or
warn about. Every key against every kind of bad value is in tests/unit/test_inputs_hostile.py.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
import yaml
from cluster_support import Cluster, wait_until
from faults_support import SCHEDULER, TestNodes
from operator_support import OperatorProcess

BIG = "9" * 10_240  # 10 kB, all digits: a "number" far too long to be one
POD_KEYS = {
    "cloudedge.io/workload": "x" * 10_240,
    "cloudedge.io/compute-cost": BIG,
    "cloudedge.io/data-source": "a" * 10_240,
    "cloudedge.io/data-size-mb": BIG,
    "cloudedge.io/max-latency-ms": BIG,
    "cloudedge.io/tier": "e" * 10_240,
}
MAX_EVENT_MESSAGE = 1024


def warnings_for(kube: Cluster, namespace: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in kube.core.list_namespaced_event(namespace).items:
        if e.reason == "FailedScheduling" and (e.source and e.source.component) == SCHEDULER:
            out.setdefault(e.involved_object.name, []).append(e.message or "")
    return out


def all_in(got: dict[str, list[str]], names: dict[str, str]) -> dict[str, list[str]] | None:
    return got if set(names) <= set(got) else None


@pytest.mark.timeout(180)
def test_10kb_annotation_values_get_a_truncated_warning_and_the_operator_carries_on(
    kube: Cluster, namespace: str, nodes: TestNodes, operator: OperatorProcess
) -> None:
    names = {}
    for k, (key, value) in enumerate(POD_KEYS.items()):
        names[f"big-{k}"] = key
        kube.core.create_namespaced_pod(namespace, nodes.pod(f"big-{k}", annotations={key: value}))
    # A node whose compute-rate annotation is 10 kB: not a candidate, reported, not fatal.
    bad_node = nodes.node_name("edge-0")
    kube.core.patch_node(
        bad_node, {"metadata": {"annotations": {"cloudedge.io/compute-rate": BIG}}}
    )
    kube.core.create_namespaced_pod(namespace, nodes.pod("good"))
    node = wait_until(
        "the good pod bound",
        lambda: kube.core.read_namespaced_pod("good", namespace).spec.node_name,
        timeout=60,
    )
    assert node != bad_node
    got = wait_until(
        "a warning for every 10 kB annotation",
        lambda: all_in(warnings_for(kube, namespace), names),
        timeout=60,
    )
    for pod, key in names.items():
        message = got[pod][0]
        assert key in message, message
        assert "..." in message, f"the 10 kB value is not cut: {message[:200]}"
        assert len(message) < MAX_EVENT_MESSAGE, len(message)
        assert kube.core.read_namespaced_pod(pod, namespace).spec.node_name is None
    assert operator.proc is not None
    assert operator.proc.poll() is None
    assert operator.sample("cloudedge_schedule_attempts_total", result="invalid") >= len(names)
    log = operator.log_tail(10_000_000)
    assert len(log) < 2_000_000, "the log repeats 10 kB values"
    assert BIG not in log


def topology(links: list[dict[str, object]], *, sites: list[dict[str, str]] | None = None) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "cloudedge.io/v1alpha1",
            "kind": "NetworkTopology",
            "metadata": {"name": "default"},
            "spec": {"links": links, "sites": sites or []},
        }
    )


@pytest.fixture
def clean_topology(kube: Cluster) -> Iterator[None]:
    kube.kubectl("delete", "networktopologies.cloudedge.io", "--all", "--ignore-not-found")
    yield
    kube.kubectl("delete", "networktopologies.cloudedge.io", "--all", "--ignore-not-found")


@pytest.mark.parametrize(
    ("link", "complaint"),
    [
        pytest.param(
            {"from": "a", "to": "b", "latencyMs": -5},
            "should be greater than or equal to 0",
            id="negative-latency",
        ),
        pytest.param(
            {"from": "a", "to": "a", "latencyMs": 5},
            "a link joins two different sites",
            id="from-equals-to",
        ),
        pytest.param(
            {"from": "A_1", "to": "b", "latencyMs": 5}, "spec.links[0].from", id="not-a-dns-label"
        ),
        pytest.param(
            {"from": "a", "to": "b", "latencyMs": 5, "bandwidthMbps": 0},
            "bandwidthMbps",
            id="zero-bandwidth",
        ),
    ],
)
def test_the_crd_schema_rejects_what_a_schema_can(
    kube: Cluster, clean_topology: None, link: dict[str, object], complaint: str
) -> None:
    out = kube.kubectl("apply", "-f", "-", stdin=topology([link]), check=False)
    assert out.returncode != 0, out.stdout
    assert complaint in out.stderr, out.stderr


TRANSFER = re.compile(r"transfer=([0-9.e+-]+)s")


def transfer_of(kube: Cluster, namespace: str, nodes: TestNodes, name: str) -> float:
    """Bind a pod whose data is on edge-0 to edge-1 and read the transfer time it was given."""
    source, target = nodes.node_name("edge-0"), nodes.node_name("edge-1")
    pod = nodes.pod(
        name,
        annotations={"cloudedge.io/data-source": source, "cloudedge.io/data-size-mb": "0.001"},
        node_selector={"kubernetes.io/hostname": target},
    )
    kube.core.create_namespaced_pod(namespace, pod)

    def scheduled() -> str | None:
        for e in kube.core.list_namespaced_event(namespace).items:
            if e.reason == "Scheduled" and e.involved_object.name == name:
                return str(e.message)
        return None

    message = wait_until(f"{name} scheduled", scheduled, timeout=60)
    found = TRANSFER.search(message)
    assert found, message
    return float(found.group(1))


def invalid_topology_events(kube: Cluster) -> dict[str, str]:
    """Our InvalidTopology events (they live in ``default``), by event name."""
    return {
        str(e.metadata.name): str(e.message)
        for e in kube.core.list_namespaced_event("default").items
        if e.reason == "InvalidTopology" and e.involved_object.kind == "NetworkTopology"
    }


def next_invalid_topology_event(kube: Cluster, seen: dict[str, str], what: str) -> str:
    """The message of an InvalidTopology event that is not in ``seen``."""

    def new() -> str | None:
        fresh = [m for n, m in invalid_topology_events(kube).items() if n not in seen]
        return fresh[0] if fresh else None

    return wait_until(f"an InvalidTopology event for {what}", new, timeout=60)


@pytest.mark.timeout(240)
def test_a_topology_the_scheduler_refuses_is_reported_and_the_last_good_one_stays(
    kube: Cluster,
    namespace: str,
    nodes: TestNodes,
    operator: OperatorProcess,
    clean_topology: None,
) -> None:
    a, b = nodes.node_name("edge-0"), nodes.node_name("edge-1")
    kube.apply(topology([{"from": a, "to": b, "latencyMs": 123}]))
    wait_until(
        "the operator to use the topology",
        lambda: 0.123 <= transfer_of(kube, namespace, nodes, f"t-{secrets.token_hex(3)}") < 0.125,
        timeout=60,
        interval=2,
    )

    # Accepted by the schema, refused by the scheduler: the same pair twice, two latencies.
    seen = invalid_topology_events(kube)
    kube.apply(
        topology(
            [
                {"from": a, "to": b, "latencyMs": 123},
                {"from": b, "to": a, "latencyMs": 456},
            ]
        )
    )
    message = next_invalid_topology_event(kube, seen, "the contradiction")
    assert "links are symmetric" in message, message
    assert "last valid topology stays in force" in message
    assert 0.123 <= transfer_of(kube, namespace, nodes, "after-contradiction") < 0.125

    # A site with two tiers: refused too.
    seen = invalid_topology_events(kube)
    kube.apply(
        topology(
            [{"from": a, "to": b, "latencyMs": 123}],
            sites=[{"name": "cam-1", "tier": "edge"}, {"name": "cam-1", "tier": "cloud"}],
        )
    )
    message = next_invalid_topology_event(kube, seen, "the two tiers")
    assert "one tier per site" in message, message
    assert 0.123 <= transfer_of(kube, namespace, nodes, "after-two-tiers") < 0.125

    # Links to sites nothing declares: reported, and the rest of the topology applies.
    seen = invalid_topology_events(kube)
    kube.apply(
        topology(
            [
                {"from": a, "to": b, "latencyMs": 77},
                {"from": a, "to": "nowhere-site", "latencyMs": 1},
            ]
        )
    )
    message = next_invalid_topology_event(kube, seen, "the unknown site")
    assert "nowhere-site" in message, message
    assert "applied" in message, message
    assert 0.077 <= transfer_of(kube, namespace, nodes, "after-unknown-site") < 0.079
    assert operator.proc is not None
    assert operator.proc.poll() is None
