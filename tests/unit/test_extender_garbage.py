"""Whatever arrives, every endpoint answers 200, 400 or 413 with a JSON body, and keeps serving.

Hypothesis throws random bytes, random JSON, objects with the protocol's keys holding random
values, near-valid requests with one field broken, truncated JSON and wrong content types at
/filter, /prioritize, /bind and /preempt of one running server; a log handler proves that no
example reached an internal failure (those answer 200 in the protocol, so the status alone would
not show them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from extender_support import (
    EDGE_ONLY,
    FakeCore,
    Served,
    cache_args,
    list_args,
    make_view,
    node,
    pod,
    served,
    small_cluster,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudedge import extender

ENDPOINTS = ["/filter", "/prioritize", "/bind", "/preempt"]
ALLOWED = {200, 400, 413}
PROTOCOL_KEYS = [
    "Pod",
    "Nodes",
    "NodeNames",
    "PodName",
    "PodNamespace",
    "PodUID",
    "Node",
    "NodeNameToVictims",
    "NodeNameToMetaVictims",
    "pod",
    "nodenames",
    "NODES",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,  # one HTTP round trip; CI machines stall now and then
    suppress_health_check=[HealthCheck.too_slow],
)


class Failures(logging.Handler):
    """Collects ERROR records of the extender: an internal failure the protocol masked."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    """One extender for every example of the module, with binding against a fake API."""
    core = FakeCore({("default", "p"): ("uid-p", None)})
    failures = Failures()
    logger = logging.getLogger("cloudedge.extender")
    logger.addHandler(failures)
    try:
        with served(make_view(*small_cluster()), core=core) as srv:
            yield srv
    finally:
        logger.removeHandler(failures)
    assert not failures.records, [r.getMessage() for r in failures.records]


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=12,
    )


def protocol_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the protocol's keys (in several spellings) holding anything."""
    return st.dictionaries(
        st.sampled_from(PROTOCOL_KEYS) | st.text(max_size=8), json_values(), max_size=6
    )


ANNOTATION_VALUES = ["", "1", "-1", "0.5", "1e400", "nan", "edge", "cloud", "batch", "x" * 300]


