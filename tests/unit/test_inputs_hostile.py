"""Every key of the contract against every kind of hostile value, as a matrix.

tests/unit/test_inputs_pods.py and test_inputs_nodes.py hold one readable case per key and
mistake; this file makes sure no combination was left out: wrong types, negative numbers, NaN,
both infinities, numbers too large for a float or past the limit, empty strings, unknown
enum values and 10 kB values. Each is an InputError naming the key whose message stays short
(the value is cut), so the Warning event built from it is readable.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_inputs_nodes import node
from test_inputs_pods import pod

from cloudedge import errors
from cloudedge.inputs import parse_node, parse_pod

TEN_KB = 10_240
NUMBER_VALUES = {
    "negative": "-1",
    "nan": "NaN",
    "inf": "inf",
    "minus-inf": "-inf",
    "overflows-float": "1e400",
    "past-the-limit": "1e16",
    "empty": "",
    "text": "lots",
    "10kB-of-digits": "9" * TEN_KB,
    "10kB-of-text": "x" * TEN_KB,
}
NAME_VALUES = {
    "empty": "",
    "uppercase": "Edge-1",
    "underscore": "edge_1",
    "10kB": "a" * TEN_KB,
}
ENUM_VALUES = {
    "empty": "",
    "unknown": "fog",
    "capitalised": "Cloud",
    "10kB": "c" * TEN_KB,
}
WRONG_TYPES = {
    "int": 5,
    "float": 5.5,
    "bool": True,
    "null": None,
    "list": ["edge"],
    "mapping": {"value": "edge"},
}

POD_KEYS = {
    "cloudedge.io/workload": ENUM_VALUES,
    "cloudedge.io/compute-cost": NUMBER_VALUES,
    "cloudedge.io/data-source": NAME_VALUES,
    "cloudedge.io/data-size-mb": NUMBER_VALUES,
    "cloudedge.io/max-latency-ms": {**NUMBER_VALUES, "zero": "0"},
    "cloudedge.io/tier": ENUM_VALUES,
}
NODE_KEYS = {
    ("labels", "cloudedge.io/tier"): ENUM_VALUES,
    ("labels", "cloudedge.io/bandwidth-mbps"): {**NUMBER_VALUES, "zero": "0"},
    ("labels", "cloudedge.io/site"): NAME_VALUES,
    ("annotations", "cloudedge.io/compute-rate"): {**NUMBER_VALUES, "zero": "0"},
}


def cases(keys: dict[Any, dict[str, Any]]) -> list[Any]:
    out = []
    for key, values in keys.items():
        name = key if isinstance(key, str) else key[1]
        short = name.removeprefix("cloudedge.io/")
        for kind, value in {**values, **WRONG_TYPES}.items():
            out.append(pytest.param(key, value, id=f"{short}-{kind}"))
    return out


def assert_short_and_named(err: errors.InputError, key: str) -> None:
    message = str(err)
    assert err.key == key
    assert key in message
    assert "is invalid:" in message
    assert len(message) < 400, f"{len(message)} characters: the value is not cut"


@pytest.mark.parametrize(("key", "value"), cases(POD_KEYS))
def test_every_pod_annotation_refuses_every_hostile_value(key: str, value: Any) -> None:
    with pytest.raises(errors.InputError) as caught:
        parse_pod(pod(annotations={key: value}))
    assert_short_and_named(caught.value, key)


@pytest.mark.parametrize(("where", "value"), cases(NODE_KEYS))
def test_every_node_label_and_annotation_refuses_every_hostile_value(
    where: tuple[str, str], value: Any
) -> None:
    part, key = where
    obj = node(labels={key: value}) if part == "labels" else node(annotations={key: value})
    if part == "labels" and key != "cloudedge.io/tier":
        obj["metadata"]["labels"]["cloudedge.io/tier"] = "edge"  # a candidate, so it is read
    with pytest.raises(errors.InputError) as caught:
        parse_node(obj)
    assert_short_and_named(caught.value, key)
