"""The scheduler configuration file: defaults, partial overrides, and errors naming the key."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from cloudedge import errors
from cloudedge.inputs import load_config, parse_config
from cloudedge.model import registry, types

BATCH = types.Workload.BATCH
LATENCY = types.Workload.LATENCY_SENSITIVE


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="no-configuration"),
        pytest.param({}, id="empty-mapping"),
        pytest.param(
            {"apiVersion": "cloudedge.io/v1alpha1", "kind": "SchedulerConfiguration"},
            id="header-only",
        ),
        pytest.param({"profiles": None}, id="null-profiles"),
        pytest.param({"profiles": {}}, id="empty-profiles"),
    ],
)
def test_configuration_without_settings_is_the_documented_defaults(raw: Any) -> None:
    config = parse_config(raw)

    assert config == types.ModelConfig()
    assert config.bandwidth_model is types.BandwidthModel.BOTTLENECK
    assert config.congestion_model is types.CongestionModel.BOTH
    assert config.default_service_seconds == 0.1
    assert config.max_utilization == 0.99
    assert dict(config.profiles) == types.default_profiles()


def test_every_documented_key_is_read() -> None:
    raw = {
        "apiVersion": "cloudedge.io/v1alpha1",
        "kind": "SchedulerConfiguration",
        "bandwidthModel": "seed-sum",
        "congestionModel": "queueing",
        "defaultServiceSeconds": 0.25,
        "maxUtilization": 0.9,
        "profiles": {
            "latency-sensitive": {"transfer": 0.5, "waiting": 0.3, "processing": 0.2, "capacity": 0}
        },
    }

    config = parse_config(raw)

    assert config.bandwidth_model is types.BandwidthModel.SEED_SUM
    assert config.congestion_model is types.CongestionModel.QUEUEING
    assert config.default_service_seconds == 0.25
    assert config.max_utilization == 0.9
    assert config.weights(LATENCY) == types.default_weights(LATENCY).with_(
        {"transfer": 0.5, "waiting": 0.3, "processing": 0.2, "capacity": 0.0}
    )


def test_partial_profile_override_keeps_the_other_weights_and_profiles() -> None:
    config = parse_config({"profiles": {"batch": {"capacity": 0.8}}})

    assert config.weights(BATCH) == types.default_weights(BATCH).with_({"capacity": 0.8})
    for workload in types.Workload:
        if workload is not BATCH:
            assert config.weights(workload) == types.default_weights(workload)


def test_integer_weights_are_accepted_as_numbers() -> None:
    config = parse_config({"profiles": {"batch": {"transfer": 1, "capacity": 0}}})

    assert config.weights(BATCH)["transfer"] == 1.0
    assert config.weights(BATCH)["capacity"] == 0.0


def test_a_weight_of_zero_is_allowed_while_others_are_not() -> None:
    weights = {"transfer": 1, "waiting": 0, "processing": 0, "capacity": 0}

    got = parse_config({"profiles": {"batch": weights}}).weights(BATCH)

    assert [got[name] for name in weights] == [1.0, 0.0, 0.0, 0.0]


# Bad configuration: one case per key and kind of mistake.

ALL_WEIGHTS = (
    "a registered term: one of transfer, waiting, processing, capacity, congestion, node-affinity"
)


@pytest.mark.parametrize(
    ("raw", "key", "allowed"),
    [
        pytest.param({"weights": {}}, "weights", "one of apiVersion", id="unknown-top-level-key"),
        pytest.param(
            {"bandwithModel": "seed-sum"},
            "bandwithModel",
            "bandwidthModel",
            id="misspelt-top-level-key",
        ),
        pytest.param(
            {"profiles": {"realtime": {"transfer": 1}}},
            "profiles",
            "one of latency-sensitive",
            id="unknown-profile-name",
        ),
        pytest.param(
            {"profiles": {"batch": {"latency": 1}}},
            "profiles.batch.latency",
            ALL_WEIGHTS,
            id="unknown-weight-key",
        ),
        pytest.param(
            {"profiles": {"batch": {"transfer": -0.1}}},
            "profiles.batch",
            ">= 0",
            id="negative-weight",
        ),
        pytest.param(
            {"profiles": {"batch": dict.fromkeys(registry.names(), 0)}},
            "profiles.batch",
            "not all zero",
            id="all-zero-weights",
        ),
        pytest.param(
            {"profiles": {"batch": {"transfer": float("nan")}}},
            "profiles.batch",
            "finite",
            id="nan-weight",
        ),
        pytest.param(
            {"profiles": {"batch": {"transfer": float("inf")}}},
            "profiles.batch",
            "finite",
            id="infinite-weight",
        ),
        pytest.param(
            {"profiles": {"batch": {"transfer": "high"}}},
            "profiles.batch.transfer",
            "a number >= 0",
            id="text-weight",
        ),
        pytest.param(
            {"profiles": {"batch": {"transfer": True}}},
            "profiles.batch.transfer",
            "a number >= 0",
            id="bool-weight",
        ),
        pytest.param(
            {"profiles": {"batch": [0.1, 0.2]}},
            "profiles.batch",
            "a mapping of term -> weight",
            id="weights-not-a-mapping",
        ),
        pytest.param(
            {"profiles": ["batch"]},
            "profiles",
            "a mapping of workload -> weights",
            id="profiles-not-a-mapping",
        ),
        pytest.param(
            {"bandwidthModel": "fastest"},
            "bandwidthModel",
            "one of bottleneck, seed-sum",
            id="unknown-bandwidth-model",
        ),
        pytest.param(
            {"bandwidthModel": None},
            "bandwidthModel",
            "one of bottleneck, seed-sum",
            id="null-bandwidth-model",
        ),
        pytest.param(
            {"bandwidthModel": ["seed-sum"]},
            "bandwidthModel",
            "one of bottleneck, seed-sum",
            id="list-bandwidth-model",
        ),
        pytest.param(
            {"congestionModel": "mm1"},
            "congestionModel",
            "one of sharing, queueing",
            id="unknown-congestion-model",
        ),
        pytest.param(
            {"congestionModel": None},
            "congestionModel",
            "one of sharing, queueing",
            id="null-congestion-model",
        ),
        pytest.param(
            {"maxUtilization": 1}, "maxUtilization", "a number in (0, 1)", id="max-utilization-one"
        ),
        pytest.param(
            {"maxUtilization": 1.5},
            "maxUtilization",
            "a number in (0, 1)",
            id="max-utilization-above-one",
        ),
        pytest.param(
            {"maxUtilization": 0}, "maxUtilization", "a number in (0, 1)", id="max-utilization-zero"
        ),
        pytest.param(
            {"maxUtilization": "0.9"},
            "maxUtilization",
            "a number in (0, 1)",
            id="max-utilization-quoted",
        ),
        pytest.param(
            {"maxUtilization": True},
            "maxUtilization",
            "a number in (0, 1)",
            id="max-utilization-bool",
        ),
        pytest.param(
            {"maxUtilization": float("nan")},
            "maxUtilization",
            "a number in (0, 1)",
            id="max-utilization-nan",
        ),
        pytest.param(
            {"defaultServiceSeconds": 0},
            "defaultServiceSeconds",
            "a number in (0, 3600)",
            id="service-seconds-zero",
        ),
        pytest.param(
            {"defaultServiceSeconds": -1},
            "defaultServiceSeconds",
            "a number in (0, 3600)",
            id="service-seconds-negative",
        ),
        pytest.param(
            {"defaultServiceSeconds": 7200},
            "defaultServiceSeconds",
            "a number in (0, 3600)",
            id="service-seconds-two-hours",
        ),
        pytest.param(["profiles"], "<document>", "a mapping", id="document-is-a-list"),
        pytest.param("bottleneck", "<document>", "a mapping", id="document-is-a-string"),
        pytest.param({1: "x"}, "1", "one of apiVersion", id="non-string-top-level-key"),
    ],
)
def test_bad_configuration_is_a_config_error_naming_the_key(
    raw: Any, key: str, allowed: str
) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        parse_config(raw)

    message = str(caught.value)
    assert message.startswith(f"configuration: {key}=")
    assert allowed in message


def test_unknown_profile_error_shows_the_profile_name() -> None:
    with pytest.raises(errors.ConfigError, match="'realtime'"):
        parse_config({"profiles": {"realtime": {}}})


def test_config_error_is_a_cloudedge_error_but_not_an_input_error() -> None:
    with pytest.raises(errors.CloudEdgeError) as caught:
        parse_config({"typo": 1})

    assert not isinstance(caught.value, errors.InputError)


# Files


def test_load_config_without_a_path_is_the_defaults() -> None:
    assert load_config(None) == types.ModelConfig()


@pytest.mark.parametrize(
    "as_string",
    [pytest.param(False, id="pathlib-path"), pytest.param(True, id="string-path")],
)
def test_load_config_reads_a_yaml_file(tmp_path: pathlib.Path, as_string: bool) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text(
        "apiVersion: cloudedge.io/v1alpha1\n"
        "kind: SchedulerConfiguration\n"
        "bandwidthModel: seed-sum\n"
        "profiles:\n"
        "  batch: {capacity: 0.7}\n",
        encoding="utf-8",
    )

    config = load_config(str(path) if as_string else path)

    assert config.bandwidth_model is types.BandwidthModel.SEED_SUM
    assert config.weights(BATCH)["capacity"] == 0.7
    assert config.weights(BATCH)["transfer"] == types.default_weights(BATCH)["transfer"]


def test_load_config_of_an_empty_file_is_the_defaults(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")

    assert load_config(path) == types.ModelConfig()


def test_load_config_validates_what_it_reads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text("maxUtilization: 1.0\n", encoding="utf-8")

    with pytest.raises(errors.ConfigError, match="maxUtilization"):
        load_config(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param("missing.yaml", None, id="missing-file"),
        pytest.param("a-directory", "dir", id="a-directory"),
        pytest.param("broken.yaml", b"profiles: [batch\n", id="invalid-yaml"),
        pytest.param("tabs.yaml", b"profiles:\n\tbatch: {}\n", id="tab-indented-yaml"),
        pytest.param("binary.yaml", b"\xff\xfe\x00\x01not utf-8", id="not-utf-8"),
    ],
)
def test_unreadable_configuration_file_is_a_config_error_naming_the_file(
    tmp_path: pathlib.Path, name: str, content: bytes | str | None
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)

    with pytest.raises(errors.ConfigError) as caught:
        load_config(path)

    assert str(path) in str(caught.value)
