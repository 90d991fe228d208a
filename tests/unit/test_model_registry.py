"""The term registry: one place that lists the terms, read by weights, scoring, explain,
events, the configuration file and the chart schema. A toy term registered in a test shows
that adding a term touches its own module only."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

import numpy as np
import pytest
from model_builders import cloud, edge, pod

from cloudedge import errors, explain, model
from cloudedge.inputs import config as config_mod
from cloudedge.model import registry, state, terms, types

SCHEMA = pathlib.Path(__file__).resolve().parents[2] / (
    "charts/cloud-edge-scheduler/values.schema.json"
)


class EdgeBonus(terms.Term):
    """A toy fraction term: edge nodes are worth 1, cloud nodes 0."""

    name = "edge-bonus"
    kind = terms.FRACTION

    def compute(
        self,
        pod: types.Pod,
        cluster: state.ClusterState,
        *,
        feasible: state.BoolArray | None = None,
    ) -> state.FloatArray:
        return (cluster.tier == state.TIER_EDGE).astype(np.float64)


class StartupDelay(terms.Term):
    """A toy time term: 2 s on cloud nodes (an image pull, say), 0 on edge nodes."""

    name = "startup"
    kind = terms.TIME

    def compute(
        self,
        pod: types.Pod,
        cluster: state.ClusterState,
        *,
        feasible: state.BoolArray | None = None,
    ) -> state.FloatArray:
        return np.where(cluster.tier == state.TIER_EDGE, 0.0, 2.0)


@pytest.fixture
def toy_terms() -> Iterator[None]:
    terms.register(summary="toy: edge nodes preferred", default=5.0)(EdgeBonus)
    terms.register(summary="toy: slow start in the cloud", default=1.0)(StartupDelay)
    try:
        yield
    finally:
        terms.unregister(EdgeBonus.name)
        terms.unregister(StartupDelay.name)


def test_the_seed_terms_come_first_then_kubes_preferences() -> None:
    assert registry.names() == (
        "transfer",
        "waiting",
        "processing",
        "capacity",
        "congestion",
        "node-affinity",
        "taint-toleration",
        "inter-pod-affinity",
        "topology-spread",
    )
    kinds = {e.name: e.kind for e in registry.entries()}
    assert [n for n, k in kinds.items() if k is registry.Kind.TIME] == [
        "transfer",
        "waiting",
        "processing",
    ]
    assert [n for n, k in kinds.items() if k is registry.Kind.COST] == ["congestion"]


def test_preference_weights_keep_kubes_plugin_ratios() -> None:
    weights = types.default_weights(types.Workload.BATCH)
    unit = weights["node-affinity"] / 2
    assert weights["taint-toleration"] == pytest.approx(3 * unit)
    assert weights["inter-pod-affinity"] == pytest.approx(2 * unit)
    assert weights["topology-spread"] == pytest.approx(2 * unit)


def test_a_registered_toy_term_changes_the_decision(toy_terms: None) -> None:
    # A cloud node and an edge node, nothing else to tell them apart for an empty pod but the
    # toy terms: 2 s of startup and no bonus in the cloud.
    cluster = model.ClusterState([cloud(), edge()])
    ev = model.evaluate(pod(), cluster, model.ModelConfig())
    assert [t.name for t in ev.terms][-2:] == ["edge-bonus", "startup"]
    assert ev.values["startup"].tolist() == [2.0, 0.0]
    assert ev.goodness["edge-bonus"].tolist() == [0.0, 1.0]
    # The time term joins the ECT; the deadline filter reads it.
    assert ev.ect[0] >= 2.0
    assert ev.best() == 1
    late = model.evaluate(pod(max_latency_ms=1000), cluster, model.ModelConfig())
    assert not late.feasible[0]


def test_a_registered_toy_term_is_a_weight_the_configuration_accepts(toy_terms: None) -> None:
    cfg = config_mod.parse_config({"profiles": {"batch": {"edge-bonus": 0, "startup": 3}}})
    batch = cfg.weights(types.Workload.BATCH)
    assert (batch["edge-bonus"], batch["startup"]) == (0.0, 3.0)
    assert types.default_weights(types.Workload.BATCH)["edge-bonus"] == 5.0


def test_a_registered_toy_term_is_in_events_and_explain(toy_terms: None) -> None:
    cluster = model.ClusterState([cloud(), edge()])
    ev = model.evaluate(pod(), cluster, model.ModelConfig())
    assert "edge-bonus=1.000" in ev.node_terms(1).describe()
    assert "startup=2s" in ev.node_terms(0).describe()
    header = explain.format_evaluation(ev)[2]
    assert "EDGE-BONUS" in header
    assert "STARTUP" in header


def test_a_registered_toy_term_is_in_the_chart_schema(toy_terms: None) -> None:
    profiles = config_mod.profiles_schema()["properties"]
    assert set(profiles["batch"]["properties"]) >= {"edge-bonus", "startup"}


def test_a_weight_for_an_unknown_term_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown term 'latency': the terms are transfer, "):
        types.Weights({"latency": 1.0})
    with pytest.raises(errors.ConfigError, match=r"profiles\.batch\.latency.*one of transfer"):
        config_mod.parse_config({"profiles": {"batch": {"latency": 1}}})


def test_a_term_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        terms.register(summary="again")(terms.TransferTime)


def test_removing_a_term_forgets_its_weights(toy_terms: None) -> None:
    assert "startup" in types.default_weights(types.Workload.BATCH)
    terms.unregister("startup")
    try:
        assert "startup" not in types.default_weights(types.Workload.BATCH)
    finally:
        terms.register(summary="toy: slow start in the cloud", default=1.0)(StartupDelay)


def test_the_committed_chart_schema_is_generated_from_the_registry() -> None:
    committed = SCHEMA.read_text(encoding="utf-8")
    wanted = json.dumps(config_mod.with_profiles_schema(json.loads(committed)), indent=2) + "\n"
    assert committed == wanted, "charts/.../values.schema.json is stale: run make chart-schema"
    profiles = json.loads(committed)["properties"]["config"]["properties"]["profiles"]
    for workload in types.Workload:
        assert tuple(profiles["properties"][workload.value]["properties"]) == registry.names()


def test_the_committed_chart_values_carry_every_terms_built_in_weight() -> None:
    values = SCHEMA.with_name("values.yaml").read_text(encoding="utf-8")
    assert values == config_mod.with_profiles_values(values), "stale: run make chart-schema"


def test_the_terms_kube_scheduler_scores_itself_are_the_preferences() -> None:
    assert model.kube_scored_terms() == (
        "node-affinity",
        "taint-toleration",
        "inter-pod-affinity",
        "topology-spread",
    )


def test_without_terms_zeroes_them_but_keeps_a_profile_that_weighs_only_them() -> None:
    only_prefs = types.Weights({"node-affinity": 1.0})
    cfg = model.ModelConfig(profiles={types.Workload.BATCH: only_prefs})
    out = cfg.without_terms(model.kube_scored_terms())
    assert out.weights(types.Workload.BATCH) == only_prefs
    latency = out.weights(types.Workload.LATENCY_SENSITIVE)
    assert latency["node-affinity"] == 0.0
    assert (
        latency["transfer"] == types.default_weights(types.Workload.LATENCY_SENSITIVE)["transfer"]
    )
