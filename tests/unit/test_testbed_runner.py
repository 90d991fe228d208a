"""The runner's own choices: ``--out DIR`` made before the run, the schedulers' order."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import runner


def test_a_missing_out_directory_is_made_before_the_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "not" / "yet"
    written: list[Path] = []

    def full(args: argparse.Namespace) -> dict[str, Any]:
        # The run's plots and partial JSON are written into it as each scenario ends.
        assert Path(args.out).is_dir()
        return {}

    monkeypatch.setattr(runner, "full", full)
    monkeypatch.setattr(runner.report, "write", lambda _doc, path: written.append(path))
    assert runner.main(["--out", str(out)]) == 0
    assert written == [out]


def test_the_run_order_rotates_by_one_per_scenario_and_keeps_every_scheduler() -> None:
    names = ["kube-scheduler", "extender", "binder", "batch"]
    orders = [runner.run_order(names, index) for index in range(5)]
    assert orders[0] == names
    assert orders[1] == ["extender", "binder", "batch", "kube-scheduler"]
    assert orders[4] == names
    assert [order[0] for order in orders[:4]] == names  # each first once in four scenarios
    assert all(sorted(order) == sorted(names) for order in orders)
    assert runner.run_order([], 3) == []


def test_the_page_lists_runs_in_its_own_order_whatever_order_they_ran_in() -> None:
    ran = {"binder": 1, "batch": 2, "kube-scheduler": 3, "extender": 4, "other": 5}
    assert list(runner.in_table_order(ran)) == [
        "kube-scheduler",
        "extender",
        "binder",
        "batch",
        "other",
    ]
