"""Kubernetes resource quantities (``500m``, ``2``, ``1.5``, ``512Mi``, ``1G``, ``1e3``).

The kubernetes client already parses the quantity grammar; this wraps it so that a bad
quantity becomes an :class:`InputError` and so that the result is a finite non-negative float
the model can add up.
"""

from __future__ import annotations

import decimal
import math
import re

from kubernetes import utils as k8s_utils

from cloudedge import errors

ALLOWED = "a Kubernetes quantity such as 500m, 2, 1.5, 512Mi, 1G or 1e3, not negative"

# The API server's grammar (k8s.io/apimachinery resource.Quantity), ASCII only: Python's
# Decimal alone would also take "1_000", "1 Gi" or non-ASCII digits, which Kubernetes rejects.
GRAMMAR = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?",
    re.ASCII,
)
MAX_QUANTITY = 1e18
"""Largest accepted quantity in base units (1 EB of memory; an exa-core of CPU): beyond any
real node, and far from float overflow so that sums over many pods stay finite."""


def parse_quantity(value: object, *, obj: str, key: str) -> decimal.Decimal:
    """Parse a quantity as the API server would, or raise naming ``obj`` and ``key``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise errors.InputError(obj, key, value, ALLOWED)
    if isinstance(value, float) and not math.isfinite(value):
        raise errors.InputError(obj, key, value, ALLOWED)
    if isinstance(value, str) and not GRAMMAR.fullmatch(value):
        raise errors.InputError(obj, key, value, ALLOWED)
    try:
        parsed = k8s_utils.parse_quantity(value)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError) as err:
        raise errors.InputError(obj, key, value, ALLOWED) from err
    if not isinstance(parsed, decimal.Decimal) or not parsed.is_finite() or parsed < 0:
        raise errors.InputError(obj, key, value, ALLOWED)
    if parsed > decimal.Decimal(MAX_QUANTITY):
        raise errors.InputError(obj, key, value, f"{ALLOWED}, at most {MAX_QUANTITY:g}")
    return parsed


def cpu_millicores(value: object, *, obj: str, key: str) -> float:
    """A CPU quantity in millicores (``500m`` -> 500, ``2`` -> 2000)."""
    millicores = float(parse_quantity(value, obj=obj, key=key) * 1000)
    if not math.isfinite(millicores) or millicores > MAX_QUANTITY:
        raise errors.InputError(obj, key, value, f"{ALLOWED}, at most {MAX_QUANTITY / 1000:g}")
    return millicores


def plain(value: object, *, obj: str, key: str) -> float:
    """A quantity as a plain number in base units (bytes for memory, a count for pods)."""
    return float(parse_quantity(value, obj=obj, key=key))


def amount(name: str, value: object, *, obj: str, key: str) -> float:
    """A quantity of resource ``name`` in the model's base unit: millicores for ``cpu``, the
    plain number for everything else (bytes of memory or storage, counts of pods or GPUs)."""
    if name == "cpu":
        return cpu_millicores(value, obj=obj, key=key)
    return plain(value, obj=obj, key=key)
