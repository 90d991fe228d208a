"""Small helpers to read nested fields of Kubernetes objects given as plain dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudedge import errors


def mapping(obj: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """The dict at ``path`` or an empty one; anything else there is a malformed object."""
    current: Any = obj
    for depth, part in enumerate(path):
        if not isinstance(current, Mapping):
            where = ".".join(path[:depth])
            raise errors.InputError(describe(obj), where, current, "a mapping")
        current = current.get(part)
        if current is None:
            return {}
    if not isinstance(current, Mapping):
        raise errors.InputError(describe(obj), ".".join(path), current, "a mapping")
    return current


def string_map(obj: Mapping[str, Any], *path: str) -> dict[str, str]:
    """A labels/annotations/nodeSelector map whose values must all be strings."""
    raw = mapping(obj, *path)
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise errors.InputError(
                describe(obj), str(key), value, "a string (quote numbers in YAML)"
            )
        out[str(key)] = value
    return out


def sequence(obj: Mapping[str, Any], *path: str) -> list[Any]:
    """The list at ``path`` or an empty one."""
    parent = mapping(obj, *path[:-1])
    value = parent.get(path[-1])
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.InputError(describe(obj), ".".join(path), value, "a list")
    return value


def describe(obj: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` for messages, tolerant of half-formed objects."""
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    namespace = meta.get("namespace")
    where = f"{namespace}/{name}" if namespace else str(name)
    return f"{kind or 'object'} {where}"
