"""The scheduler process's memory settings (cloudedge.memory): they take on glibc, they are
a no-op with a reason where the C library lacks them, and the objects alive at the freeze
leave the cyclic collector's walk while staying ordinary objects."""

from __future__ import annotations

import ctypes.util
import gc
import logging
from collections.abc import Iterator

import pytest

from cloudedge import memory


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_glibc_takes_both_thresholds() -> None:
    assert memory.keep_freed_memory() is True


def test_a_c_library_without_mallopt_changes_nothing_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda _name: "libnot-a-c-library.so.0")
    with caplog.at_level(logging.INFO, logger="cloudedge.memory"):
        assert memory.keep_freed_memory() is False
    assert "no mallopt" in caplog.text


class Node:
    """A stand-in for an object of the synced view, with a cycle through its dict."""

    def __init__(self) -> None:
        self.me = self


@pytest.mark.usefixtures("unfrozen")
def test_objects_alive_at_the_freeze_are_no_longer_tracked_by_collections() -> None:
    survivor = Node()
    frozen = memory.freeze_survivors()
    assert frozen == gc.get_freeze_count() > 0
    # A frozen object is in no generation the collector walks; a new one is.
    assert not any(obj is survivor for obj in gc.get_objects())
    newcomer = Node()
    assert any(obj is newcomer for obj in gc.get_objects())
    assert survivor.me is survivor
