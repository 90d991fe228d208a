"""Validation of label and annotation values: numbers, enums, DNS labels.

Labels and annotations are strings written by people; every reader here states what it
allows, and the error it raises says so verbatim.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import TypeVar

from cloudedge import errors

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""RFC 1123 label, as Kubernetes validates names (63 characters at most)."""

DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
"""RFC 1123 subdomain, the grammar of node names."""

MAX_NUMBER = 1e15
"""Largest accepted numeric annotation: beyond any real bandwidth, work or size, and far
enough from float overflow that sums of many pods stay finite."""

E = TypeVar("E", bound=enum.Enum)


def number(
    source: Mapping[str, str],
    key: str,
    *,
    obj: str,
    minimum: float = 0.0,
    exclusive: bool = False,
    default: float | None = None,
) -> float | None:
    """A finite number from ``source[key]``, ``> minimum`` if ``exclusive`` else ``>=``."""
    if key not in source:
        return default
    raw = source[key]
    bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
    allowed = f"a finite number {bound} and at most {MAX_NUMBER:g}"
    if not isinstance(raw, str) or len(raw) > 64:
        raise errors.InputError(obj, key, raw, allowed)
    try:
        value = float(raw.strip())
    except ValueError as err:
        raise errors.InputError(obj, key, raw, allowed) from err
    if not math.isfinite(value) or value > MAX_NUMBER:
        raise errors.InputError(obj, key, raw, allowed)
    if value < minimum or (exclusive and value == minimum):
        raise errors.InputError(obj, key, raw, allowed)
    return value


def choice(source: Mapping[str, str], key: str, kind: type[E], *, obj: str) -> E | None:
    """An enum member from ``source[key]`` by value, or None when the key is absent."""
    if key not in source:
        return None
    raw = source[key]
    allowed = "one of " + ", ".join(str(m.value) for m in kind)
    try:
        return kind(raw)
    except ValueError as err:
        raise errors.InputError(obj, key, raw, allowed) from err


def name(source: Mapping[str, str], key: str, *, obj: str, pattern: re.Pattern[str]) -> str | None:
    """A DNS label or subdomain from ``source[key]``, or None when absent."""
    if key not in source:
        return None
    raw = source[key]
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        what = "DNS label" if pattern is DNS_LABEL else "node name or DNS label"
        raise errors.InputError(
            obj, key, raw, f"a {what}: lowercase letters, digits and '-', at most 63 per part"
        )
    return raw
