"""kopf's work: the NetworkTopology ``status.sites`` column, written only when it changes.

The handler runs in kopf against a real API server in tests/e2e/test_operator.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from test_inputs_topology import link, network

from cloudedge.scheduler import operator


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        pytest.param(None, 0, id="no-spec"),
        pytest.param({"links": [link("a", "b")]}, 2, id="both-ends-of-a-link"),
        pytest.param(
            {"sites": [{"name": "cam", "tier": "edge"}], "links": [link("a", "cam")]},
            2,
            id="declared-and-linked-counted-once",
        ),
        pytest.param({"links": [link("a", "a")]}, None, id="refused-topology"),
    ],
)
def test_the_sites_column_counts_every_site_a_topology_names(
    spec: dict[str, Any] | None, count: int | None
) -> None:
    assert operator.sites(network(spec)) == count


def handle(obj: dict[str, Any], event: str = "MODIFIED") -> dict[str, Any]:
    """Run the registered NetworkTopology handler as kopf would; returns its patch."""
    reg = operator.registry()
    handlers = [h for h in reg._watching.get_all_handlers() if h.id.endswith("topology_status")]
    assert len(handlers) == 1
    patch = kopf.Patch()
    result = handlers[0].fn(event={"type": event, "object": obj}, body=obj, patch=patch)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return dict(patch)


def test_a_changed_count_is_written_to_the_status() -> None:
    assert handle(network({"links": [link("a", "b")]})) == {"status": {"sites": 2}}


def test_an_unchanged_count_writes_nothing_so_a_status_write_does_not_loop() -> None:
    obj = {**network({"links": [link("a", "b")]}), "status": {"sites": 2}}
    assert handle(obj) == {}


def test_a_deleted_topology_is_not_patched() -> None:
    assert handle(network({"links": [link("a", "b")]}), event="DELETED") == {}
