"""The testbed's numbers: completion summaries, deadline misses, model error, the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench.testbed import report


def pod(
    cls: str,
    total: float | None,
    *,
    deadline: float | None = None,
    started: bool = True,
    predicted: float | None = None,
) -> dict[str, Any]:
    done = total is not None
    return {
        "pod": f"{cls}-{total}",
        "class": cls,
        "node": "n1" if started else None,
        "phase": "Succeeded" if done else ("Failed" if started else "Pending"),
        "started": started,
        "submitted_at": 100.0,
        "deadline_s": deadline,
        "measured": (
            {
                "total_s": total,
                "finished_at": 100.0 + total,
                "transfer_s": total / 2,
                "wait_s": 0.0,
                "processing_s": total / 2,
            }
            if done
            else None
        ),
        "predicted": (
            {
                "ect_s": predicted,
                "transfer_s": predicted / 2,
                "waiting_s": 0.0,
                "processing_s": predicted / 2,
            }
            if predicted is not None
            else None
        ),
    }


class TestPercentile:
    @pytest.mark.parametrize(
        ("values", "q", "expected"),
        [
            ([1.0], 95, 1.0),
            ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
            (list(map(float, range(1, 21))), 95, 19.0),
        ],
        ids=["one", "median", "p95-of-20"],
    )
    def test_is_nearest_rank(self, values: list[float], q: float, expected: float) -> None:
        assert report.percentile(values, q) == expected

    def test_of_nothing_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="no values"):
            report.percentile([], 50)


class TestSummary:
    def test_counts_completed_stranded_failed_and_missed_pods(self) -> None:
        pods = [
            pod("latency-sensitive", 2.0, deadline=3.0),
            pod("latency-sensitive", 4.0, deadline=3.0),
            pod("latency-sensitive", None, deadline=3.0, started=False),
            pod("batch", 10.0),
            pod("batch", None),
        ]
        s = report.summarize(pods)
        assert s["pods"] == 5
        assert s["completed"] == 3
        assert s["never_started"] == 1
        assert s["failed"] == 1
        assert s["deadline_pods"] == 3
        # Late, and never started: both miss.
        assert s["deadline_misses"] == 2
        # After its container started, the late pod took 4 s of transfer and processing.
        assert s["deadline_misses_after_start"] == 2
        assert s["makespan_s"] == 10.0
        assert s["classes"]["latency-sensitive"] == {"count": 2, "mean_s": 3.0, "p95_s": 4.0}
        assert s["classes"]["batch"]["mean_s"] == 10.0

    def test_a_pod_late_only_by_its_wait_to_start_meets_the_deadline_after_start(self) -> None:
        late = pod("latency-sensitive", 4.0, deadline=3.0)
        late["measured"].update(wait_s=2.0, transfer_s=1.0, processing_s=1.0)
        s = report.summarize([late])
        assert (s["deadline_misses"], s["deadline_misses_after_start"]) == (1, 0)

    def test_a_pod_cut_by_the_run_timeout_counts_at_its_time_so_far(self) -> None:
        # The slow job of kube-scheduler's run was still running when the run timed out, 240 s
        # after submission: left out, the mean would be 3 s; counted at its bound, 82 s.
        slow = pod("batch", None)
        slow.update(phase="Running", cut_after_s=240.0)
        s = report.summarize([pod("batch", 2.0), pod("batch", 4.0), slow])
        assert (s["completed"], s["cut"], s["failed"]) == (2, 1, 0)
        assert s["lower_bound"] is True
        assert s["mean_s"] == 82.0
        assert s["p95_s"] == 240.0
        assert s["makespan_s"] == 240.0
        assert s["classes"]["batch"]["lower_bound"] is True
        # Still a miss if it had a deadline, and never a completion.
        assert report.total_or_bound(slow) == 240.0

    def test_a_failed_pod_is_not_counted_as_cut(self) -> None:
        failed = pod("batch", None)
        failed["cut_after_s"] = 240.0
        s = report.summarize([pod("batch", 2.0), failed])
        assert (s["cut"], s["failed"], s["mean_s"], s["lower_bound"]) == (0, 1, 2.0, False)

    def test_a_run_where_nothing_completed_has_no_times(self) -> None:
        s = report.summarize([pod("batch", None, started=False)])
        assert (s["mean_s"], s["p95_s"], s["makespan_s"]) == (None, None, None)


class TestModelError:
    def test_is_the_median_relative_error_per_term(self) -> None:
        pods = [
            pod("b", 2.0, predicted=2.0),
            pod("b", 4.0, predicted=2.0),
            pod("b", 1.0, predicted=2.0),
        ]
        errors = report.term_errors(pods)
        assert errors["total"] == {"pods": 3, "median_abs_error": 0.5, "median_ratio": 1.0}

    def test_skips_pods_without_a_prediction_or_a_measurable_time(self) -> None:
        pods = [pod("b", 2.0), pod("b", None, predicted=1.0), pod("b", 2.0, predicted=2.0)]
        pods[2]["measured"]["wait_s"] = 0.0
        errors = report.term_errors(pods)
        assert errors["total"]["pods"] == 1
        assert errors["waiting"] == {"pods": 0, "median_abs_error": None, "median_ratio": None}

    def test_a_term_too_small_to_matter_on_both_sides_is_not_compared(self) -> None:
        # A local fetch: the model says 0, the task measured 10 ms of a 2 s pod (0.5%).
        small = pod("b", 2.0, predicted=2.0)
        small["measured"]["transfer_s"] = 0.010
        small["predicted"]["transfer_s"] = 0.0
        # The same fetch at 30% of the pod is compared, and is a 100% error.
        large = pod("b", 2.0, predicted=2.0)
        large["measured"]["transfer_s"] = 0.6
        large["predicted"]["transfer_s"] = 0.0
        assert report.term_errors([small])["transfer"]["pods"] == 0
        assert report.term_errors([large])["transfer"] == {
            "pods": 1,
            "median_abs_error": 1.0,
            "median_ratio": 0.0,
        }

    def test_the_reading_before_calibration_is_graded_from_its_own_key(self) -> None:
        p = pod("b", 2.0, predicted=2.0)
        p["predicted_queueing"] = {**p["predicted"], "ect_s": 1.0}
        assert report.term_errors([p])["total"]["median_ratio"] == 1.0
        assert report.term_errors([p], "predicted_queueing")["total"]["median_ratio"] == 0.5


class TestTargets:
    @pytest.mark.parametrize(
        ("measured", "shaped", "within"),
        [(104.0, 100.0, True), (90.5, 100.0, True), (111.0, 100.0, False), (50.0, 100.0, False)],
        ids=["4-percent-over", "9.5-percent-under", "11-percent-over", "half"],
    )
    def test_shaping_is_judged_within_ten_percent(
        self, measured: float, shaped: float, within: bool
    ) -> None:
        assert report.shaping_check(measured, shaped)["within_10_percent"] is within

    def test_ratios_are_each_scheduler_over_the_baseline(self) -> None:
        base = {
            "mean_s": 10.0,
            "p95_s": 20.0,
            "deadline_misses": 6,
            "deadline_misses_after_start": 4,
            "completed": 9,
        }
        ours = {
            "mean_s": 5.0,
            "p95_s": 8.0,
            "deadline_misses": 2,
            "deadline_misses_after_start": 1,
            "completed": 10,
        }
        ratios = report.ratios_to_baseline(
            {"kube-scheduler": base, "binder": ours}, baseline="kube-scheduler"
        )
        assert ratios == {
            "binder": {
                "mean_ratio": 0.5,
                "p95_ratio": 0.4,
                "deadline_miss_ratio": 0.3333,
                "deadline_miss_after_start_ratio": 0.25,
                "completed_minus_baseline": 1,
                "bound": None,
            }
        }

    @pytest.mark.parametrize(
        ("ours_cut", "theirs_cut", "bound"),
        [(False, True, "upper"), (True, False, "lower"), (True, True, "unknown")],
        ids=["baseline-cut", "ours-cut", "both-cut"],
    )
    def test_a_ratio_over_cut_pods_says_which_bound_it_is(
        self, ours_cut: bool, theirs_cut: bool, bound: str
    ) -> None:
        def summary(lower: bool) -> dict[str, Any]:
            return {"mean_s": 4.0, "p95_s": 8.0, "completed": 3, "lower_bound": lower}

        ratios = report.ratios_to_baseline(
            {"kube-scheduler": summary(theirs_cut), "binder": summary(ours_cut)},
            baseline="kube-scheduler",
        )
        assert ratios["binder"]["bound"] == bound
        page = report.targets({"ratios": ratios, "schedulers": {}})
        assert "bound" in " ".join(page)


def test_the_page_and_the_json_are_written_from_one_document(tmp_path: Path) -> None:
    pods = [pod("batch", 2.0, predicted=1.5)]
    summary = report.summarize(pods)
    doc = {
        "commit": "abc1234",
        "started": "s",
        "finished": "f",
        "cluster": "cloudedge-testbed",
        "cpu_budget": 1.5,
        "iterations_per_unit": 2000.0,
        "machine": {"cpus": 2, "cpu_model": "x", "memory_gib": 24, "load_start": 1, "load_end": 2},
        "shaping": {"bytes": 4e7, **report.shaping_check(97.0, 100.0)},
        "scenarios": [
            {
                "name": "seed",
                "scale": {"rate": 0.27, "work": 8, "resources": 1, "time": 29.3},
                "baseline": "kube-scheduler",
                "order": ["binder", "kube-scheduler"],
                "schedulers": {
                    "binder": {
                        "summary": summary,
                        "model_error": report.term_errors(pods),
                        "pods": pods,
                    }
                },
                "ratios": {},
            }
        ],
        "notes": "## How the testbed works",
    }
    report.write(doc, tmp_path)
    text = (tmp_path / "testbed.md").read_text()
    assert "commit `abc1234`" in text
    assert "| binder | 1 | 1 | 0 | 0 | 0 | 0/0 (0) |" in text
    assert "ratio 0.970; target within ±10%: met" in text
    assert "Run order: binder, kube-scheduler (rotated by one per scenario)." in text
    assert (tmp_path / "testbed.json").read_text().startswith("{")
    report.plot(doc["scenarios"][0], tmp_path / "seed.png")
    assert (tmp_path / "seed.png").stat().st_size > 0


def test_the_wait_is_split_at_the_medians_of_the_api_servers_stamps() -> None:
    pods = []
    for k, (created, scheduled, container, task) in enumerate(
        [(0.0, 1.0, 5.0, 5.4), (1.0, 2.0, 6.0, 6.3), (1.0, 4.0, 9.0, 9.5)]
    ):
        p = pod("batch", 10.0 + k)
        p["measured"]["wait_s"] = task
        p["milestones"] = {
            "created_s": created,
            "bound_s": scheduled - 0.4,
            "scheduled_s": scheduled,
            "container_started_s": container,
        }
        pods.append(p)
    never = pod("batch", None, started=False)
    never["milestones"] = {"created_s": 0.0, "scheduled_s": None, "container_started_s": None}
    scenario = {"schedulers": {"binder": {"pods": [*pods, never]}}}
    lines = report.wait_split(scenario)
    assert (
        "| scheduler | pods | pod created | bound (watch) | scheduled | container started "
        "| task started |" in lines
    )
    assert "| binder | 3 | 1 | 1.6 | 2 | 6 | 6.3 |" in lines
    # A run recorded before the stamps existed has no such table.
    assert report.wait_split({"schedulers": {"binder": {"pods": [pod("batch", 1.0)]}}}) == []


def timed(
    name: str,
    node: str,
    *,
    source: str,
    fetch: tuple[float, float],
    compute: tuple[float, float],
    alone: tuple[float, float],
    deadline: float | None = 0.5,
) -> dict[str, Any]:
    """A completed detection task that fetched over ``fetch`` and computed over ``compute``
    (host seconds), with the model's alone estimates of both parts."""
    return {
        "pod": name,
        "class": "latency-sensitive",
        "node": node,
        "data_source": source,
        "phase": "Succeeded",
        "started": True,
        "deadline_s": deadline,
        "measured": {
            "bytes": 80_000,
            "started_at": fetch[0] - 0.05,
            "transfer_s": fetch[1] - fetch[0],
            "processing_s": compute[1] - compute[0],
            "finished_at": compute[1],
            "wait_s": 3.0,
            "total_s": 3.0 + compute[1] - fetch[0],
        },
        "predicted_queueing": {"transfer_s": alone[0], "processing_s": alone[1]},
    }


