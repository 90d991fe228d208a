"""Each section of the bench page says when, at which commit and how fast the machine was."""

from __future__ import annotations

import math

import testbed_support  # noqa: F401 (puts the repo root on sys.path)
from bench import common
from bench import report as bench_report

FACTS = {"date": "2026-12-02 09:00 UTC", "loadavg_start": 0.5, "commit": "abc1234"}


def test_the_speed_gauge_is_a_positive_time() -> None:
    gauge = common.speed_gauge_ms(repeats=1)
    assert math.isfinite(gauge)
    assert gauge > 0


def test_a_sections_stamp_gives_its_speed_gauge() -> None:
    measured = {
        "date": "2026-12-02 10:00 UTC",
        "loadavg": 1.25,
        "commit": "def5678",
        "gauge_ms": 8.04,
    }
    stamp = bench_report._stamp(FACTS, {"measured": measured})
    assert stamp == (
        "_Measured 2026-12-02 10:00 UTC at commit def5678, full scale, load average 1.2, "
        "speed gauge 8.0 ms at start._"
    )


def test_a_stamp_from_a_run_without_the_gauge_leaves_it_out() -> None:
    measured = {"date": "2026-11-30 10:00 UTC", "loadavg": 0.5, "commit": "def5678"}
    stamp = bench_report._stamp(FACTS, {"measured": measured, "quick": True})
    assert stamp == (
        "_Measured 2026-11-30 10:00 UTC at commit def5678, `--quick` (small scale), "
        "load average 0.5 at start._"
    )
