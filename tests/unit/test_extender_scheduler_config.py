"""The shipped KubeSchedulerConfiguration names what the extender serves, in both variants."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
import yaml

from cloudedge import extender, metrics, model
from cloudedge.cluster import view as view_mod
from cloudedge.extender import server

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "scheduler-config"
LENIENT = CONFIG_DIR / "kube-scheduler-config.yaml"
STRICT = CONFIG_DIR / "kube-scheduler-config-strict.yaml"


def load(path: pathlib.Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def the_extender(path: pathlib.Path) -> dict[str, Any]:
    doc = load(path)
    assert doc["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert doc["kind"] == "KubeSchedulerConfiguration"
    assert len(doc["extenders"]) == 1
    ext = doc["extenders"][0]
    assert isinstance(ext, dict)
    return ext


def seconds(duration: str) -> float:
    """A metav1.Duration of the simple kind the file uses (``5s``, ``500ms``)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    assert match, duration
    value, unit = float(match[1]), match[2]
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def test_the_two_variants_differ_only_in_ignorable() -> None:
    lenient, strict = load(LENIENT), load(STRICT)
    assert lenient["extenders"][0].pop("ignorable") is True
    assert strict["extenders"][0].pop("ignorable") is False
    assert lenient == strict


@pytest.mark.parametrize("path", [LENIENT, STRICT], ids=["ignorable", "strict"])
def test_every_verb_named_is_a_route_of_the_service(path: pathlib.Path) -> None:
    ext = the_extender(path)
    app = extender.make_app(
        view=view_mod.ClusterView(), config=model.ModelConfig(), metrics=metrics.Metrics()
    )
    routes = {
        r.resource.canonical for r in app.router.routes() if r.method == "POST" and r.resource
    }
    for key in ("filterVerb", "prioritizeVerb", "bindVerb", "preemptVerb"):
        assert f"/{ext[key]}" in routes


@pytest.mark.parametrize("path", [LENIENT, STRICT], ids=["ignorable", "strict"])
def test_the_extender_is_reached_the_way_the_service_runs(path: pathlib.Path) -> None:
    ext = the_extender(path)
    assert ext["urlPrefix"] == "http://127.0.0.1:8888"  # cloudedge run's --extender-port default
    assert ext["enableHTTPS"] is False
    assert ext["nodeCacheCapable"] is True
    assert ext["weight"] > 0
    assert "managedResources" not in ext  # it would keep annotated pods away (see the file)
    # A bind must be able to finish, reply included, within kube-scheduler's timeout.
    assert seconds(ext["httpTimeout"]) > server.BIND_TIMEOUT_S
