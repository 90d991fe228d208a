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


class TestTasksCpus:
    def test_by_default_the_tasks_have_one_cpu_and_the_quotas_fit_in_it(
        self, tmp_path: Path
    ) -> None:
        args = runner.parse(["--log-dir", str(tmp_path)])
        assert args.work_cpus == 1
        assert 0 < args.cpu_budget <= 1

    def test_quotas_beyond_the_tasks_cpus_are_refused_naming_both(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit):
            runner.parse(["--log-dir", str(tmp_path), "--cpu-budget", "1.5"])
        assert "--cpu-budget 1.5: more than the 1 CPU(s) the tasks have" in capsys.readouterr().err
        # Shared CPUs take any budget.
        assert runner.parse(["--log-dir", str(tmp_path), "--cpu-budget", "1.5", "--work-cpus", "0"])

    @pytest.mark.parametrize("work", ["-1", "2"])
    def test_a_count_that_leaves_no_cpu_to_either_side_is_refused(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        work: str,
    ) -> None:
        monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _: {0, 1})
        with pytest.raises(SystemExit):
            runner.parse(["--log-dir", str(tmp_path), "--work-cpus", work, "--cpu-budget", "0.5"])
        assert f"--work-cpus {work}: this host has 2 CPUs" in capsys.readouterr().err

    def test_no_split_when_the_tasks_share_every_cpu(self, tmp_path: Path) -> None:
        args = runner.parse(["--log-dir", str(tmp_path), "--work-cpus", "0"])
        assert runner.cpu_split(args) is None


def test_a_scenario_takes_the_same_testbed_time_at_any_cpu_budget() -> None:
    burst = runner.scenarios.load("burst")
    assert burst.work_at(runner.scenarios.CPU_BUDGET) == burst.work
    # Time is work over rate, and the rate follows the budget: the work follows it too.
    assert burst.work_at(0.45) == pytest.approx(burst.work / 2)


def test_the_run_keeps_off_the_tasks_cpus_and_weighs_the_control_plane_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    affinity: list[set[int]] = [{0, 1}]
    shares = {"cloudedge-control-plane": 1024}

    def weigh(container: str, value: int | None = None) -> int:
        before = shares[container]
        if value is not None:
            shares[container] = value
        return before

    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda _: affinity[-1])
    monkeypatch.setattr(runner.os, "sched_setaffinity", lambda _, cpus: affinity.append(cpus))
    monkeypatch.setattr(
        runner.cluster, "control_plane_container", lambda _: "cloudedge-control-plane"
    )
    monkeypatch.setattr(runner.cluster, "container_cpu_shares", weigh)
    with runner.cpus_apart("cloudedge", runner.cluster.CpuSplit(work="1", rest="0")):
        assert affinity[-1] == {0}
        assert shares["cloudedge-control-plane"] == runner.cluster.CONTROL_PLANE_CPU_SHARES
    assert affinity[-1] == {0, 1}
    assert shares["cloudedge-control-plane"] == 1024
    # Tasks sharing every CPU: nothing to keep apart.
    with runner.cpus_apart("cloudedge", None):
        assert affinity[-1] == {0, 1}
