"""The scheduler configuration file: weight profiles and model tunables.

Example (every key optional; the values shown are the defaults)::

    apiVersion: cloudedge.io/v1alpha1
    kind: SchedulerConfiguration
    bandwidthModel: bottleneck        # or seed-sum
    defaultServiceSeconds: 0.1        # M/M/1 service time of pods without a compute cost
    maxUtilization: 0.99              # cap of the waiting term's utilization
    profiles:
      latency-sensitive: {transfer: 0.45, waiting: 0.3, processing: 0.25, capacity: 0}

Unknown keys are errors: a typo must not silently leave a default in force.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Mapping
from typing import Any

import yaml

from cloudedge import errors
from cloudedge.model import types

_TOP_KEYS = {
    "apiVersion",
    "kind",
    "bandwidthModel",
    "defaultServiceSeconds",
    "maxUtilization",
    "profiles",
}
_WEIGHT_KEYS = ("transfer", "waiting", "processing", "capacity")


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
    profiles = dict(base.profiles)
    given = raw.get("profiles") or {}
    if not isinstance(given, Mapping):
        raise _fail("profiles", given, "a mapping of workload -> weights")
    for name, weights in given.items():
        try:
            workload = types.Workload(name)
        except ValueError as err:
            allowed = "one of " + ", ".join(w.value for w in types.Workload)
            raise _fail("profiles", name, allowed) from err
        if not isinstance(weights, Mapping) or set(map(str, weights)) - set(_WEIGHT_KEYS):
            raise _fail(f"profiles.{name}", weights, "a mapping of " + ", ".join(_WEIGHT_KEYS))
        current = dataclasses.asdict(profiles[workload])
        for key, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(f"profiles.{name}.{key}", value, "a number >= 0")
            current[str(key)] = float(value)
        try:
            profiles[workload] = types.Weights(**current)
        except ValueError as err:
            raise _fail(f"profiles.{name}", weights, str(err)) from err
    return types.ModelConfig(
        profiles=profiles,
        bandwidth_model=model,
        default_service_seconds=_positive(
            raw, "defaultServiceSeconds", base.default_service_seconds, below=3600
        ),
        max_utilization=_positive(raw, "maxUtilization", base.max_utilization, below=1),
    )


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
