"""From measured pods to the testbed's numbers: per-scheduler summaries, model accuracy, pages.

Pure except for the two writers at the end. A pod record is what the runner collected: the
scheduler, the class (``cloudedge.io/workload``), its node, the task's termination message
(measured seconds) and the model's prediction for that pod on that node.

* completion is the task's ``total_s``: submission to the end of its work, measured by the
  task itself against the submission stamp the runner put on the pod;
* the prediction of a pod is the model's terms on the node it actually ran on, with the pods
  that arrived before it counted where they actually went (the scheduler's own view when it
  decided, for our binder; the model's view of another scheduler's choice otherwise);
* terms are compared one to one: transfer with the measured transfer, waiting with the
  measured wait-to-start (the model has no container start: that difference is reported, not
  hidden), processing with the measured processing, the ECT with the measured total.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

TERMS = (
    ("transfer", "transfer_s", "transfer_s"),
    ("waiting", "waiting_s", "wait_s"),
    ("processing", "processing_s", "processing_s"),
    ("total", "ect_s", "total_s"),
)
"""(name, predicted key, measured key) of each term compared."""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def completed(pod: Mapping[str, Any]) -> bool:
    """The task ran to the end and reported its times."""
    measured = pod.get("measured") or {}
    return pod.get("phase") == "Succeeded" and measured.get("total_s") is not None


def missed_deadline(pod: Mapping[str, Any]) -> bool:
    """A pod with a deadline that did not complete within it (never started counts as missed)."""
    deadline = pod.get("deadline_s")
    if deadline is None:
        return False
    if not completed(pod):
        return True
    return bool(pod["measured"]["total_s"] > deadline)


def missed_deadline_after_start(pod: Mapping[str, Any]) -> bool:
    """The deadline judged on what the model estimates (transfer + processing after the
    container started), without the wait-to-start; never started still counts as missed."""
    deadline = pod.get("deadline_s")
    if deadline is None:
        return False
    if not completed(pod):
        return True
    m = pod["measured"]
    return bool(m["transfer_s"] + m["processing_s"] > deadline)


def summarize(pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One scheduler's run of one scenario: per class mean and p95, misses, makespan, strays."""
    done = [p for p in pods if completed(p)]
    classes: dict[str, list[float]] = {}
    for pod in done:
        classes.setdefault(pod["class"], []).append(pod["measured"]["total_s"])
    per_class = {
        name: {
            "count": len(values),
            "mean_s": round(statistics.fmean(values), 4),
            "p95_s": round(percentile(values, 95), 4),
        }
        for name, values in sorted(classes.items())
    }
    all_totals = [p["measured"]["total_s"] for p in done]
    makespan = None
    if done:
        start = min(p["submitted_at"] for p in pods)
        makespan = round(max(p["measured"]["finished_at"] for p in done) - start, 4)
    return {
        "pods": len(pods),
        "completed": len(done),
        "never_started": sum(1 for p in pods if not p.get("started")),
        "failed": sum(1 for p in pods if p.get("started") and not completed(p)),
        "deadline_pods": sum(1 for p in pods if p.get("deadline_s") is not None),
        "deadline_misses": sum(1 for p in pods if missed_deadline(p)),
        "deadline_misses_after_start": sum(1 for p in pods if missed_deadline_after_start(p)),
        "mean_s": round(statistics.fmean(all_totals), 4) if all_totals else None,
        "p95_s": round(percentile(all_totals, 95), 4) if all_totals else None,
        "makespan_s": makespan,
        "classes": per_class,
    }


def term_errors(pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Per term: the median of ``|predicted / measured - 1|`` and the median ratio, over pods
    that completed with a prediction and a measured value above 1 ms (a ratio of two near-zero
    times says nothing)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name, pred_key, meas_key in TERMS:
        ratios = []
        for pod in pods:
            if not completed(pod) or not pod.get("predicted"):
                continue
            measured = pod["measured"].get(meas_key)
            predicted = pod["predicted"].get(pred_key)
            if measured is None or predicted is None or measured <= 0.001:
                continue
            ratios.append(predicted / measured)
        out[name] = {
            "pods": len(ratios),
            "median_abs_error": (
                round(statistics.median(abs(r - 1) for r in ratios), 4) if ratios else None
            ),
            "median_ratio": round(statistics.median(ratios), 4) if ratios else None,
        }
    return out


def shaping_check(measured_mbps: float, shaped_mbps: float) -> dict[str, float | bool]:
    """A single transfer's throughput against the shaped rate: the ratio and the ±10% verdict."""
    ratio = measured_mbps / shaped_mbps
    return {
        "measured_mbps": round(measured_mbps, 3),
        "shaped_mbps": round(shaped_mbps, 3),
        "ratio": round(ratio, 4),
        "within_10_percent": abs(ratio - 1) <= 0.10,
    }


def ratios_to_baseline(
    summaries: Mapping[str, Mapping[str, Any]], *, baseline: str
) -> dict[str, dict[str, float | None]]:
    """Per scheduler: its mean, p95 and misses over the baseline's (the issue's targets)."""
    base = summaries.get(baseline)
    out: dict[str, dict[str, float | None]] = {}
    for name, summary in summaries.items():
        if name == baseline or base is None:
            continue

        def ratio(key: str, s: Mapping[str, Any] = summary) -> float | None:
            b = base.get(key) if base else None
            v = s.get(key)
            if b is None or v is None or b == 0:
                return None
            return round(float(v) / float(b), 4)

        out[name] = {
            "mean_ratio": ratio("mean_s"),
            "p95_ratio": ratio("p95_s"),
            "deadline_miss_ratio": ratio("deadline_misses"),
            "completed_minus_baseline": summary["completed"] - base["completed"],
        }
    return out


# ---------------------------------------------------------------------------------------------
# Writers


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}"


