"""The v1 wire format: requests decoded as Go decodes them, replies spelled as Go expects."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudedge.extender import wire

POD = {"metadata": {"name": "p", "uid": "u1"}}


def test_keys_are_matched_ignoring_case_as_go_does() -> None:
    # Old extender docs and clients spell them pod / nodenames.
    args = wire.node_args({"pod": POD, "nodenames": ["a", "b"]})
    assert args.pod == POD
    assert args.node_names == ("a", "b")
    assert args.node_cache


def test_an_exact_key_wins_over_one_that_differs_in_case() -> None:
    args = wire.node_args({"Pod": POD, "NodeNames": ["exact"], "nodenames": ["folded"]})
    assert args.node_names == ("exact",)


def test_a_node_list_gives_names_and_objects_in_order() -> None:
    items = [{"metadata": {"name": "b"}}, {"metadata": {"name": "a"}}]
    args = wire.node_args({"Pod": POD, "Nodes": {"metadata": {}, "items": items}})
    assert args.node_names == ("b", "a")
    assert args.node_objects == tuple(items)
    assert not args.node_cache


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        pytest.param([], "ExtenderArgs", id="not-an-object"),
        pytest.param({"NodeNames": []}, "Pod", id="no-pod"),
        pytest.param({"Pod": None, "NodeNames": []}, "Pod", id="null-pod"),
        pytest.param({"Pod": {"metadata": []}, "NodeNames": []}, "Pod.metadata", id="bad-meta"),
        pytest.param(
            {"Pod": {"metadata": {"annotations": "x"}}, "NodeNames": []},
            "Pod.metadata.annotations",
            id="bad-annotations",
        ),
        pytest.param({"Pod": POD}, "NodeNames", id="no-nodes-at-all"),
        pytest.param({"Pod": POD, "Nodes": None, "NodeNames": None}, "NodeNames", id="both-null"),
        pytest.param({"Pod": POD, "Nodes": {}, "NodeNames": []}, "Nodes", id="both-set"),
        pytest.param({"Pod": POD, "NodeNames": "a"}, "NodeNames", id="names-not-a-list"),
        pytest.param({"Pod": POD, "NodeNames": ["a", 1]}, "NodeNames", id="name-not-a-string"),
        pytest.param({"Pod": POD, "NodeNames": ["a", "a"]}, "NodeNames", id="repeated-name"),
        pytest.param({"Pod": POD, "Nodes": []}, "Nodes", id="node-list-not-an-object"),
        pytest.param({"Pod": POD, "Nodes": {"items": {}}}, "Nodes.items", id="items-not-a-list"),
        pytest.param(
            {"Pod": POD, "Nodes": {"items": [{"metadata": {}}]}},
            "Nodes.items[0].metadata.name",
            id="nameless-node",
        ),
    ],
)
def test_malformed_extender_args_name_the_field(doc: Any, key: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.node_args(doc)
    assert caught.value.key == key


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b"[" * 50_000, id="too-deep"),
        pytest.param(b"1" * 5000, id="too-many-digits"),
    ],
)
def test_bodies_go_could_not_decode_are_wire_errors(body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.loads(body)


def test_full_pod_victims_are_reduced_to_uids() -> None:
    args = wire.preempt_args(
        {
            "Pod": POD,
            "NodeNameToVictims": {
                "n1": {"Pods": [{"metadata": {"uid": "v1"}}], "NumPDBViolations": 2},
                "n2": None,
            },
        }
    )
    assert not args.node_cache
    assert args.victims == {"n1": {"Pods": [{"UID": "v1"}], "NumPDBViolations": 2}, "n2": None}


def test_missing_nested_fields_take_gos_zero_values() -> None:
    args = wire.preempt_args({"Pod": POD, "NodeNameToMetaVictims": {"n1": {}}})
    assert args.victims == {"n1": {"Pods": None, "NumPDBViolations": 0}}


def test_an_integral_float_count_is_accepted_as_go_does() -> None:
    args = wire.preempt_args(
        {"Pod": POD, "NodeNameToMetaVictims": {"n": {"NumPDBViolations": 3.0}}}
    )
    assert args.victims["n"] == {"Pods": None, "NumPDBViolations": 3}


def test_binding_args_keep_an_empty_uid() -> None:
    args = wire.bind_args({"PodName": "p", "PodNamespace": "ns", "PodUID": "", "Node": "n"})
    assert args == wire.BindArgs(name="p", namespace="ns", uid="", node="n")


def test_a_filter_result_has_every_go_field_capitalised() -> None:
    result = wire.ExtenderFilterResult(
        Nodes=None, NodeNames=["a"], FailedNodes={}, FailedAndUnresolvableNodes={}, Error=""
    )
    assert json.loads(wire.dumps(result)) == {
        "Nodes": None,
        "NodeNames": ["a"],
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }


@given(
    hosts=st.lists(st.text(), unique=True, max_size=20).flatmap(
        lambda hs: st.tuples(
            st.just(hs), st.lists(st.integers(0, 10), min_size=len(hs), max_size=len(hs))
        )
    ),
    cached=st.booleans(),
)
def test_the_fast_priority_encoding_is_the_json_of_the_host_priority_list(
    hosts: tuple[list[str], list[int]], cached: bool
) -> None:
    names, scores = hosts
    prefixes = {n: wire.host_prefix(n) for n in names} if cached else {}
    fast = wire.dumps_priorities(names, scores, prefixes=prefixes)
    slow = [wire.HostPriority(Host=n, Score=s) for n, s in zip(names, scores, strict=True)]
    assert json.loads(fast) == json.loads(wire.dumps(slow))


def test_replies_that_echo_a_lone_surrogate_are_still_json() -> None:
    text = wire.dumps(wire.ErrorBody(Error="pod \ud800 is invalid"))
    assert json.loads(text) == {"Error": "pod \ud800 is invalid"}
