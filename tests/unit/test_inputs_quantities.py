"""Kubernetes quantities as users write them become millicores and bytes, or a clear error."""

from __future__ import annotations

import decimal
from collections.abc import Callable

import pytest

from cloudedge import errors
from cloudedge.inputs import quantity

OBJ = "Node n1"
KEY = "status.allocatable.cpu"
ALLOWED = "a Kubernetes quantity such as 500m, 2, 1.5, 512Mi, 1G or 1e3, not negative"

Ki, Mi, Gi = 2**10, 2**20, 2**30


@pytest.mark.parametrize(
    ("value", "millicores"),
    [
        pytest.param("500m", 500.0, id="millicores-500m"),
        pytest.param("2", 2000.0, id="whole-cores-string"),
        pytest.param("1.5", 1500.0, id="fractional-cores-string"),
        pytest.param("0.1", 100.0, id="a-tenth-of-a-core"),
        pytest.param("1e3", 1_000_000.0, id="exponent-1e3-cores"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("+1", 1000.0, id="explicit-plus-sign"),
        pytest.param(2, 2000.0, id="yaml-int"),
        pytest.param(0.5, 500.0, id="yaml-float"),
        pytest.param(1.5, 1500.0, id="yaml-float-one-and-a-half"),
    ],
)
def test_cpu_quantity_becomes_millicores(value: object, millicores: float) -> None:
    assert quantity.cpu_millicores(value, obj=OBJ, key=KEY) == pytest.approx(millicores)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param("512Mi", 512 * Mi, id="mebibytes"),
        pytest.param("1Gi", Gi, id="gibibytes"),
        pytest.param("100Ki", 100 * Ki, id="kibibytes"),
        pytest.param("1G", 1e9, id="decimal-gigabytes"),
        pytest.param("2k", 2000.0, id="decimal-kilo"),
        pytest.param("1e3", 1000.0, id="exponent"),
        pytest.param("1.5Gi", 1.5 * Gi, id="fractional-gibibytes"),
        pytest.param("128974848", 128974848.0, id="plain-bytes-string"),
        pytest.param(1024, 1024.0, id="yaml-int-bytes"),
        pytest.param(110, 110.0, id="pod-count"),
    ],
)
def test_memory_and_count_quantities_become_base_units(value: object, plain: float) -> None:
    assert quantity.plain(value, obj=OBJ, key=KEY) == pytest.approx(plain)


def test_parse_quantity_keeps_decimal_precision() -> None:
    parsed = quantity.parse_quantity("1.5", obj=OBJ, key=KEY)

    assert isinstance(parsed, decimal.Decimal)
    assert parsed == decimal.Decimal("1.5")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-1", id="negative-string"),
        pytest.param("-500m", id="negative-millicores"),
        pytest.param("-1Gi", id="negative-with-binary-suffix"),
        pytest.param(-1, id="negative-int"),
        pytest.param(-0.5, id="negative-float"),
        pytest.param("abc", id="letters"),
        pytest.param("1.5.3", id="two-decimal-points"),
        pytest.param("", id="empty-string"),
        pytest.param("5ki", id="lowercase-binary-suffix"),
        pytest.param("1Xi", id="unknown-binary-suffix"),
        pytest.param("1e", id="dangling-exponent"),
        pytest.param("NaN", id="nan-string"),
        pytest.param("Infinity", id="infinity-string"),
        pytest.param(None, id="none"),
        pytest.param(True, id="bool-true"),
        pytest.param(False, id="bool-false"),
        pytest.param(float("nan"), id="nan-float"),
        pytest.param(float("inf"), id="inf-float"),
        pytest.param(float("-inf"), id="negative-inf-float"),
        pytest.param([], id="empty-list"),
        pytest.param(["1"], id="list-of-one"),
        pytest.param({"cpu": 1}, id="mapping"),
    ],
)
def test_bad_quantity_is_an_input_error_naming_object_key_value_and_allowed(value: object) -> None:
    with pytest.raises(errors.InputError) as caught:
        quantity.parse_quantity(value, obj=OBJ, key=KEY)

    err = caught.value
    assert (err.obj, err.key, err.allowed) == (OBJ, KEY, ALLOWED)
    message = str(err)
    assert OBJ in message
    assert KEY in message
    assert repr(value) in message
    assert ALLOWED in message


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(quantity.cpu_millicores, id="cpu"),
        pytest.param(quantity.plain, id="memory"),
    ],
)
def test_every_quantity_reader_rejects_what_parse_quantity_rejects(
    reader: Callable[..., float],
) -> None:
    with pytest.raises(errors.InputError, match=r"allocatable\.cpu='abc'"):
        reader("abc", obj=OBJ, key=KEY)


def test_a_quantity_error_is_a_cloudedge_error() -> None:
    with pytest.raises(errors.CloudEdgeError):
        quantity.parse_quantity("abc", obj=OBJ, key=KEY)


@pytest.mark.parametrize(
    ("reader", "value"),
    [
        pytest.param(quantity.cpu_millicores, "1e400", id="cpu-1e400"),
        pytest.param(quantity.cpu_millicores, "1e308", id="cpu-1e308-overflows-as-millicores"),
        pytest.param(quantity.plain, "1e400", id="memory-1e400"),
        pytest.param(quantity.plain, 10**400, id="memory-huge-yaml-int"),
    ],
)
def test_a_quantity_too_large_for_a_float_is_rejected_not_turned_into_infinity(
    reader: Callable[..., float], value: object
) -> None:
    # The module promises "a finite non-negative float the model can add up".
    with pytest.raises(errors.InputError):
        reader(value, obj=OBJ, key=KEY)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1_000", id="underscore-digit-separator"),
        pytest.param("1 Gi", id="space-before-suffix"),
        pytest.param("\u0661\u0662", id="arabic-indic-digits"),
    ],
)
def test_a_quantity_the_api_server_rejects_is_rejected(value: str) -> None:
    # parse_quantity promises to parse "as the API server would"; Python's Decimal is looser
    # than apimachinery's quantity grammar (digits [0-9], no separators, no inner spaces).
    with pytest.raises(errors.InputError):
        quantity.parse_quantity(value, obj=OBJ, key=KEY)
