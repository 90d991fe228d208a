"""Multi-document Kubernetes YAML -> Nodes, Pods (controllers expanded) and a topology.

``cloudedge simulate`` reads the same files users ``kubectl apply``. Workload controllers
become their replicas, in document order, so the simulation sees the pods the live scheduler
would see: Deployment and ReplicaSet (``replicas``, default 1), StatefulSet (``name-0`` ...),
Job (``parallelism``, default 1). Other kinds (Services, ConfigMaps, DaemonSets, ...) are
skipped and listed.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from cloudedge import errors
from cloudedge.inputs import objects, topology

_CONTROLLERS: dict[tuple[Any, Any], str] = {
    ("apps/v1", "Deployment"): "replicas",
    ("apps/v1", "ReplicaSet"): "replicas",
    ("apps/v1", "StatefulSet"): "replicas",
    ("batch/v1", "Job"): "parallelism",
}
MAX_REPLICAS = 100_000
"""A bound on expansion: a typo of replicas: 1e9 must not exhaust memory."""


@dataclasses.dataclass
class Documents:
    """What a set of YAML documents holds for the scheduler."""

    nodes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    pods: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    topologies: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)

    def topology_object(self) -> dict[str, Any] | None:
        """The NetworkTopology named ``default`` if present, else the last one given."""
        for obj in self.topologies:
            if objects.mapping(obj, "metadata").get("name") == topology.DEFAULT_NAME:
                return obj
        return self.topologies[-1] if self.topologies else None


def parse_documents(docs: Iterable[Any], *, source: str = "<input>") -> Documents:
    """Sort parsed YAML documents by kind, expanding controllers into pods."""
    out = Documents()
    for doc in docs:
        _add(out, doc, source=source)
    return out


def _add(out: Documents, doc: Any, *, source: str) -> None:
    if doc is None:
        return
    if not isinstance(doc, Mapping):
        raise errors.InputError(source, "<document>", doc, "a Kubernetes object (a mapping)")
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if kind == "List":
        for item in objects.sequence(doc, "items"):
            _add(out, item, source=source)
    elif (api, kind) == ("v1", "Node"):
        out.nodes.append(dict(doc))
    elif (api, kind) == ("v1", "Pod"):
        out.pods.append(dict(doc))
    elif (api, kind) == (topology.API_VERSION, topology.KIND):
        out.topologies.append(dict(doc))
    elif (api, kind) in _CONTROLLERS:
        out.pods.extend(_expand(doc, _CONTROLLERS[(api, kind)]))
    else:
        name = objects.mapping(doc, "metadata").get("name", "<unnamed>")
        out.skipped.append(f"{kind or '?'} {name}")


def _expand(doc: Mapping[str, Any], count_key: str) -> list[dict[str, Any]]:
    who = objects.describe(doc)
    meta = objects.mapping(doc, "metadata")
    spec = objects.mapping(doc, "spec")
    count = spec.get(count_key, 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPLICAS:
        raise errors.InputError(who, f"spec.{count_key}", count, f"an integer 0..{MAX_REPLICAS}")
    template = objects.mapping(spec, "template")
    name = str(meta.get("name", "pod"))
    namespace = meta.get("namespace") or "default"
    pods = []
    for k in range(count):
        pod_meta = copy.deepcopy(dict(objects.mapping(template, "metadata")))
        pod_meta["name"] = f"{name}-{k}"
        pod_meta["namespace"] = namespace
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": pod_meta,
                "spec": copy.deepcopy(dict(objects.mapping(template, "spec"))),
            }
        )
    return pods


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
"""The files of a directory that ``-f DIR`` reads, as ``kubectl apply -f DIR`` does."""


def expand_paths(paths: Iterable[str | pathlib.Path]) -> list[pathlib.Path]:
    """``paths`` with each directory replaced by its ``.yaml``, ``.yml`` and ``.json`` files in
    name order (not recursive), as ``kubectl apply -f DIR`` reads one."""
    out: list[pathlib.Path] = []
    for path in paths:
        given = pathlib.Path(path)
        if not given.is_dir():
            out.append(given)
            continue
        found = sorted(p for p in given.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
        if not found:
            raise errors.InputError(
                str(given),
                "<directory>",
                "no manifest files",
                "a directory of .yaml, .yml or .json files",
            )
        out.extend(found)
    return out


def load_documents(paths: Iterable[str | pathlib.Path]) -> Documents:
    """Read and sort every document of every file, in order (``-`` is not supported); a
    directory stands for its manifest files (:func:`expand_paths`)."""
    out = Documents()
    for path in expand_paths(paths):
        try:
            text = pathlib.Path(path).read_text(encoding="utf-8")
            docs = list(yaml.safe_load_all(text))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise errors.InputError(str(path), "<file>", str(err)[:200], "readable YAML") from err
        part = parse_documents(docs, source=str(path))
        out.nodes.extend(part.nodes)
        out.pods.extend(part.pods)
        out.topologies.extend(part.topologies)
        out.skipped.extend(part.skipped)
    return out
