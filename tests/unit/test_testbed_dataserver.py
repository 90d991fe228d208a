"""The testbed data server: request validation, the latency it adds, the pacing to link caps."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import dataserver


class TestRequests:
    def test_an_object_request_names_its_size_and_the_requesting_site(self) -> None:
        request = dataserver.parse_request("/objects?bytes=2000000&site=store-1")
        assert request == dataserver.ObjectRequest(size=2_000_000, site="store-1")

    @pytest.mark.parametrize(
        ("path", "message"),
        [
            ("/objects?site=a", "bytes"),
            ("/objects?bytes=-1&site=a", "bytes"),
            ("/objects?bytes=1.5&site=a", "bytes"),
            ("/objects?bytes=1&bytes=2&site=a", "bytes"),
            (f"/objects?bytes={dataserver.MAX_BYTES + 1}&site=a", "at most"),
            ("/objects?bytes=1", "site"),
            ("/objects?bytes=1&site=", "site"),
            ("/files?bytes=1&site=a", "unknown path"),
        ],
        ids=[
            "no-size",
            "negative",
            "fraction",
            "two-sizes",
            "too-big",
            "no-site",
            "empty-site",
            "wrong-path",
        ],
    )
    def test_a_bad_request_says_what_is_allowed(self, path: str, message: str) -> None:
        with pytest.raises(dataserver.RequestError, match=message):
            dataserver.parse_request(path)


class TestLinks:
    def test_links_come_from_the_runner_json(self) -> None:
        links = dataserver.parse_links(
            json.dumps(
                {
                    "store-1": {"latency_ms": 0.5, "bandwidth_mbps": None},
                    "cloud": {"latency_ms": 40, "bandwidth_mbps": 20},
                }
            )
        )
        assert links == {
            "store-1": dataserver.Link(0.5, None),
            "cloud": dataserver.Link(40.0, 20.0),
        }

    @pytest.mark.parametrize(
        "raw",
        [
            "not json",
            "[]",
            '{"a": 3}',
            '{"a": {"latency_ms": -1}}',
            '{"a": {"latency_ms": true}}',
            '{"a": {"latency_ms": 1, "bandwidth_mbps": 0}}',
        ],
        ids=["not-json", "list", "not-an-object", "negative-latency", "bool", "zero-bandwidth"],
    )
    def test_a_bad_link_table_is_refused_at_start(self, raw: str) -> None:
        with pytest.raises(ValueError, match="TESTBED_LINKS"):
            dataserver.parse_links(raw)

    def test_an_unknown_site_lists_the_known_ones(self) -> None:
        with pytest.raises(dataserver.RequestError, match="known: a, b"):
            dataserver.link_to({"a": dataserver.Link(1, None), "b": dataserver.Link(1, None)}, "c")

    def test_pacing_holds_each_byte_to_the_link_cap(self) -> None:
        # 1 MB at 8 Mbit/s leaves after one second; an uncapped link never waits.
        assert dataserver.paced_deadline(1_000_000, 8.0) == pytest.approx(1.0)
        assert dataserver.paced_deadline(1_000_000, None) == 0.0

    def test_transfers_over_one_link_share_its_cap(self) -> None:
        # Two transfers booking 1 MB each, chunk after chunk, at 8 Mbit/s: together they
        # leave after two seconds, not one (each paced alone would double the link).
        pacer = dataserver.LinkPacer(8.0)
        ends = [pacer.book(100_000, 0.0) for _ in range(20)]
        assert ends[-1] == pytest.approx(2.0)
        assert ends == sorted(ends)

    def test_an_idle_link_books_from_now(self) -> None:
        pacer = dataserver.LinkPacer(8.0)
        assert pacer.book(1_000_000, 0.0) == pytest.approx(1.0)
        assert pacer.book(1_000_000, 5.0) == pytest.approx(6.0)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("0.0.0.0:8000", ("0.0.0.0", 8000)), (":9", ("127.0.0.1", 9))],
        ids=["all", "default-host"],
    )
    def test_the_bind_address_is_host_and_port(self, raw: str, expected: tuple[str, int]) -> None:
        assert dataserver.parse_bind(raw) == expected

    def test_a_bind_address_without_a_port_is_refused(self) -> None:
        with pytest.raises(ValueError, match="TESTBED_BIND"):
            dataserver.parse_bind("localhost")


@pytest.fixture
def server() -> Iterator[dataserver.DataServer]:
    links = {
        "cloud": dataserver.Link(latency_ms=40.0, bandwidth_mbps=800.0),
        "store-1": dataserver.Link(latency_ms=0.5, bandwidth_mbps=None),
    }
    srv = dataserver.DataServer(("127.0.0.1", 0), site="store-1", links=links)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def get(srv: dataserver.DataServer, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class TestServing:
    def test_serves_exactly_the_bytes_asked(self, server: dataserver.DataServer) -> None:
        status, body = get(server, "/objects?bytes=200000&site=store-1")
        assert status == 200
        assert len(body) == 200_000

    def test_adds_the_topology_latency_before_the_first_byte_and_paces_to_the_cap(
        self, server: dataserver.DataServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sleeps: list[float] = []
        monkeypatch.setattr(dataserver.time, "sleep", sleeps.append)
        status, body = get(server, "/objects?bytes=100000&site=cloud")
        assert status == 200
        assert len(body) == 100_000
        assert sleeps[0] == pytest.approx(0.040)
        # Pacing waits only for bytes ahead of the cap: never past the whole body's deadline.
        assert all(s <= dataserver.paced_deadline(100_000, 800.0) for s in sleeps[1:])

    def test_a_small_object_takes_its_time_at_the_cap(self) -> None:
        # 40 kB (a detection frame) over a link capped at 3.2 Mbit/s takes 0.1 s: the bytes
        # arrive when the link has carried them, not at once. A lower bound only: a slow
        # machine makes it later, never earlier.
        links = {"cloud": dataserver.Link(latency_ms=0.0, bandwidth_mbps=3.2)}
        srv = dataserver.DataServer(("127.0.0.1", 0), site="store-1", links=links)
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            started = time.monotonic()
            status, body = get(srv, "/objects?bytes=40000&site=cloud")
            elapsed = time.monotonic() - started
        finally:
            srv.shutdown()
            srv.server_close()
        assert (status, len(body)) == (200, 40_000)
        assert elapsed >= 0.1 * 0.99

    def test_a_request_from_the_server_s_own_node_is_paced_to_the_local_rate(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        links = {"store-1": dataserver.Link(latency_ms=0.0, bandwidth_mbps=None)}
        srv = dataserver.DataServer(
            ("127.0.0.1", 0), site="store-1", links=links, node="w2", local_mbps=8.0
        )
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        sleeps: list[float] = []
        try:
            monkeypatch.setattr(dataserver.time, "sleep", sleeps.append)
            get(srv, "/objects?bytes=200000&site=store-1&node=w1")
            other_node = list(sleeps)
            get(srv, "/objects?bytes=200000&site=store-1&node=w2")
        finally:
            srv.shutdown()
            srv.server_close()
        # Another node of the site crosses a shaped link (tbf); nothing paces it here. The
        # server's own node is paced: with the clock held still, the last chunk waits for the
        # whole body's time at the rate, 200 kB at 8 Mbit/s = 0.2 s.
        assert sum(other_node) == pytest.approx(0.0)
        assert max(sleeps[len(other_node) :]) == pytest.approx(0.2, abs=0.01)

    def test_a_request_names_at_most_one_node(self) -> None:
        assert dataserver.parse_request("/objects?bytes=1&site=a&node=w1").node == "w1"
        with pytest.raises(dataserver.RequestError, match="at most one"):
            dataserver.parse_request("/objects?bytes=1&site=a&node=w1&node=w2")

    @pytest.mark.parametrize("raw", ["0", "-1", "fast", "nan"])
    def test_a_bad_local_rate_is_refused_at_start(self, raw: str) -> None:
        with pytest.raises(ValueError, match="TESTBED_LOCAL_MBPS"):
            dataserver.parse_rate(raw)

    def test_a_bad_request_is_a_400_with_the_reason(self, server: dataserver.DataServer) -> None:
        status, body = get(server, "/objects?bytes=1&site=mars")
        assert status == 400
        assert b"site='mars'" in body

    def test_healthz_answers(self, server: dataserver.DataServer) -> None:
        assert get(server, "/healthz") == (200, b"ok\n")
