"""The scheduler configuration file: weight profiles and model tunables.

Example (every key optional; the values shown are the defaults)::

    apiVersion: cloudedge.io/v1alpha1
    kind: SchedulerConfiguration
    bandwidthModel: bottleneck        # or seed-sum
    congestionModel: both             # or sharing, queueing: how co-placed pods are charged
    defaultServiceSeconds: 0.1        # M/M/1 service time of pods without a compute cost
    maxUtilization: 0.99              # cap of the waiting term's utilization
    profiles:
      latency-sensitive: {transfer: 0.45, waiting: 0.3, processing: 0.25, capacity: 0}

A profile names the weights it changes; the registered terms it leaves out keep their built-in
weights (``cloudedge.model.registry`` lists the terms). Unknown keys are errors: a typo must not
silently leave a default in force.
"""

from __future__ import annotations

import json
import math
import pathlib
from collections.abc import Mapping
from typing import Any

import yaml

from cloudedge import errors
from cloudedge.model import registry as model_registry
from cloudedge.model import types

_TOP_KEYS = {
    "apiVersion",
    "kind",
    "bandwidthModel",
    "congestionModel",
    "defaultServiceSeconds",
    "maxUtilization",
    "profiles",
}


def _fail(key: str, value: object, allowed: str) -> errors.ConfigError:
    shown = repr(value)
    return errors.ConfigError(f"configuration: {key}={shown[:80]} is invalid: {allowed}")


def _positive(raw: Mapping[str, Any], key: str, default: float, *, below: float) -> float:
    if key not in raw:
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(key, value, f"a number in (0, {below:g})")
    if not (math.isfinite(value) and 0 < value < below):
        raise _fail(key, value, f"a number in (0, {below:g})")
    return float(value)


def parse_config(raw: Any) -> types.ModelConfig:
    """Validate a configuration mapping (the parsed YAML file) into a ModelConfig."""
    if raw is None:
        return types.ModelConfig()
    if not isinstance(raw, Mapping):
        raise _fail("<document>", raw, "a mapping")
    unknown = sorted((k for k in raw if str(k) not in _TOP_KEYS), key=str)
    if unknown:
        raise _fail(str(unknown[0]), raw[unknown[0]], "one of " + ", ".join(sorted(_TOP_KEYS)))
    base = types.ModelConfig()
    try:
        model = types.BandwidthModel(raw.get("bandwidthModel", base.bandwidth_model))
    except ValueError as err:
        allowed = "one of " + ", ".join(m.value for m in types.BandwidthModel)
        raise _fail("bandwidthModel", raw.get("bandwidthModel"), allowed) from err
    try:
        congestion = types.CongestionModel(raw.get("congestionModel", base.congestion_model))
    except ValueError as err:
        allowed = "one of " + ", ".join(m.value for m in types.CongestionModel)
        raise _fail("congestionModel", raw.get("congestionModel"), allowed) from err
    profiles: dict[types.Workload, types.Weights] = {}
    given = raw.get("profiles") or {}
    if not isinstance(given, Mapping):
        raise _fail("profiles", given, "a mapping of workload -> weights")
    for name, weights in given.items():
        try:
            workload = types.Workload(name)
        except ValueError as err:
            allowed = "one of " + ", ".join(w.value for w in types.Workload)
            raise _fail("profiles", name, allowed) from err
        names = model_registry.names()
        if not isinstance(weights, Mapping):
            raise _fail(f"profiles.{name}", weights, "a mapping of term -> weight")
        unknown_terms = [str(k) for k in weights if str(k) not in names]
        if unknown_terms:
            raise _fail(
                f"profiles.{name}.{unknown_terms[0]}",
                weights[unknown_terms[0]],
                "a registered term: one of " + ", ".join(names),
            )
        current = dict(types.default_weights(workload))
        for key, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(f"profiles.{name}.{key}", value, "a number >= 0")
            current[str(key)] = float(value)
        try:
            profiles[workload] = types.Weights(current)
        except ValueError as err:
            raise _fail(f"profiles.{name}", weights, str(err)) from err
    return types.ModelConfig(
        profiles=profiles,
        bandwidth_model=model,
        congestion_model=congestion,
        default_service_seconds=_positive(
            raw, "defaultServiceSeconds", base.default_service_seconds, below=3600
        ),
        max_utilization=_positive(raw, "maxUtilization", base.max_utilization, below=1),
    )


SCHEMA_PATH = ("properties", "config", "properties", "profiles")
"""Where :func:`profiles_schema` sits in the chart's ``values.schema.json``."""


def profiles_schema() -> dict[str, Any]:
    """The JSON schema of ``profiles``, generated from the term registry: one object per
    workload, one ``number >= 0`` per registered term, nothing else.

    The chart's ``values.schema.json`` embeds it (``make chart-schema`` writes it, a unit test
    keeps it current), so that a term added to the model is a key the chart accepts, and a
    misspelt one fails at ``helm install`` rather than at the operator's start.
    """
    weights = {
        entry.name: {
            "type": "number",
            "minimum": 0,
            "description": f"{entry.summary} ({entry.kind.value} term)",
        }
        for entry in model_registry.entries()
    }
    per_workload = {
        workload.value: {
            "type": "object",
            "additionalProperties": False,
            "properties": weights,
            "description": (
                "Weights of the registered terms; >= 0, not all zero (the operator checks the "
                "sum). A term left out keeps its built-in weight."
            ),
        }
        for workload in types.Workload
    }
    return {"type": "object", "additionalProperties": False, "properties": per_workload}


def with_profiles_schema(chart_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the chart's ``values.schema.json`` document with :func:`profiles_schema`
    in its place (the rest untouched)."""
    out: dict[str, Any] = json.loads(json.dumps(chart_schema))
    node = out
    for key in SCHEMA_PATH[:-1]:
        node = node[key]
    node[SCHEMA_PATH[-1]] = profiles_schema()
    return out


def with_profiles_values(values_yaml: str) -> str:
    """The chart's ``values.yaml`` text with each ``config.profiles`` line (``    batch: {...}``)
    rewritten to the built-in weights of every registered term, comments left as they are."""
    out = []
    for line in values_yaml.splitlines(keepends=True):
        stripped = line.strip()
        for workload in types.Workload:
            if line.startswith("    ") and stripped.startswith(f"{workload.value}: {{"):
                weights = types.default_weights(workload)
                body = ", ".join(f"{name}: {_number(w)}" for name, w in weights.items())
                line = f"    {workload.value}: {{{body}}}\n"
        out.append(line)
    return "".join(out)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def load_config(path: str | pathlib.Path | None) -> types.ModelConfig:
    """Read and validate the configuration file at ``path`` (defaults when None)."""
    if path is None:
        return types.ModelConfig()
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise errors.ConfigError(f"configuration file {path}: {err}") from err
    return parse_config(raw)