def test_each_missed_deadline_is_put_under_what_was_measured_beside_it() -> None:
    pods = [
        # Its transfer alone from that node (a far cloud node) exceeds the deadline.
        timed("far", "cloud", source="s1", fetch=(0.0, 0.9), compute=(0.9, 1.0), alone=(0.8, 0.1)),
        # Two transfers into n1 at once: each slower than alone.
        timed("a", "n1", source="s1", fetch=(10.0, 10.6), compute=(10.6, 10.7), alone=(0.2, 0.1)),
        timed("b", "n1", source="s1", fetch=(10.1, 10.7), compute=(10.7, 10.8), alone=(0.2, 0.1)),
        # On n2, c computes while d starts and fetches: c's processing is the slow part.
        timed("c", "n2", source="s2", fetch=(20.0, 20.2), compute=(20.2, 20.9), alone=(0.2, 0.1)),
        timed("d", "n2", source="s3", fetch=(20.5, 20.6), compute=(20.6, 20.65), alone=(0.2, 0.1)),
        # Alone on n3 and still slow: the host.
        timed("e", "n3", source="s3", fetch=(30.0, 30.7), compute=(30.7, 30.8), alone=(0.2, 0.1)),
        # No deadline: beside others, never counted.
        timed(
            "f",
            "n3",
            source="s3",
            fetch=(40.0, 45.0),
            compute=(45.0, 46.0),
            alone=(4.0, 1.0),
            deadline=None,
        ),
    ]
    # Never started: missed, with no stamp to read a cause from.
    pending = {**timed("g", "n4", source="s3", fetch=(0, 0), compute=(0, 0), alone=(0.2, 0.1))}
    pending.update(phase="Pending", started=False, measured={})
    pods.append(pending)
    causes = report.miss_causes(pods)
    assert causes["missed"] == 6  # a, b, c, e, far and g; d met its deadline
    assert causes["counts"] == {"alone": 1, "link": 2, "cpu": 1, "host": 1, "unfinished": 1}
    assert causes["beside"]["link"] == 1.0
    assert causes["slowdown"]["link"] == pytest.approx(3.0)
    assert causes["slowdown"]["cpu"] == pytest.approx(7.0)
    assert causes["beside"]["host"] == 0.0
    # The class found beside a miss most often, and in how many: here each other's.
    assert causes["most_beside"]["link"] == ["latency-sensitive", 2]
    assert causes["most_beside"]["host"] is None
    text = report._causes_text(causes)
    assert "a latency-sensitive task beside 2 of the 2" in text
    assert text.startswith("1 could not meet it alone on their node")
    assert (
        "2 fetched while other tasks' transfers crossed the same link "
        "(other tasks beside, median 1;" in text
    )
    assert text.endswith("1 did not complete (never started, failed, or cut by the run's end)")
    # A pod that met its deadline after its start is not a miss, whatever ran beside it.
    assert report.miss_causes(pods[4:5])["missed"] == 0
    # A long transfer of another class on the same node names that class.
    bulk = timed("bulk", "n5", source="s5", fetch=(50.0, 60.0), compute=(60.0, 61.0), alone=(9, 1))
    bulk.update({"class": "data-intensive", "deadline_s": None})
    late = timed("h", "n5", source="s5", fetch=(52.0, 52.6), compute=(52.6, 52.7), alone=(0.2, 0.1))
    found = report.miss_causes([bulk, late])
    assert found["counts"]["link"] == 1
    assert found["most_beside"]["link"] == ["data-intensive", 1]
    assert "a data-intensive task beside 1 of the 1" in report._causes_text(found)
    # Where the tasks say how long they were ready to run but did not, the page says it too.
    assert found["runnable"]["link"] is None
    late["measured"].update(transfer_runnable_s=0.25, processing_runnable_s=0.05)
    found = report.miss_causes([bulk, late])
    assert found["runnable"]["link"] == pytest.approx(0.3)
    assert "ready to run but not running for a median 0.3 s" in report._causes_text(found)


