"""A node's labels, taints, conditions or allocatable change: the view updates that node's
columns in place, and every decision reads what a state built from scratch would give."""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import numpy as np
import pytest

from cloudedge import model
from cloudedge.cluster.view import ClusterView

CONFIG = model.ModelConfig()
SITES = ("s1", "s2", "s3")
COLUMNS = (
    "allocatable",
    "usage",
    "headroom",
    "inv_free_cpu",
    "zero_allocatable",
    "inv_allocatable",
    "allocatable_fit",
    "ready",
    "schedulable",
    "hard_tainted",
    "base_code",
    "tier",
    "bandwidth",
    "compute_rate",
    "site_index",
    "resident_work",
    "resident_plain",
)
FLAGS = ("any_base_failure", "any_hard_taint", "any_zero_allocatable")


def node(name: str, rng: random.Random) -> dict[str, Any]:
    labels = {
        "cloudedge.io/tier": rng.choice(("cloud", "edge")),
        "cloudedge.io/site": rng.choice(SITES),
        "cloudedge.io/bandwidth-mbps": str(rng.choice((100, 500))),
        "disk": rng.choice(("ssd", "hdd")),
    }
    return {
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"cloudedge.io/compute-rate": "4000"},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "20"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(uid: str, node_name: str, rng: random.Random) -> dict[str, Any]:
    annotations = {
        "cloudedge.io/compute-cost": str(rng.choice((0, 500, 4000))),
        "cloudedge.io/data-source": rng.choice(SITES),
        "cloudedge.io/data-size-mb": str(rng.choice((0, 5, 50))),
    }
    return {
        "metadata": {
            "uid": uid,
            "name": uid,
            "namespace": "ns",
            "labels": {"app": rng.choice(("cam", "ana"))},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "250m"}}}],
        },
        "status": {"phase": "Running"},
    }


def change(obj: dict[str, Any], rng: random.Random) -> str:
    """One change a kubelet, a controller or an admin makes; returns what it was."""
    kind = rng.choice(("label", "taint", "cordon", "ready", "memory", "cpu", "site"))
    meta, spec, status = obj["metadata"], obj["spec"], obj["status"]
    if kind == "label":
        meta["labels"]["disk"] = rng.choice(("ssd", "hdd", "nvme"))
        meta["labels"]["beta.kubernetes.io/os"] = "linux"
    elif kind == "taint":
        effect = rng.choice(("NoSchedule", "PreferNoSchedule", "NoExecute"))
        spec["taints"] = [] if spec.get("taints") else [{"key": "k", "effect": effect}]
    elif kind == "cordon":
        spec["unschedulable"] = not spec.get("unschedulable", False)
    elif kind == "ready":
        cond = status["conditions"][0]
        cond["status"] = "False" if cond["status"] == "True" else "True"
    elif kind == "memory":
        status["allocatable"]["memory"] = rng.choice(("4Gi", "8Gi", "1Gi"))
    elif kind == "cpu":  # its compute rate is annotated, so only the capacity changes
        status["allocatable"]["cpu"] = rng.choice(("1", "2", "4"))
    else:  # a new place in the network: the state is built again
        meta["labels"]["cloudedge.io/site"] = rng.choice(SITES)
    return kind


def probe(i: int, rng: random.Random) -> model.Pod:
    return model.Pod(
        name=f"probe-{i}",
        namespace="ns",
        uid=f"probe-{i}",
        requests={"cpu": rng.choice((250.0, 1500.0, 3000.0)), "memory": 2.0**30, "pods": 1.0},
        compute_cost=rng.choice((0.0, 2000.0)),
        data_source=rng.choice(SITES),
        data_size_mb=rng.choice((0.0, 20.0)),
        max_latency_ms=rng.choice((None, 900.0)),
        node_selector={"disk": "ssd"} if rng.random() < 0.3 else {},
    )