def pods() -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed pods with cloudedge annotations of random (mostly string) values."""
    annotations = st.dictionaries(
        st.sampled_from(
            [
                "cloudedge.io/tier",
                "cloudedge.io/workload",
                "cloudedge.io/compute-cost",
                "cloudedge.io/data-source",
                "cloudedge.io/data-size-mb",
                "cloudedge.io/max-latency-ms",
                "cloudedge.io/whatever",
            ]
        ),
        st.sampled_from(ANNOTATION_VALUES) | st.text(max_size=12),
        max_size=4,
    )
    cpu = st.sampled_from(["100m", "1", "3", "0", "-1", "1e9", "abc"])
    return st.builds(
        lambda a, c: pod(annotations=a, cpu=c),
        annotations,
        cpu,
    )


def requests_shaped_right(*, mutate: bool) -> st.SearchStrategy[tuple[str, Any]]:
    """Requests in the protocol's shape; with ``mutate``, some fields broken or missing."""

    def broken(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        # The value most of the time, sometimes any JSON at all in its place.
        return st.one_of(value, value, value, value, value, json_values()) if mutate else value

    def with_one_key_dropped(doc: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
        def drop(d: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
            if d and data.draw(st.integers(0, 4)) == 0:  # one request in five
                d = dict(d)
                del d[data.draw(st.sampled_from(sorted(d)))]
            return d

        return st.builds(drop, doc, st.data()) if mutate else doc

    known = ["edge-1", "edge-2", "cloud-1", "cloud-2", "plain"]
    names = st.lists(st.sampled_from(known), unique=True, max_size=5)
    items = st.lists(
        st.sampled_from(
            [node("edge-1"), node("edge-3"), node("fog", tier="fog"), node("neg", cpu="-1")]
        ),
        unique_by=lambda n: n["metadata"]["name"],
        max_size=4,
    )
    cache = st.fixed_dictionaries({"Pod": broken(pods()), "NodeNames": broken(names)})
    listed = st.fixed_dictionaries(
        {"Pod": broken(pods()), "Nodes": broken(st.builds(_node_list, broken(items)))}
    )
    meta_victims = st.dictionaries(
        st.sampled_from(known),
        broken(
            st.fixed_dictionaries(
                {
                    "Pods": st.lists(st.fixed_dictionaries({"UID": broken(st.text())})),
                    "NumPDBViolations": broken(st.integers(0, 3)),
                }
            )
        ),
        max_size=3,
    )
    full_victims = st.dictionaries(
        st.sampled_from([*known, "ghost"]),
        broken(
            st.fixed_dictionaries(
                {"Pods": st.lists(pods(), max_size=2), "NumPDBViolations": st.integers(0, 3)}
            )
        ),
        max_size=3,
    )
    preempt = st.fixed_dictionaries(
        {"Pod": broken(pods()), "NodeNameToMetaVictims": broken(meta_victims)}
    ) | st.fixed_dictionaries({"Pod": broken(pods()), "NodeNameToVictims": broken(full_victims)})
    bind = st.fixed_dictionaries(
        {
            "PodName": broken(st.sampled_from(["p", "gone"])),
            "PodNamespace": broken(st.just("default")),
            "PodUID": broken(st.sampled_from(["uid-p", ""])),
            "Node": broken(st.sampled_from(["edge-1", "cloud-1"])),
        }
    )
    shaped = (
        st.tuples(st.sampled_from(["/filter", "/prioritize"]), with_one_key_dropped(cache))
        | st.tuples(st.sampled_from(["/filter", "/prioritize"]), with_one_key_dropped(listed))
        | st.tuples(st.just("/preempt"), with_one_key_dropped(preempt))
        | st.tuples(st.just("/bind"), with_one_key_dropped(bind))
    )
    if not mutate:
        return shaped
    return shaped | st.tuples(st.sampled_from(ENDPOINTS), cache | listed | preempt | bind)


def _node_list(items: list[Any]) -> dict[str, Any]:
    return {"metadata": {}, "items": items}


def assert_answered(reply: Any) -> None:
    assert reply.status in ALLOWED, (reply.status, reply.body[:300])
    assert reply.content_type == "application/json"
    doc = json.loads(reply.body)
    if reply.status != 200:
        assert isinstance(doc["Error"], str)
        assert doc["Error"]


def assert_still_serving(srv: Served) -> None:
    reply = srv.post("/filter", cache_args(pod(annotations=EDGE_ONLY), ["edge-1", "cloud-1"]))
    assert reply.status == 200
    assert reply.doc["NodeNames"] == ["edge-1"]


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), body=st.binary(max_size=200))
def test_random_bytes_are_answered_not_crashed_on(
    server: Served, endpoint: str, body: bytes
) -> None:
    assert_answered(server.request("POST", endpoint, body=body))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), doc=json_values())
def test_random_json_values_are_answered(server: Served, endpoint: str, doc: Any) -> None:
    assert_answered(server.post(endpoint, doc))


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), doc=protocol_objects())
def test_objects_with_protocol_keys_and_random_values_are_answered(
    server: Served, endpoint: str, doc: dict[str, Any]
) -> None:
    assert_answered(server.post(endpoint, doc))


@FUZZ
@given(request=requests_shaped_right(mutate=True))
def test_nearly_valid_requests_are_answered_without_internal_failures(
    server: Served, request: tuple[str, Any]
) -> None:
    endpoint, doc = request
    assert_answered(server.post(endpoint, doc))


@FUZZ
@given(request=requests_shaped_right(mutate=False))
def test_requests_of_the_right_shape_always_get_200_whatever_the_annotations_say(
    server: Served, request: tuple[str, Any]
) -> None:
    # Bad annotations, quantities and node labels are the protocol's Error field or a failed
    # node, never a bad request: kube-scheduler sent exactly what it should.
    endpoint, doc = request
    reply = server.post(endpoint, doc)
    assert reply.status == 200, reply.body[:300]
    assert_answered(reply)


