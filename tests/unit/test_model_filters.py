"""Filters: which nodes a pod may use, the reason each other node fails, and the summary."""

from __future__ import annotations

import numpy as np
import pytest
from model_builders import cloud, edge, pod

from cloudedge import model
from cloudedge.model import filters


def verdict(p: model.Pod, nodes: list[model.Node]) -> model.Evaluation:
    return model.evaluate(p, model.ClusterState(nodes), model.ModelConfig())


@pytest.mark.parametrize(
    ("node", "p", "reason", "unresolvable"),
    [
        pytest.param(cloud(tier=None), pod(), filters.REASON_NO_TIER, True, id="no-tier-label"),
        pytest.param(
            cloud(schedulable=False), pod(), filters.REASON_UNSCHEDULABLE, False, id="cordoned"
        ),
        pytest.param(cloud(ready=False), pod(), filters.REASON_NOT_READY, False, id="not-ready"),
        pytest.param(
            cloud(taints=(model.Taint("gpu", "yes", "NoSchedule"),)),
            pod(),
            filters.REASON_TAINT,
            True,
            id="untolerated-taint",
        ),
        pytest.param(
            cloud(labels={"disk": "hdd"}),
            pod(node_selector={"disk": "ssd"}),
            filters.REASON_AFFINITY,
            True,
            id="node-selector",
        ),
        pytest.param(
            cloud(),
            pod(
                affinity_terms=(
                    model.SelectorTerm(
                        match_fields=(model.SelectorRequirement("metadata.name", "In", ("x",)),)
                    ),
                )
            ),
            filters.REASON_AFFINITY,
            True,
            id="required-affinity",
        ),
        pytest.param(
            cloud(),
            pod(tier=model.Tier.EDGE),
            filters.tier_reason(model.Tier.EDGE),
            True,
            id="wrong-tier",
        ),
        pytest.param(cloud(cpu=100), pod(cpu=200), "Insufficient cpu", True, id="cpu-never"),
        pytest.param(
            cloud(used={"cpu": 7900, "memory": 0, "pods": 0}),
            pod(cpu=200),
            "Insufficient cpu",
            False,
            id="cpu-now",
        ),
        pytest.param(cloud(mem=10), pod(mem=20), "Insufficient memory", True, id="memory"),
        pytest.param(
            cloud(
                allocatable={"cpu": 8000, "memory": 1e9, "pods": 2},
                used={"cpu": 0, "memory": 0, "pods": 2},
            ),
            pod(),
            "Too many pods",
            False,
            id="pods",
        ),
        pytest.param(
            cloud(),
            pod(compute_cost=8000, max_latency_ms=50),
            filters.deadline_reason(50),
            True,
            id="deadline-hopeless",
        ),
        pytest.param(
            edge(cpu=1000, used={"cpu": 800, "memory": 0, "pods": 0}),
            pod(cpu=100, max_latency_ms=50),
            filters.deadline_reason(50),
            False,
            id="deadline-missed-by-queueing",
        ),
    ],
)
def test_each_filter_rejects_with_its_reason(
    node: model.Node, p: model.Pod, reason: str, unresolvable: bool
) -> None:
    ev = verdict(p, [node])
    assert not ev.feasible[0]
    assert reason in ev.result.reason(0)
    assert bool(ev.result.unresolvable[0]) is unresolvable
    assert ev.best() is None


def test_a_matching_toleration_lets_the_pod_on_a_tainted_node() -> None:
    node = cloud(taints=(model.Taint("gpu", "yes", "NoSchedule"),))
    tolerant = pod(tolerations=(model.Toleration("gpu", "Equal", "yes", "NoSchedule"),))
    assert verdict(tolerant, [node]).feasible[0]


def test_prefer_no_schedule_taints_do_not_filter() -> None:
    node = cloud(taints=(model.Taint("soft", "", "PreferNoSchedule"),))
    assert verdict(pod(), [node]).feasible[0]


def test_a_pod_exactly_filling_a_node_fits() -> None:
    assert verdict(pod(cpu=2000), [edge(cpu=2000)]).feasible[0]


def test_a_pod_one_millicore_too_big_does_not_fit() -> None:
    assert not verdict(pod(cpu=2001), [edge(cpu=2000)]).feasible[0]


def test_all_insufficient_resources_are_listed_together() -> None:
    ev = verdict(pod(cpu=9000, mem=2**40), [cloud()])
    assert ev.result.reason(0) == ("Insufficient cpu", "Insufficient memory")


def test_the_summary_counts_reasons_like_kube_scheduler() -> None:
    nodes = [
        edge(f"edge-{k}", cpu=1000, used={"cpu": 800, "memory": 0, "pods": 0}) for k in range(5)
    ]
    nodes += [cloud(f"cloud-{k}", cpu=100) for k in range(3)]
    ev = verdict(pod(cpu=150, max_latency_ms=50), nodes)
    assert ev.failure_summary() == (
        "0/8 nodes are available: 3 Insufficient cpu, 5 node(s) missed the 50ms deadline."
    )


def test_the_summary_counts_available_nodes() -> None:
    ev = verdict(pod(tier=model.Tier.EDGE), [cloud(), edge()])
    assert ev.failure_summary() == (
        "1/2 nodes are available: 1 node(s) were not in the required tier edge."
    )


def test_the_first_failing_filter_is_the_reason() -> None:
    # Not ready and too small: kube-scheduler reports the first plugin that failed.
    ev = verdict(pod(cpu=500), [edge(cpu=100, ready=False)])
    assert ev.result.reason(0) == (filters.REASON_NOT_READY,)