def assert_same(got: model.ClusterState, want: model.ClusterState) -> None:
    assert got.names == want.names
    # A Node's ``used`` is what the state started from; ``usage`` is kept since.
    assert [dataclasses.replace(n, used={}) for n in got.nodes] == [
        dataclasses.replace(n, used={}) for n in want.nodes
    ]
    for column in COLUMNS:
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column), column)
    for flag in FLAGS:
        assert getattr(got, flag) == getattr(want, flag), flag
    assert got.placed == want.placed
    assert got.label_index == want.label_index
    assert np.array_equal(got.domain_codes("disk")[0], want.domain_codes("disk")[0])


@pytest.mark.parametrize("seed", range(6))
def test_node_changes_leave_the_state_a_rebuild_would_give(seed: int) -> None:
    rng = random.Random(seed)
    view = ClusterView()
    objects = {f"n{k}": node(f"n{k}", rng) for k in range(8)}
    view.replace_nodes(copy.deepcopy(list(objects.values())))
    view.replace_pods([pod(f"p{k}", rng.choice(list(objects)), rng) for k in range(30)])
    in_place = 0
    for step in range(40):
        before = view.state()
        name = rng.choice(list(objects))
        kind = change(objects[name], rng)
        view.upsert_node(copy.deepcopy(objects[name]))
        if step % 3 == 0:  # the binder's reservations ride along
            view.decide(probe(step, rng), CONFIG)
        state = view.state()
        if kind != "site" and state is not before:
            in_place += 1 if state.placed is before.placed else 0
        rebuilt = view._build_state()
        assert_same(state, rebuilt)
        for k in range(4):
            p = probe(1000 + k, rng)
            got, want = model.evaluate(p, state, CONFIG), model.evaluate(p, rebuilt, CONFIG)
            np.testing.assert_array_equal(got.feasible, want.feasible)
            np.testing.assert_allclose(got.scores, want.scores, rtol=1e-12)
            np.testing.assert_array_equal(got.result.code, want.result.code)
            np.testing.assert_array_equal(got.result.unresolvable, want.result.unresolvable)
    assert in_place > 10, "most of these changes must take the in-place path"


def test_a_snapshot_taken_before_a_change_keeps_the_node_as_it_was() -> None:
    rng = random.Random(7)
    view = ClusterView()
    obj = node("a", rng)
    view.replace_nodes([copy.deepcopy(obj)])
    view.replace_pods([])
    snapshot = view.snapshot()
    obj["spec"]["unschedulable"] = True
    obj["status"]["allocatable"]["memory"] = "1Gi"
    view.upsert_node(obj)
    assert bool(snapshot.schedulable[0])
    assert not bool(view.state().schedulable[0])
    assert snapshot.allocatable[0, 1] == 8 * 2.0**30
    assert view.state().allocatable[0, 1] == 2.0**30


def test_a_change_of_place_in_the_network_builds_the_state_again() -> None:
    state = model.ClusterState(
        [model.Node("a", model.Tier.EDGE, "s1", 100.0, 4000.0, {"cpu": 4000.0})]
    )
    for moved in (
        model.Node("a", model.Tier.EDGE, "s2", 100.0, 4000.0, {"cpu": 4000.0}),
        model.Node("a", model.Tier.CLOUD, "s1", 100.0, 4000.0, {"cpu": 4000.0}),
        model.Node("a", model.Tier.EDGE, "s1", 200.0, 4000.0, {"cpu": 4000.0}),
        model.Node("a", model.Tier.EDGE, "s1", 100.0, 2000.0, {"cpu": 4000.0}),
        model.Node("a", model.Tier.EDGE, "s1", 100.0, 4000.0, {"cpu": 4000.0, "x.io/gpu": 1.0}),
        model.Node("b", model.Tier.EDGE, "s1", 100.0, 4000.0, {"cpu": 4000.0}),
    ):
        assert state.with_node(moved) is None, moved
