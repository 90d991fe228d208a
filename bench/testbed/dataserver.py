"""The testbed's data server: objects of any size, delivered with the topology's latency.

One runs per data-source site (or data-source node), pinned to a node of it. A task asks
``GET /objects?bytes=N&site=S`` and receives N bytes, as if its input lived here.

This kernel has no netem, so latency cannot come from the network: the server adds it. Before
the first byte it waits the site-to-site latency that the ``NetworkTopology`` gives between its
own site and the requesting site ``S``, and where the topology caps that link's bandwidth it
paces the body to the cap: one pacer per link, shared by every transfer over it, so that
concurrent transfers to one site share the link's cap as they would share a real link (each
transfer paced to the whole cap on its own would multiply the link); each chunk leaves at the
end of its slot on the link, so even an object of one chunk takes its time. Node bandwidth is *not*
paced here: tbf on the nodes' links shapes it, so co-located transfers really share a link.

A site's data (a camera store's recordings) is served from a node of that site. A task on
that very node fetches it without crossing any shaped link (the traffic stays inside the node),
while the model charges the node's own link for it: the task names its node (``node=N``) and,
where the runner gives the server ``TESTBED_LOCAL_MBPS``, such requests are paced to that rate,
one pacer shared by them all.

Configuration (environment): ``TESTBED_SITE`` (its own site), ``TESTBED_NODE`` (its node),
``TESTBED_LOCAL_MBPS`` (the pace of requests from its own node; unset: not paced),
``TESTBED_LINKS`` (JSON:
``{site: {"latency_ms": float, "bandwidth_mbps": float | null}}`` for every site it serves),
``TESTBED_BIND`` (``host:port``, default ``127.0.0.1:8000``; ``0.0.0.0:8000`` in a pod, where
only the kind network reaches it).

Stdlib only, like the task: the image holds python3 and these two files.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import math
import os
import socketserver
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

MAX_BYTES = 10 * 1000 * 1000 * 1000
"""The largest object served (10 GB): bigger than any scenario's input, and a bound so that a
typo cannot keep a link busy for hours."""

CHUNK = 16 * 1024
"""Write size: pacing granularity, and small enough that memory stays bounded."""

_PAYLOAD = bytes(range(256)) * (CHUNK // 256)
"""The body's content: fixed bytes, so serving costs no CPU beyond the copy."""


class RequestError(Exception):
    """A request the server refuses: the message says what was wrong and what is allowed."""


@dataclasses.dataclass(frozen=True)
class Link:
    """What the topology says about the path from this server's site to one site."""

    latency_ms: float
    bandwidth_mbps: float | None


def parse_links(raw: str) -> dict[str, Link]:
    """``TESTBED_LINKS`` -> site -> :class:`Link`; a clear error on any bad entry."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TESTBED_LINKS: not JSON ({err})") from err
    if not isinstance(doc, dict):
        raise ValueError("TESTBED_LINKS: expected an object of site -> link")
    links: dict[str, Link] = {}
    for site, entry in doc.items():
        if not isinstance(entry, dict):
            raise ValueError(f"TESTBED_LINKS[{site!r}]: expected an object")
        latency = entry.get("latency_ms")
        bandwidth = entry.get("bandwidth_mbps")
        if (
            isinstance(latency, bool)
            or not isinstance(latency, int | float)
            or not math.isfinite(latency)
            or latency < 0
        ):
            raise ValueError(f"TESTBED_LINKS[{site!r}].latency_ms={latency!r}: expected >= 0")
        if bandwidth is not None and (
            isinstance(bandwidth, bool)
            or not isinstance(bandwidth, int | float)
            or not math.isfinite(bandwidth)
            or bandwidth <= 0
        ):
            raise ValueError(
                f"TESTBED_LINKS[{site!r}].bandwidth_mbps={bandwidth!r}: expected > 0 or null"
            )
        links[site] = Link(
            latency_ms=float(latency),
            bandwidth_mbps=None if bandwidth is None else float(bandwidth),
        )
    return links


@dataclasses.dataclass(frozen=True)
class ObjectRequest:
    """A validated ``/objects`` request."""

    size: int
    site: str
    node: str = ""
    """The requesting task's node (empty when it did not say)."""


def parse_request(path: str) -> ObjectRequest:
    """``/objects?bytes=N&site=S`` -> :class:`ObjectRequest`, or a :class:`RequestError`."""
    parts = urllib.parse.urlsplit(path)
    if parts.path != "/objects":
        raise RequestError(f"unknown path {parts.path!r}: use /objects?bytes=N&site=S")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    sizes, sites = query.get("bytes", []), query.get("site", [])
    if len(sizes) != 1 or not sizes[0].isdigit():
        raise RequestError(f"bytes={sizes!r}: expected one integer from 0 to {MAX_BYTES}")
    size = int(sizes[0])
    if size > MAX_BYTES:
        raise RequestError(f"bytes={size}: at most {MAX_BYTES}")
    if len(sites) != 1 or not sites[0]:
        raise RequestError(f"site={sites!r}: expected the requesting pod's site")
    nodes = query.get("node", [])
    if len(nodes) > 1:
        raise RequestError(f"node={nodes!r}: expected at most one, the requesting pod's node")
    return ObjectRequest(size=size, site=sites[0], node=nodes[0] if nodes else "")