def _started(total: float, wait: float, stamps: tuple[float, float, float]) -> dict[str, Any]:
    """A completed pod given room at once (predicted wait = the scenario's pod start, 2 s)
    that waited ``wait`` of its ``total``, with the API server's stamps."""
    p = pod("batch", total, predicted=total)
    p["measured"]["wait_s"] = wait
    p["predicted"]["waiting_s"] = 2.0
    created, scheduled, container = stamps
    p["milestones"] = {
        "created_s": created,
        "scheduled_s": scheduled,
        "container_started_s": container,
    }
    return p


def test_a_missed_accuracy_target_is_put_against_the_start_from_the_bind() -> None:
    def errors(total: float) -> dict[str, Any]:
        return {
            "total": {"median_abs_error": total, "median_ratio": 1 - total, "pods": 3},
            "waiting": {"median_abs_error": 0.4, "median_ratio": 0.6, "pods": 3},
            "transfer": {"median_abs_error": 0.1, "median_ratio": 1.1, "pods": 3},
        }

    base = [_started(4.0, 2.0, (0.0, 0.0, 1.0)), _started(5.0, 3.0, (0.0, 1.0, 2.0))]
    ours = [_started(6.0, 5.0, (0.0, 0.0, 3.0)), _started(7.0, 6.0, (2.5, 3.0, 6.0))]
    ours[1]["milestones"]["bound_s"] = 2.5  # the watch's bind, before the API's stamp
    scenario = {
        "baseline": "kube-scheduler",
        "schedulers": {
            "kube-scheduler": {"pods": base, "model_error": errors(0.1)},
            "binder": {
                "pods": ours,
                "model_error": errors(0.4),
                "host_fit": {"fitted_on": ["kube-scheduler"]},
                "bound_start_own_s": 1.5,
                "bound_start_work_own_s": 0.5,
                "model_error_own_start": errors(0.05),
            },
        },
    }
    lines = report._accuracy_why(scenario)
    assert len(lines) == 1  # kube-scheduler met its target: nothing to explain
    line = lines[0]
    assert line.startswith("- binder: the total is off by a median 0.4 (target <= 0.25: missed")
    assert "waiting 0.6 (off by 0.4), transfer 1.1 (off by 0.1)." in line
    # From the bind to the task: 5 - 0 and 6 - 2.5 (median 4.25) against 2 - 0 and 3 - 1.
    assert (
        "its pods ran a median 4.25 s after their bind (the pods of the runs it was predicted "
        "from: 2 s)" in line
    )
    assert "(1.5 s plus 0.5 s of shared start work each;" in line
    assert line.endswith("the total would be off by 0.05.")


def test_a_regraded_page_says_which_commit_predicted_it() -> None:
    doc = json.loads((Path(__file__).resolve().parents[2] / "docs" / "testbed.json").read_text())
    doc["predicted_at"] = "f00ba12"
    assert "predictions regraded at commit `f00ba12`" in report.markdown(doc)
    doc["predicted_at"] = doc["commit"]
    assert "predictions regraded" not in report.markdown(doc)


def test_the_header_says_which_cpus_ran_the_tasks() -> None:
    assert report.cpus_line("1", "0").startswith("CPUs: the tasks and the data servers on CPU 1;")
    assert "control plane on CPU 0" in report.cpus_line("1", "0")
    # A run from before the tasks had CPUs of their own.
    assert "shared every host CPU" in report.cpus_line(None, None)