VALID = {
    "/filter": cache_args(pod(annotations=EDGE_ONLY), ["edge-1", "cloud-1"]),
    "/prioritize": list_args(pod(annotations=EDGE_ONLY), [node("edge-1")]),
    "/bind": {"PodName": "p", "PodNamespace": "default", "PodUID": "uid-p", "Node": "edge-1"},
    "/preempt": {"Pod": pod(), "NodeNameToMetaVictims": {"edge-1": {"Pods": [{"UID": "a"}]}}},
}


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), cut=st.floats(min_value=0.0, max_value=0.999))
def test_truncated_json_is_a_bad_request(server: Served, endpoint: str, cut: float) -> None:
    body = json.dumps(VALID[endpoint]).encode()
    reply = server.request("POST", endpoint, body=body[: int(len(body) * cut)])
    assert reply.status == 400
    assert_answered(reply)


@FUZZ
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    content_type=st.sampled_from(
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "", None]
    )
    | st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30),
)
@example(endpoint="/filter", content_type="x;0*")  # aiohttp's own parser raised IndexError
@example(endpoint="/filter", content_type="+JSON")
def test_a_body_that_is_not_declared_json_is_a_bad_request(
    server: Served, endpoint: str, content_type: str | None
) -> None:
    body = json.dumps(VALID[endpoint]).encode()
    reply = server.request("POST", endpoint, body=body, content_type=content_type)
    if content_type and content_type.split(";")[0].strip().lower() == "application/json":
        return  # a random string that happens to be right
    assert reply.status == 400
    assert_answered(reply)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_valid_requests_are_answered_with_200_on_every_endpoint(
    server: Served, endpoint: str
) -> None:
    reply = server.post(endpoint, VALID[endpoint])
    assert reply.status == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_ten_megabytes_is_refused_with_413(server: Served, endpoint: str) -> None:
    body = b'{"Pod": "' + b"x" * (extender.MAX_BODY_BYTES + 1) + b'"}'
    assert_answered(reply := server.request("POST", endpoint, body=body))
    assert reply.status == 413
    assert_still_serving(server)


def test_a_streamed_body_over_the_limit_is_refused_with_413() -> None:
    # Chunked encoding has no Content-Length: the limit is enforced while reading.
    with served(make_view(*small_cluster()), max_body_bytes=1000) as srv:
        reply = srv.request("POST", "/filter", body=b" " * 5000, chunked=True)
        assert reply.status == 413
        assert reply.doc["Error"]
        assert_still_serving(srv)


def test_a_body_of_exactly_the_limit_is_read() -> None:
    doc = json.dumps(VALID["/filter"]).encode()
    with served(make_view(*small_cluster()), max_body_bytes=len(doc)) as srv:
        assert srv.request("POST", "/filter", body=doc).status == 200
        assert srv.request("POST", "/filter", body=doc + b" ").status == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/filter", 405, id="get-on-a-verb"),
        pytest.param("POST", "/schedule", 404, id="unknown-path"),
    ],
)
def test_wrong_routes_answer_json_errors(
    server: Served, method: str, path: str, status: int
) -> None:
    reply = server.request(method, path)
    assert reply.status == status
    assert reply.doc["Error"]


def test_deeply_nested_json_is_a_bad_request(server: Served) -> None:
    reply = server.request("POST", "/filter", body=b"[" * 100_000 + b"]" * 100_000)
    assert reply.status == 400


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_numbers_are_a_bad_request_as_in_go(server: Served, constant: bytes) -> None:
    body = b'{"PodName": "p", "PodNamespace": "default", "PodUID": ' + constant + b', "Node": "n"}'
    assert server.request("POST", "/bind", body=body).status == 400


def test_the_server_still_answers_after_all_of_it(server: Served) -> None:
    assert_still_serving(server)
