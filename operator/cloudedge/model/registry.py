"""The table of scoring terms: names, kinds and default weights, in one place.

kube-scheduler keeps its score plugins in a registry and refuses a weight for a plugin it does
not know (``framework/runtime/framework.go``); this is the same idea for the model's terms.
Everything that lists terms reads this table: the weight profiles and their validation
(:class:`cloudedge.model.types.Weights`), the configuration file, the chart's schema
(``hack/gen-schema.py``), the score (:mod:`cloudedge.model.scoring`), events and ``explain``.

The table holds data only and imports nothing of ours, so that :mod:`cloudedge.model.types`
can check weights against it; the terms themselves (:mod:`cloudedge.model.terms`) fill it in
when they are defined. Adding a term is one class and one :func:`cloudedge.model.terms.register`
in one module.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any


class Kind(enum.StrEnum):
    """How a term enters the score.

    ``time``: seconds that add up to the estimated completion time (ECT) and are compared as a
    ratio to the best node's. ``cost``: seconds too, weighed with the time terms in that ratio,
    but not the pod's own: what placing it adds to other pods' completion. They are left out
    of the pod's ECT, so of its deadline and of the evaluator's grade. ``fraction``: a 0..1
    goodness of its own, weighted into the score next to the time goodness.
    """

    TIME = "time"
    COST = "cost"
    FRACTION = "fraction"

    @property
    def seconds(self) -> bool:
        """Whether the term's values are seconds (time and cost terms)."""
        return self is not Kind.FRACTION


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered term.

    ``build`` makes the configured term from a ``ModelConfig`` (typed ``Any`` here: this module
    must not import the model's types). ``defaults`` maps a workload name (``batch``,
    ``latency-sensitive``, ...) to the term's weight in that built-in profile; workloads left
    out get ``default``.
    """

    name: str
    kind: Kind
    build: Callable[[Any], Any]
    summary: str
    default: float = 0.0
    defaults: Mapping[str, float] = dataclasses.field(default_factory=dict)
    kube_plugin: str | None = None
    """The kube-scheduler score plugin that computes the same score, if any: in the extender
    mode kube-scheduler scores it itself, so the extender leaves such a term out."""

    def weight_for(self, workload: str) -> float:
        """The term's built-in weight in ``workload``'s profile."""
        return self.defaults.get(workload, self.default)


_ENTRIES: dict[str, Entry] = {}
_version = 0


def add(entry: Entry) -> None:
    """Register ``entry``; a name is registered once (a second one is a programming error)."""
    global _version
    if (
        not entry.name
        or not entry.name.replace("-", "").isalnum()
        or entry.name != entry.name.lower()
    ):
        raise ValueError(f"term names are lower-case words joined by '-', got {entry.name!r}")
    if entry.name in _ENTRIES:
        raise ValueError(f"term {entry.name!r} is already registered")
    _ENTRIES[entry.name] = entry
    _version += 1


def remove(name: str) -> None:
    """Unregister ``name`` (tests that register a toy term clean up with it)."""
    global _version
    del _ENTRIES[name]
    _version += 1


def entries() -> tuple[Entry, ...]:
    """Every registered term, in registration order (the order of tables and events)."""
    return tuple(_ENTRIES.values())


def names() -> tuple[str, ...]:
    """The registered term names, in registration order."""
    return tuple(_ENTRIES)


def get(name: str) -> Entry:
    """The entry of ``name``; a :class:`KeyError` naming the known terms otherwise."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise KeyError(unknown_message(name)) from None


def kube_scored_terms() -> tuple[str, ...]:
    """The terms that reproduce a kube-scheduler score plugin (left to kube-scheduler in the
    extender mode)."""
    return tuple(e.name for e in _ENTRIES.values() if e.kube_plugin)


def version() -> int:
    """Bumped on every change of the table: caches of built terms and default profiles key on it."""
    return _version


def unknown_message(name: str) -> str:
    """``unknown term 'x': the terms are transfer, waiting, ...``."""
    return f"unknown term {name!r}: the terms are {', '.join(_ENTRIES)}"
