"""One task end to end on kind: a shaped link, a measured transfer, measured processing.

Needs Docker and the kind scripts; the cluster is ``$KIND_CLUSTER_NAME`` (default
``cloudedge``, the one ``make kind-up`` makes), created with the small topology when absent.
``make test`` runs it after the kind suite, on that suite's cluster (``make testbed-smoke``).
It asserts on structure and on shaping accuracy (the testbed's premise), never on how fast a
scheduler is.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from bench.testbed import runner


@pytest.fixture(scope="module")
def record() -> dict[str, object]:
    args = runner.parse(["--smoke"])
    return runner.smoke(args)


@pytest.mark.timeout(1800)
def test_the_task_ran_to_the_end_on_the_edge_node(record: dict[str, object]) -> None:
    assert record["phase"] == "Succeeded", record
    assert record["error"] is None
    assert record["node"] is not None


def test_the_task_received_every_byte_it_declared(record: dict[str, object]) -> None:
    measured = record["measured"]
    assert isinstance(measured, dict), record
    assert measured["bytes"] == 40_000_000


def test_a_single_transfer_moves_at_the_shaped_rate_within_ten_percent(
    record: dict[str, object],
) -> None:
    shaping = record["shaping"]
    assert isinstance(shaping, dict), record
    assert shaping["within_10_percent"], shaping


def test_processing_wait_and_total_are_measured_and_consistent(record: dict[str, object]) -> None:
    measured = record["measured"]
    assert isinstance(measured, dict), record
    assert measured["units"] == 500
    assert measured["processing_s"] > 0
    assert measured["wait_s"] >= 0
    parts = measured["wait_s"] + measured["transfer_s"] + measured["processing_s"]
    assert measured["total_s"] >= parts - 0.01


def test_the_task_measured_inside_its_nodes_quota(record: dict[str, object]) -> None:
    """The quota bounds the task's fetch and work, not its start: it moved itself into the
    node's quota cgroup, and its processing took the CPU it burnt plus time waiting for it."""
    measured = record["measured"]
    assert isinstance(measured, dict), record
    quota = measured["quota_cgroup"]
    assert isinstance(quota, str), measured
    assert quota.startswith("/testbed-work/"), measured
    cpu, runnable = measured["processing_cpu_s"], measured["processing_runnable_s"]
    assert isinstance(cpu, float), measured
    assert isinstance(runnable, float), measured
    assert cpu > 0
    assert cpu + runnable <= measured["processing_s"] + 0.01


def test_the_task_ran_on_the_cpus_kept_for_the_tasks(record: dict[str, object]) -> None:
    """The task ran on the CPU no node daemon, pod start or control plane uses (the host's
    last, by default): the cpuset it entered once started."""
    measured = record["measured"]
    assert isinstance(measured, dict), record
    work = record["work_cpus"]
    assert isinstance(work, str), record
    assert measured["work_cpus"] == [int(cpu) for cpu in work.split(",")], measured


def test_the_bind_was_watched_between_submission_and_the_task_start(
    record: dict[str, object],
) -> None:
    # The runner's watch of the real API server saw the pod bound: after its submission,
    # before its task ran, and within a second of the API server's whole-second stamp.
    stamps = record["milestones"]
    measured = record["measured"]
    assert isinstance(stamps, dict)
    assert isinstance(measured, dict)
    bound = stamps["bound_s"]
    assert bound is not None, stamps
    assert 0.0 <= bound <= measured["wait_s"]
    assert stamps["scheduled_s"] - 1.0 <= bound <= stamps["scheduled_s"] + 1.0