def markdown(doc: Mapping[str, Any]) -> str:
    """docs/testbed.md from the docs/testbed.json document."""
    lines = [
        "# Testbed: measured completion on kind",
        "",
        "Generated by `make testbed` (bench/testbed/runner.py), like docs/testbed.json;",
        "do not edit.",
        "How the testbed works, what it scales and what it cannot do: the end of this page.",
        "",
        f"- commit `{doc['commit']}`, {doc['started']} to {doc['finished']}",
        f"- machine: {doc['machine']['cpus']} CPUs ({doc['machine']['cpu_model']}), "
        f"{doc['machine']['memory_gib']} GiB; load average at start "
        f"{doc['machine']['load_start']}, at end {doc['machine']['load_end']}",
        f"- cluster `{doc['cluster']}`; CPU budget {doc['cpu_budget']} CPUs; calibration "
        f"{doc['iterations_per_unit']:.4g} loop iterations per work unit",
        "",
    ]
    shaping = doc.get("shaping")
    if shaping:
        lines += [
            "## Shaping",
            "",
            f"One transfer of {shaping['bytes'] / 1e6:.3g} MB into a node shaped at "
            f"{shaping['shaped_mbps']:.4g} Mbit/s measured {shaping['measured_mbps']:.4g} Mbit/s "
            f"(ratio {shaping['ratio']:.3f}; target within ±10%: "
            f"{'met' if shaping['within_10_percent'] else 'missed'}).",
            "",
        ]
    for scenario in doc["scenarios"]:
        scale = scenario["scale"]
        lines += [
            f"## {scenario['name']}",
            "",
            f"Scale: rate s = {scale['rate']:.4g} (CPU quotas and bandwidths), work w = "
            f"{scale['work']:.4g} (compute-cost, data size), resources k = "
            f"{scale['resources']:.4g}; one scenario second is {scale['time']:.4g} "
            "testbed seconds.",
            "",
            "| scheduler | pods | completed | never started | failed | deadline misses "
            "(after start) | mean (s) | p95 (s) | makespan (s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, run in scenario["schedulers"].items():
            s = run["summary"]
            lines.append(
                f"| {name} | {s['pods']} | {s['completed']} | {s['never_started']} | "
                f"{s['failed']} | {s['deadline_misses']}/{s['deadline_pods']} "
                f"({s.get('deadline_misses_after_start', '-')}) | "
                f"{_fmt(s['mean_s'])} | {_fmt(s['p95_s'])} | {_fmt(s['makespan_s'])} |"
            )
        lines += ["", "Per workload class (mean / p95 seconds):", ""]
        classes = sorted(
            {c for run in scenario["schedulers"].values() for c in run["summary"]["classes"]}
        )
        lines.append("| scheduler | " + " | ".join(classes) + " |")
        lines.append("| --- |" + " --- |" * len(classes))
        for name, run in scenario["schedulers"].items():
            cells = []
            for c in classes:
                v = run["summary"]["classes"].get(c)
                cells.append(f"{v['mean_s']:.3g} / {v['p95_s']:.3g}" if v else "-")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        ratios = scenario.get("ratios") or {}
        if ratios:
            lines += ["", f"Against {scenario['baseline']}:", ""]
            lines.append("| scheduler | mean ratio | p95 ratio | misses ratio | completed diff |")
            lines.append("| --- | --- | --- | --- | --- |")
            for name, r in ratios.items():
                lines.append(
                    f"| {name} | {_fmt(r['mean_ratio'])} | {_fmt(r['p95_ratio'])} | "
                    f"{_fmt(r['deadline_miss_ratio'])} | {r['completed_minus_baseline']} |"
                )
        lines += targets(scenario)
        lines += ["", "Model accuracy, median |predicted/measured - 1| (median ratio):", ""]
        lines.append("| scheduler | transfer | waiting | processing | total |")
        lines.append("| --- | --- | --- | --- | --- |")
        for name, run in scenario["schedulers"].items():
            errs = run["model_error"]
            cells = [
                f"{_fmt(errs[t]['median_abs_error'])} ({_fmt(errs[t]['median_ratio'])})"
                for t, _, _ in TERMS
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "<details><summary>Per pod: predicted / measured seconds</summary>", ""]
        lines.append("| scheduler | pod | class | node | transfer | waiting | processing | total |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, run in scenario["schedulers"].items():
            for pod in run["pods"]:
                pred = pod.get("predicted") or {}
                meas = pod.get("measured") or {}
                cells = [f"{_fmt(pred.get(pk))} / {_fmt(meas.get(mk))}" for _, pk, mk in TERMS]
                lines.append(
                    f"| {name} | {pod['pod']} | {pod['class']} | {pod.get('node') or '-'} | "
                    + " | ".join(cells)
                    + " |"
                )
        lines += ["", "</details>", ""]
        for plot in scenario.get("plots", []):
            lines += [f"![{plot}]({plot})", ""]
    lines += [doc.get("notes", "")]
    return "\n".join(lines).rstrip() + "\n"


def resummarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute every summary, error table and ratio from the per-pod records of ``doc``
    (to re-render a page after the report changed, without measuring again)."""
    for scenario in doc["scenarios"]:
        for run in scenario["schedulers"].values():
            run["summary"] = summarize(run["pods"])
            run["model_error"] = term_errors(run["pods"])
        scenario["ratios"] = ratios_to_baseline(
            {k: v["summary"] for k, v in scenario["schedulers"].items()},
            baseline=scenario["baseline"],
        )
    return doc


TARGETS = (
    ("mean_ratio", 0.6, "mean completion, ours / kube-scheduler's"),
    ("p95_ratio", 0.5, "p95 completion, ours / kube-scheduler's"),
    ("deadline_miss_ratio", 1 / 3, "deadline misses, ours / kube-scheduler's"),
)


def targets(scenario: Mapping[str, Any]) -> list[str]:
    """The issue's targets for this scenario: met or missed, and by how much, per scheduler."""
    ratios = scenario.get("ratios") or {}
    if not ratios:
        return []
    lines = ["", "Targets (issue 13), per scheduler against kube-scheduler:", ""]
    for name, r in ratios.items():
        parts = []
        for key, limit, what in TARGETS:
            value = r.get(key)
            if value is None:
                parts.append(f"{what}: not measurable (kube-scheduler's is 0 or absent)")
            else:
                verdict = "met" if value <= limit else f"missed by {value - limit:+.2f}"
                parts.append(f"{what} {value:.3g} (target <= {limit:.2g}: {verdict})")
        stranded = r["completed_minus_baseline"]
        parts.append(
            f"completed {stranded:+d} vs kube-scheduler ({'met' if stranded >= 0 else 'missed'})"
        )
        lines.append(f"- {name}: " + "; ".join(parts))
    errors = {
        name: run["model_error"]["total"]["median_abs_error"]
        for name, run in scenario["schedulers"].items()
    }
    text = ", ".join(f"{k} {_fmt(v)}" for k, v in errors.items())
    lines.append(
        f"- model accuracy, median |predicted/measured - 1| of total (target <= 0.25): {text}"
    )
    return lines


def write(doc: Mapping[str, Any], out_dir: Path) -> None:
    """docs/testbed.json and docs/testbed.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "testbed.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    (out_dir / "testbed.md").write_text(markdown(doc))


def plot(scenario: Mapping[str, Any], path: Path) -> None:
    """Predicted against measured total per pod, and completion CDFs, one figure per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    top = 0.0
    for name, run in scenario["schedulers"].items():
        done = [p for p in run["pods"] if completed(p)]
        xs = [p["predicted"]["ect_s"] for p in done if p.get("predicted")]
        ys = [p["measured"]["total_s"] for p in done if p.get("predicted")]
        left.scatter(xs, ys, label=name, s=14)
        top = max([top, *xs, *ys])
        totals = sorted(p["measured"]["total_s"] for p in done)
        if totals:
            n = len(run["pods"])
            right.step(totals, [(i + 1) / n for i in range(len(totals))], where="post", label=name)
    left.plot([0, top], [0, top], color="grey", linewidth=0.8, linestyle="--")
    left.set_xlabel("predicted ECT (s)")
    left.set_ylabel("measured completion (s)")
    left.set_title(f"{scenario['name']}: predicted vs measured")
    left.legend()
    right.set_xlabel("completion (s)")
    right.set_ylabel("fraction of pods completed")
    right.set_title(f"{scenario['name']}: completion CDF")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
