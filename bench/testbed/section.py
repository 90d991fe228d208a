"""The testbed as a section of ``make bench`` (``--only testbed``).

It is ``make testbed``, run from the bench: the same runner, the same default scenarios and
schedulers, the same docs/testbed.md and docs/testbed.json. The bench page gets the headline
rows (completion per scheduler, the ratios to kube-scheduler, the model's accuracy) and links
to the testbed's own page for the per-pod records and plots. Needs Docker and a kind cluster
(``make kind-up``; the runner creates one when it is missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import common
from bench.testbed import runner

QUICK_SCENARIOS = "seed"
"""``--quick``: the seed scenario only (about five minutes instead of twenty)."""


def headline(doc: dict[str, Any]) -> tuple[common.Numbers, dict[str, Any]]:
    """The bench's numbers and detail from a testbed document (docs/testbed.json)."""
    numbers: common.Numbers = {}
    rows: list[dict[str, Any]] = []
    shaping = doc.get("shaping") or {}
    if shaping.get("ratio") is not None:
        numbers["testbed_shaping_ratio"] = shaping["ratio"]
    for scenario in doc.get("scenarios", []):
        name = str(scenario["name"]).replace("-", "_")
        ratios = scenario.get("ratios") or {}
        for sched, run in scenario.get("schedulers", {}).items():
            summary = run["summary"]
            error = (run.get("model_error") or {}).get("total", {}).get("median_abs_error")
            key = f"testbed_{name}_{sched.replace('-', '_')}"
            for stat in ("mean_s", "p95_s", "completed", "deadline_misses"):
                if summary.get(stat) is not None:
                    numbers[f"{key}_{stat}"] = summary[stat]
            r = ratios.get(sched) or {}
            for stat in ("mean_ratio", "p95_ratio", "deadline_miss_ratio"):
                if r.get(stat) is not None:
                    numbers[f"{key}_{stat}"] = r[stat]
            if error is not None:
                numbers[f"{key}_model_error"] = error
            rows.append(
                {
                    "scenario": scenario["name"],
                    "scheduler": sched,
                    "pods": summary["pods"],
                    "completed": summary["completed"],
                    "deadline_misses": summary["deadline_misses"],
                    "deadline_pods": summary["deadline_pods"],
                    "mean_s": summary["mean_s"],
                    "p95_s": summary["p95_s"],
                    "lower_bound": bool(summary.get("lower_bound")),
                    "mean_ratio": r.get("mean_ratio"),
                    "p95_ratio": r.get("p95_ratio"),
                    "model_error": error,
                }
            )
    detail = {
        "testbed_commit": doc.get("commit"),
        "started": doc.get("started"),
        "load": (doc.get("machine") or {}).get("load_start"),
        "shaping": shaping,
        "rows": rows,
        "skipped": {s["name"]: s["skipped"] for s in doc.get("scenarios", []) if s.get("skipped")},
    }
    return numbers, detail


def run(
    progress: common.Progress, *, quick: bool, out: Path
) -> tuple[common.Numbers, dict[str, Any]]:
    """``make testbed`` into ``out``, then its headline for the bench page."""
    argv = ["--out", str(out)]
    if quick:
        argv += ["--scenarios", QUICK_SCENARIOS]
    progress(f"testbed: python -m bench.testbed.runner {' '.join(argv)}")
    status = runner.main(argv)
    if status != 0:
        raise RuntimeError(f"the testbed runner exited {status} (its progress lines say why)")
    numbers, detail = headline(json.loads((out / "testbed.json").read_text()))
    detail["quick"] = quick
    return numbers, detail
