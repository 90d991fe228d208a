"""The testbed as a section of ``make bench``: its numbers and rows come from docs/testbed.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench import report as bench_report
from bench.testbed import section


def run(mean: float, p95: float, *, completed: int = 3) -> dict[str, Any]:
    summary = {
        "pods": 3,
        "completed": completed,
        "deadline_pods": 1,
        "deadline_misses": 1,
        "mean_s": mean,
        "p95_s": p95,
    }
    return {"summary": summary, "model_error": {"total": {"median_abs_error": 0.2}}}


DOC: dict[str, Any] = {
    "commit": "abc1234",
    "started": "2026-11-30 06:00 UTC",
    "machine": {"load_start": 0.5},
    "shaping": {"ratio": 0.96, "measured_mbps": 96.0, "shaped_mbps": 100.0},
    "scenarios": [
        {
            "name": "video-analytics",
            "schedulers": {"kube-scheduler": run(30.0, 200.0), "binder": run(15.0, 40.0)},
            "ratios": {"binder": {"mean_ratio": 0.5, "p95_ratio": 0.2}},
            "skipped": {"batch": "the run's time budget was spent"},
        }
    ],
}


def test_every_scheduler_of_every_scenario_becomes_a_row_and_numbers() -> None:
    numbers, detail = section.headline(DOC)
    assert numbers["testbed_video_analytics_binder_mean_ratio"] == 0.5
    assert numbers["testbed_video_analytics_binder_p95_ratio"] == 0.2
    assert numbers["testbed_video_analytics_kube_scheduler_mean_s"] == 30.0
    assert numbers["testbed_shaping_ratio"] == 0.96
    assert [(r["scenario"], r["scheduler"]) for r in detail["rows"]] == [
        ("video-analytics", "kube-scheduler"),
        ("video-analytics", "binder"),
    ]
    assert detail["skipped"] == {"video-analytics": {"batch": "the run's time budget was spent"}}


def test_the_bench_page_judges_the_testbed_targets() -> None:
    numbers, _ = section.headline(DOC)
    text = bench_report.targets(numbers)
    assert "testbed video analytics binder: mean completion <= 0.6" in text
    rows = [line for line in text.splitlines() if "testbed_video_analytics_binder" in line]
    assert len(rows) == 2
    assert all(row.endswith("| met |") for row in rows)


def test_the_section_links_the_testbed_page_and_names_skipped_runs() -> None:
    _, detail = section.headline(DOC)
    facts = {"date": "d", "loadavg_start": 0.5, "commit": "c"}
    text = bench_report.testbed_section(detail, facts, Path("docs"))
    assert "[testbed.md](testbed.md)" in text
    assert "batch skipped" in text
    assert "| video-analytics | binder | 3/3 |" in text