# Named resources: every resource a node offers is an axis, and one it lacks is short there.

GPU = "nvidia.com/gpu"


def gpu_pod(gpus: float = 1, **requests: float) -> model.Pod:
    return model.Pod(name="train", requests={"cpu": 100, "pods": 1, GPU: gpus, **requests})


def test_a_pod_asking_for_a_gpu_goes_only_to_a_node_that_has_one() -> None:
    nodes = [cloud("plain"), cloud("gpu", allocatable={"cpu": 8000, "pods": 110, GPU: 1})]
    ev = verdict(gpu_pod(), nodes)
    assert ev.feasible.tolist() == [False, True]
    assert ev.result.reason(0) == ("Insufficient nvidia.com/gpu",)


def test_a_resource_no_node_offers_is_insufficient_everywhere_and_unresolvable() -> None:
    ev = verdict(gpu_pod(), [cloud("a"), edge("b")])
    assert ev.failure_summary() == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert ev.result.unresolvable.all(), "evicting pods cannot create a GPU"


def test_a_gpu_in_use_is_not_given_twice() -> None:
    node = cloud("gpu", allocatable={"cpu": 8000, "pods": 110, GPU: 1}, used={GPU: 1})
    ev = verdict(gpu_pod(), [node])
    assert ev.result.reason(0) == ("Insufficient nvidia.com/gpu",)
    assert not ev.result.unresolvable[0], "evicting the GPU's user would make room"


def test_a_petabyte_of_ephemeral_storage_fits_nowhere() -> None:
    node = cloud(allocatable={"cpu": 8000, "pods": 110, "ephemeral-storage": 100 * 2**30})
    p = model.Pod(name="big", requests={"cpu": 100, "pods": 1, "ephemeral-storage": 2.0**50})
    assert verdict(p, [node]).result.reason(0) == ("Insufficient ephemeral-storage",)


def test_short_named_resources_are_grouped_in_texts_like_the_core_ones() -> None:
    # More rows than the node-by-node path handles: texts are grouped by short resources.
    with_gpu = {"cpu": 1000, "pods": 110, GPU: 1}
    nodes = [
        edge(f"e{k}", allocatable=with_gpu if k % 2 else {"cpu": 50, "pods": 1}) for k in range(40)
    ]
    ev = verdict(gpu_pod(), nodes)
    texts = ev.result.reason_texts(np.arange(40))
    assert set(texts[0::2]) == {"Insufficient cpu, Insufficient nvidia.com/gpu"}
    assert set(texts[1::2]) == {""}


def test_assign_takes_named_requests_and_leaves_other_axes_alone() -> None:
    state = model.ClusterState([cloud(allocatable={"cpu": 8000, "pods": 110, GPU: 4})])
    state.assign({"cpu": 500, GPU: 2, "pods": 1}, 0)
    assert dict(zip(state.resources, state.used[0].tolist(), strict=True)) == {
        "cpu": 500.0,
        "memory": 0.0,
        "pods": 1.0,
        GPU: 2.0,
    }


# -- a whole batch at once -------------------------------------------------------------------


def _batch_nodes(*, tainted: bool) -> list[model.Node]:
    nodes = [
        cloud("c1", used={"cpu": 7900, "memory": 0, "pods": 0}),
        cloud("c2", schedulable=False),
        cloud("c3", ready=False),
        cloud("c4", labels={"disk": "ssd"}),
        cloud("c5", allocatable={"cpu": 8000, "memory": 1e9, "pods": 2}, used={"pods": 2}),
        cloud("gpu", allocatable={"cpu": 8000, "pods": 110, GPU: 1}),
        cloud("over", used={"cpu": 9000, "memory": 0, "pods": 0}),
        cloud("untiered", tier=None),
        edge("e1", cpu=1000, used={"cpu": 800, "memory": 0, "pods": 0}),
        edge("e2", mem=10),
    ]
    if tainted:
        nodes.append(cloud("tainted", taints=(model.Taint("gpu", "yes", "NoSchedule"),)))
    return nodes


def _batch_pods() -> list[model.Pod]:
    return [
        pod("plain"),
        pod("zero", cpu=0),
        pod("big", cpu=200),
        pod("huge", cpu=9000, mem=2**40),
        pod("mem", mem=20),
        pod("ssd", node_selector={"disk": "ssd"}),
        pod("edge", tier=model.Tier.EDGE),
        pod("deadline", compute_cost=8000, max_latency_ms=50),
        pod("tolerates", tolerations=(model.Toleration("gpu", "Equal", "yes", "NoSchedule"),)),
        gpu_pod(),
        model.Pod(name="disk", requests={"cpu": 100, "pods": 1, "ephemeral-storage": 2.0**50}),
    ]


@pytest.mark.parametrize("tainted", [False, True], ids=["no-taint", "a-hard-taint"])
def test_a_batch_gets_the_verdict_each_pod_gets_alone(tainted: bool) -> None:
    state = model.ClusterState(_batch_nodes(tainted=tainted))
    pods = _batch_pods()
    alone = []
    for p in pods:
        result = filters.static_filters(p, state)
        filters.resource_filter(p, state, result)
        alone.append(result.feasible.tolist())
    assert filters.feasible_many(pods, state).tolist() == alone
    assert any(map(any, alone)), "some pod fits somewhere"
    assert not all(map(all, alone)), "some filter turns some pod away"