def link_to(links: Mapping[str, Link], site: str) -> Link:
    """The link to ``site``; an unknown site is a request error (the runner lists every site)."""
    try:
        return links[site]
    except KeyError:
        known = ", ".join(sorted(links)) or "none"
        raise RequestError(f"site={site!r}: unknown (known: {known})") from None


def paced_deadline(sent_bytes: int, bandwidth_mbps: float | None) -> float:
    """Seconds after the first byte by which ``sent_bytes`` may have left at the link's cap."""
    if bandwidth_mbps is None:
        return 0.0
    return sent_bytes * 8 / (bandwidth_mbps * 1e6)


class LinkPacer:
    """One capped link's time, shared by every transfer this server sends over it.

    Each chunk books the link for its own duration at the cap, after whatever is booked
    already; the sender then waits until its booking ends. Concurrent transfers book chunk
    after chunk in turn, so each gets an equal share and together they never exceed the cap.
    """

    def __init__(self, bandwidth_mbps: float) -> None:
        self.bytes_per_second = bandwidth_mbps * 1e6 / 8
        self._free_at = 0.0
        self._lock = threading.Lock()

    def book(self, nbytes: int, now: float) -> float:
        """The monotonic time at which ``nbytes`` sent from ``now`` have left the link."""
        with self._lock:
            start = max(now, self._free_at)
            self._free_at = start + nbytes / self.bytes_per_second
            return self._free_at


class Handler(http.server.BaseHTTPRequestHandler):
    """``GET /objects`` and ``GET /healthz``; everything else is a 404 with the usage."""

    protocol_version = "HTTP/1.1"
    server: DataServer

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n")
            return
        try:
            request = parse_request(self.path)
            link = link_to(self.server.links, request.site)
        except RequestError as err:
            self._reply(400 if self.path.startswith("/objects") else 404, f"{err}\n".encode())
            return
        # The topology's latency, added by the application because the kernel has no netem.
        time.sleep(link.latency_ms / 1000.0)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(request.size))
        self.end_headers()
        local = bool(request.node) and request.node == self.server.node
        pacer = self.server.local_pacer if local else self.server.pacers.get(request.site)
        sent = 0
        while sent < request.size:
            n = min(CHUNK, request.size - sent)
            if pacer is not None:
                # A chunk arrives once the link has carried it: wait for the end of its slot,
                # then send it. (Sending first and waiting after let an object of one chunk,
                # a detection frame of 40 kB, arrive at once whatever the cap.)
                ahead = pacer.book(n, time.monotonic()) - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            self.wfile.write(_PAYLOAD[:n])
            sent += n

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """One line per request on stderr, as ``kubectl logs`` shows it."""
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class DataServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A threading HTTP server: concurrent transfers share the shaped link, as they would."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        site: str,
        links: Mapping[str, Link],
        node: str = "",
        local_mbps: float | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.site = site
        self.node = node
        self.local_pacer = None if local_mbps is None else LinkPacer(local_mbps)
        """Paces requests from this server's own node (the site's LAN hop), when set."""
        self.links = dict(links)
        self.pacers = {
            name: LinkPacer(link.bandwidth_mbps)
            for name, link in self.links.items()
            if link.bandwidth_mbps is not None
        }
        """Site -> the pacer of the capped link to it (uncapped links have none)."""


def parse_rate(raw: str) -> float | None:
    """``TESTBED_LOCAL_MBPS`` -> Mbit/s (empty: None, no pacing)."""
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"TESTBED_LOCAL_MBPS={raw!r}: expected Mbit/s > 0, or unset")
    return rate


def parse_bind(raw: str) -> tuple[str, int]:
    """``host:port`` -> (host, port)."""
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"TESTBED_BIND={raw!r}: expected host:port")
    return host or "127.0.0.1", int(port)


def main() -> int:
    """Serve until killed, configured by the environment (see the module docstring)."""
    try:
        site = os.environ["TESTBED_SITE"]
        links = parse_links(os.environ.get("TESTBED_LINKS", "{}"))
        address = parse_bind(os.environ.get("TESTBED_BIND", "127.0.0.1:8000"))
        local_mbps = parse_rate(os.environ.get("TESTBED_LOCAL_MBPS", ""))
    except (KeyError, ValueError) as err:
        print(f"dataserver: {err}", file=sys.stderr)
        return 2
    server = DataServer(
        address,
        site=site,
        links=links,
        node=os.environ.get("TESTBED_NODE", ""),
        local_mbps=local_mbps,
    )
    print(f"dataserver: site {site}, {len(links)} links, on {address[0]}:{address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
