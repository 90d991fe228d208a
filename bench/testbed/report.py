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

import collections
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

READINGS = (
    ("model_error_queueing", "before: queueing"),
    ("model_error_at_once", "sharing, bound at once"),
    ("model_error", "after: sharing from the bind"),
)
"""Each run's error tables, one per reading of the final state (runner.PREDICTIONS: the pods'
``predicted...`` keys), with the page's label; ``model_error`` is the calibrated one."""
ACCURACY_TARGET = 0.25
"""The issue's bound on the median of |predicted / measured - 1| of the total."""


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


def cut(pod: Mapping[str, Any]) -> bool:
    """The run ended (its timeout, or nothing moving) before this pod finished: it was still
    running or waiting, and the runner recorded how long it had been out (``cut_after_s``)."""
    return (
        not completed(pod) and pod.get("phase") != "Failed" and pod.get("cut_after_s") is not None
    )


def total_or_bound(pod: Mapping[str, Any]) -> float | None:
    """A pod's measured total, or for a pod :func:`cut` by the run's end the time it had been
    out when it was cut: a lower bound. Leaving cut pods out instead would favour the scheduler
    whose slowest pods ran past the timeout; counting them at the bound still favours it, less,
    and the page marks every number a bound entered."""
    if completed(pod):
        return float(pod["measured"]["total_s"])
    if cut(pod):
        return float(pod["cut_after_s"])
    return None


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
    """One scheduler's run of one scenario: per class mean and p95, misses, makespan, strays.

    Means, p95s and the makespan count a pod cut by the run's end at the time it had been out
    (:func:`total_or_bound`); ``cut`` says how many, and where it is not 0 those numbers are
    lower bounds (``lower_bound``)."""
    done = [p for p in pods if completed(p)]
    counted = [(p, total_or_bound(p)) for p in pods]
    totals = [(p, t) for p, t in counted if t is not None]
    classes: dict[str, list[float]] = {}
    cut_classes: set[str] = set()
    for p, total in totals:
        classes.setdefault(p["class"], []).append(total)
        if cut(p):
            cut_classes.add(p["class"])
    per_class = {
        name: {
            "count": len(values),
            "mean_s": round(statistics.fmean(values), 4),
            "p95_s": round(percentile(values, 95), 4),
            **({"lower_bound": True} if name in cut_classes else {}),
        }
        for name, values in sorted(classes.items())
    }
    all_totals = [t for _, t in totals]
    makespan = None
    if totals:
        start = min(p["submitted_at"] for p in pods)
        makespan = round(max(p["submitted_at"] + t for p, t in totals) - start, 4)
    n_cut = sum(1 for p in pods if cut(p))
    return {
        "pods": len(pods),
        "completed": len(done),
        "never_started": sum(1 for p in pods if not p.get("started")),
        "failed": sum(1 for p in pods if p.get("started") and not completed(p) and not cut(p)),
        "cut": n_cut,
        "lower_bound": n_cut > 0,
        "deadline_pods": sum(1 for p in pods if p.get("deadline_s") is not None),
        "deadline_misses": sum(1 for p in pods if missed_deadline(p)),
        "deadline_misses_after_start": sum(1 for p in pods if missed_deadline_after_start(p)),
        "mean_s": round(statistics.fmean(all_totals), 4) if all_totals else None,
        "p95_s": round(percentile(all_totals, 95), 4) if all_totals else None,
        "makespan_s": makespan,
        "classes": per_class,
    }


SIGNIFICANT = 0.02
"""A term is compared only where it is at least this share of the pod's measured total (or
where the model predicts it so): a local fetch the model calls 0 and the task measures in
milliseconds says nothing about the model, and as a ratio it would count as a 100% error."""


def term_errors(
    pods: Iterable[Mapping[str, Any]], key: str = "predicted"
) -> dict[str, dict[str, float | int | None]]:
    """Per term: the median of ``|predicted / measured - 1|`` and the median ratio, over pods
    that completed with a prediction (``pod[key]``) and a measured value above 1 ms, and where
    the term is significant (:data:`SIGNIFICANT`): a ratio of two near-zero times says nothing.
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for name, pred_key, meas_key in TERMS:
        ratios = []
        for pod in pods:
            if not completed(pod) or not pod.get(key):
                continue
            measured = pod["measured"].get(meas_key)
            predicted = pod[key].get(pred_key)
            if measured is None or predicted is None or measured <= 0.001:
                continue
            floor = SIGNIFICANT * pod["measured"]["total_s"]
            if measured < floor and predicted < floor:
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
) -> dict[str, dict[str, Any]]:
    """Per scheduler: its mean, p95 and misses over the baseline's (the issue's targets)."""
    base = summaries.get(baseline)
    out: dict[str, dict[str, Any]] = {}
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
            "deadline_miss_after_start_ratio": ratio("deadline_misses_after_start"),
            "completed_minus_baseline": summary["completed"] - base["completed"],
            "bound": _ratio_bound(bool(summary.get("lower_bound")), bool(base.get("lower_bound"))),
        }
    return out


def _ratio_bound(ours_cut: bool, theirs_cut: bool) -> str | None:
    """What a time ratio is when pods were cut by the run's end (counted at a lower bound):
    ``upper`` when only the baseline's were (its true times are longer, so the true ratio is
    at most this), ``lower`` when only ours were, ``unknown`` when both, None when neither."""
    if ours_cut and theirs_cut:
        return "unknown"
    if theirs_cut:
        return "upper"
    if ours_cut:
        return "lower"
    return None


_BOUND_TEXT = {
    "upper": "an upper bound: kube-scheduler's pods cut by the run's end count at their time",
    "lower": "a lower bound: this scheduler's pods cut by the run's end count at their time",
    "unknown": "bounds on both sides: pods of both were cut by the run's end",
}


# ---------------------------------------------------------------------------------------------
# Writers


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}"


def cpus_line(work: str | None, rest: str | None) -> str:
    """Which host CPUs ran the tasks and which the rest, for the page's header."""
    if not work:
        return "CPUs: the tasks shared every host CPU with the nodes' daemons and the control plane"
    return (
        f"CPUs: the tasks and the data servers on CPU {work}; every node's daemons, the pods' "
        f"starts and the control plane on CPU {rest} (`--work-cpus`)"
    )


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
        *(
            [
                f"- predictions regraded at commit `{doc['predicted_at']}` (`python -m "
                "bench.testbed.runner --rerender`): the placements and measurements are the "
                "run's, the predictions that commit's model"
            ]
            if doc.get("predicted_at") and doc.get("predicted_at") != doc.get("commit")
            else []
        ),
        f"- machine: {doc['machine']['cpus']} CPUs ({doc['machine']['cpu_model']}), "
        f"{doc['machine']['memory_gib']} GiB; load average at start "
        f"{doc['machine']['load_start']}, at end {doc['machine']['load_end']}",
        f"- cluster `{doc['cluster']}`; CPU budget {doc['cpu_budget']} CPUs; calibration "
        f"{doc['iterations_per_unit']:.4g} loop iterations per work unit",
        "- " + cpus_line(doc.get("work_cpus"), doc.get("rest_cpus")),
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
            "testbed seconds."
            + (
                f" Run order: {', '.join(scenario['order'])} (rotated by one per scenario)."
                if scenario.get("order")
                else ""
            ),
            "",
            "| scheduler | pods | completed | never started | failed | cut by the run's end "
            "| deadline misses (after start) | mean (s) | p95 (s) | makespan (s) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, run in scenario["schedulers"].items():
            s = run["summary"]
            bound = ">= " if s.get("lower_bound") else ""
            lines.append(
                f"| {name} | {s['pods']} | {s['completed']} | {s['never_started']} | "
                f"{s['failed']} | {s.get('cut', 0)} | {s['deadline_misses']}/{s['deadline_pods']} "
                f"({s.get('deadline_misses_after_start', '-')}) | "
                f"{bound}{_fmt(s['mean_s'])} | {bound}{_fmt(s['p95_s'])} | "
                f"{bound}{_fmt(s['makespan_s'])} |"
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
                bound = ">= " if v and v.get("lower_bound") else ""
                cells.append(f"{bound}{v['mean_s']:.3g} / {bound}{v['p95_s']:.3g}" if v else "-")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += wait_split(scenario)
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
        lines += why(scenario)
        lines += [
            "",
            "Model accuracy, median |predicted/measured - 1| (median ratio), before calibration "
            "(the scheduler's queueing reading of the final state, every pod from its "
            "submission), the sharing reading with every pod bound at submission (waiting only "
            "for room), and after (the sharing reading from each pod's bind, when its "
            "scheduler bound it: where and when to bind is the scheduler's decision, what the "
            'pod then does the model\'s; docs/model.md, "Calibration").',
            *_fitted_lines(scenario),
            "",
        ]
        lines.append("| scheduler | prediction | transfer | waiting | processing | total |")
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for name, run in scenario["schedulers"].items():
            for key, label in READINGS:
                errs = run.get(key)
                if not errs:
                    continue
                cells = [
                    f"{_fmt(errs[t]['median_abs_error'])} ({_fmt(errs[t]['median_ratio'])})"
                    for t, _, _ in TERMS
                ]
                lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
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


MILESTONES = (
    ("created_s", "pod created"),
    ("bound_s", "bound (watch)"),
    ("scheduled_s", "scheduled"),
    ("container_started_s", "container started"),
)
"""The API server's stamps of a pod (runner.pod_record) and the runner's watch of its bind
(runner.BindWatch), in the order they happen."""


def wait_split(scenario: Mapping[str, Any]) -> list[str]:
    """Where the wait-to-start goes, per scheduler: the medians, over the completed pods, of
    the seconds after submission at which the pod was created, bound (the runner's watch),
    scheduled and its container started (the API's whole-second stamps), and at which the
    task itself started (its own clock). Scheduling is the schedulers' part; the rest is the
    node's. Empty for runs recorded before the stamps were."""
    rows = []
    for name, run in scenario["schedulers"].items():
        done = [p for p in run["pods"] if completed(p) and p.get("milestones")]
        if not done:
            continue
        cells = [
            _fmt(
                _median(
                    [p["milestones"][key] for p in done if p["milestones"].get(key) is not None]
                )
            )
            for key, _ in MILESTONES
        ]
        cells.append(_fmt(_median([p["measured"]["wait_s"] for p in done])))
        rows.append(f"| {name} | {len(done)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return [
        "",
        "Where the wait-to-start goes: medians over the completed pods of the seconds after "
        "submission at which each step was done (the API server's stamps are whole seconds, "
        "so each is up to 1 s early; the bind is when the runner's watch saw it, seconds late "
        "when the API server is loaded; the task's start is its own clock):",
        "",
        "| scheduler | pods | "
        + " | ".join(label for _, label in MILESTONES)
        + " | task started |",
        "| --- | --- |" + " --- |" * (len(MILESTONES) + 1),
        *rows,
    ]


def resummarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Recompute every summary, error table and ratio from the per-pod records of ``doc``
    (to re-render a page after the report changed, without measuring again)."""
    for scenario in doc["scenarios"]:
        for run in scenario["schedulers"].values():
            run["summary"] = summarize(run["pods"])
            for key, _ in READINGS:
                run[key] = term_errors(run["pods"], key.replace("model_error", "predicted"))
        scenario["ratios"] = ratios_to_baseline(
            {k: v["summary"] for k, v in scenario["schedulers"].items()},
            baseline=scenario["baseline"],
        )
    return doc


TARGETS = (
    ("mean_ratio", 0.6, "mean completion, ours / kube-scheduler's"),
    ("p95_ratio", 0.5, "p95 completion, ours / kube-scheduler's"),
    ("deadline_miss_ratio", 1 / 3, "deadline misses, ours / kube-scheduler's"),
    (
        "deadline_miss_after_start_ratio",
        1 / 3,
        "deadline misses judged from container start, ours / kube-scheduler's",
    ),
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
                bound = r.get("bound") if key in ("mean_ratio", "p95_ratio") else None
                if bound:
                    verdict += f"; {_BOUND_TEXT[bound]}"
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
    text = ", ".join(
        f"{k} {_fmt(v)}"
        + (
            f" (missed by +{_fmt(v - ACCURACY_TARGET)})"
            if v is not None and v > ACCURACY_TARGET
            else ""
        )
        for k, v in errors.items()
    )
    lines.append(
        "- model accuracy, median |predicted/measured - 1| of total, predicted from each "
        f"pod's bind (target <= {ACCURACY_TARGET}): {text}"
    )
    return lines


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _class_view(pods: Sequence[Mapping[str, Any]], cls: str) -> dict[str, Any]:
    """One class of one run: mean total, medians of the measured parts, pods on edge nodes."""
    done = [p for p in pods if p["class"] == cls and completed(p)]
    parts = {
        key: _median([p["measured"][key] for p in done])
        for key in ("wait_s", "transfer_s", "processing_s")
    }
    parts["scheduled_s"] = _median(
        [
            p["milestones"]["scheduled_s"]
            for p in done
            if (p.get("milestones") or {}).get("scheduled_s") is not None
        ]
    )
    return {
        "count": len(done),
        "mean": statistics.fmean(p["measured"]["total_s"] for p in done) if done else None,
        "edge": sum(1 for p in done if str(p.get("node") or "").startswith("edge-")),
        **parts,
    }


def why(scenario: Mapping[str, Any]) -> list[str]:
    """Where each missed completion target's gap comes from, read from the per-pod records:
    the class that contributes most to the difference of means, and that class's measured
    parts (median wait-to-start, transfer, processing) and placements, ours against the
    baseline's. Deadlines missed by every scheduler are put against the median wait-to-start.
    """
    runs = scenario.get("schedulers") or {}
    baseline = scenario.get("baseline", "kube-scheduler")
    base_run = runs.get(baseline)
    if base_run is None:
        return []
    lines: list[str] = []
    base_pods = base_run["pods"]
    total = max(1, len(base_pods))
    for name, r in (scenario.get("ratios") or {}).items():
        mean_ratio, p95_ratio = r.get("mean_ratio"), r.get("p95_ratio")
        if mean_ratio is None or (mean_ratio <= 0.6 and (p95_ratio or 0) <= 0.5):
            continue
        pods = runs[name]["pods"]
        classes = sorted({p["class"] for p in base_pods})
        gaps = []
        for cls in classes:
            ours, theirs = _class_view(pods, cls), _class_view(base_pods, cls)
            if ours["mean"] is None or theirs["mean"] is None:
                continue
            gaps.append(
                ((ours["mean"] - theirs["mean"]) * ours["count"] / total, cls, ours, theirs)
            )
        if not gaps:
            continue
        gaps.sort(key=lambda g: -g[0])
        contribution, cls, ours, theirs = gaps[0]
        lines.append(
            f"- {name}: mean ratio {_fmt(mean_ratio)}, p95 ratio {_fmt(p95_ratio)}. The class "
            f"that adds most to the mean is **{cls}** ({ours['count']} pods, "
            f"{contribution:+.3g} s on the mean of all pods): its mean is {_fmt(ours['mean'])} s "
            f"against {_fmt(theirs['mean'])} s. Median measured parts, ours / {baseline}'s: "
            f"wait-to-start {_fmt(ours['wait_s'])} / {_fmt(theirs['wait_s'])} s"
            + (
                ""
                if ours["scheduled_s"] is None or theirs["scheduled_s"] is None
                else f" (scheduled after {_fmt(ours['scheduled_s'])} / "
                f"{_fmt(theirs['scheduled_s'])} s)"
            )
            + f", transfer "
            f"{_fmt(ours['transfer_s'])} / {_fmt(theirs['transfer_s'])} s, processing "
            f"{_fmt(ours['processing_s'])} / {_fmt(theirs['processing_s'])} s; on edge nodes "
            f"{ours['edge']} of {ours['count']} / {theirs['edge']} of {theirs['count']}."
        )
    for name, r in (scenario.get("ratios") or {}).items():
        after_start = r.get("deadline_miss_after_start_ratio")
        if after_start is None or after_start <= 1 / 3:
            continue
        parts = []
        for who in (name, baseline):
            missed = [p for p in runs[who]["pods"] if missed_deadline_after_start(p)]
            spent = [
                p["measured"]["transfer_s"] + p["measured"]["processing_s"]
                for p in missed
                if completed(p)
            ]
            edge = sum(1 for p in missed if str(p.get("node") or "").startswith("edge-"))
            parts.append(
                f"{who} missed {len(missed)} ({edge} on edge nodes; median transfer + "
                f"processing {_fmt(_median(spent))} s)"
            )
        deadline = _median([p["deadline_s"] for p in base_pods if p.get("deadline_s")])
        lines.append(
            f"- {name}: deadlines judged from the container's start, {parts[0]}; "
            f"{parts[1]}; the deadline is {_fmt(deadline)} s. Of {name}'s misses, "
            f"{_causes_text(miss_causes(runs[name]['pods']))}; of {baseline}'s, "
            f"{_causes_text(miss_causes(base_pods))}."
        )
    deadline_runs = [
        (n, run["summary"]) for n, run in runs.items() if run["summary"].get("deadline_pods")
    ]
    if deadline_runs and all(s["deadline_misses"] == s["deadline_pods"] for _, s in deadline_runs):
        deadlines = sorted({p["deadline_s"] for p in base_pods if p.get("deadline_s")})
        waits = [
            p["measured"]["wait_s"]
            for _, run in runs.items()
            for p in run["pods"]
            if p.get("deadline_s") and completed(p)
        ]
        lines.append(
            f"- Every scheduler missed every deadline counted from submission: the deadline is "
            f"{', '.join(_fmt(d) for d in deadlines)} s of testbed time and the median "
            f"wait-to-start of those pods alone (scheduling, then the container's start) is "
            f"{_fmt(_median(waits))} s. The column in parentheses judges the deadline from the "
            "container's start, on the transfer and processing the model estimates."
        )
    lines += _accuracy_why(scenario)
    lines += _transfer_why(scenario)
    if lines:
        lines = ["", "Why (read from the per-pod records below):", "", *lines]
    return lines


CAUSES = ("alone", "link", "cpu", "host", "unfinished")
"""Why a pod missed its deadline after its container started (:func:`miss_causes`)."""


def _spans(pod: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(task start, transfer start, processing start, end) on the host's clock: the task
    fetches, then computes, and stamps its start and its end (one kernel clock for every
    node of the kind cluster)."""
    m = pod["measured"]
    end = float(m["finished_at"])
    computing = end - float(m["processing_s"])
    return float(m["started_at"]), computing - float(m["transfer_s"]), computing, end


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def miss_causes(pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each pod that missed its deadline after its container started, put under one cause
    read from the measured stamps of every pod of the run:

    * ``alone``: its transfer and processing *alone* on that node (the queueing reading's
      terms: the slowest link at full rate, the node's whole CPU) already exceed the
      deadline; no timing could have met it there, only another node;
    * ``link``: the part that ran longest over its alone time is the transfer, and other
      tasks' transfers crossed its node's link or came from its data source meanwhile;
    * ``cpu``: that part is the processing, and other tasks on its node were starting or
      computing meanwhile (one CPU quota per node);
    * ``host``: that part ran long with no other task measured beside it on the resource
      (the host's own load: the data servers share the tasks' CPU, every node's kubelet
      too with ``--work-cpus 0``, and the kernel's network work runs on any CPU);
    * ``unfinished``: it never completed (never started, failed, or cut by the run's end),
      so no stamp says where its time went.

    Returns the counts per cause, with the median of the slowed part's measured over alone
    time, of the other tasks beside it and of the seconds the task was ready to run but not
    running (its node's quota spent or its CPU busy; measured by the task, where it
    reports it), per cause (``None`` where no pod has the cause),
    and per cause the workload class most often beside a miss, with in how many misses it
    was (``None`` where no task was beside): which placement choice a fix would have to
    change, the neighbour or the pod.
    """
    done = [p for p in pods if completed(p)]
    counts = dict.fromkeys(CAUSES, 0)
    slowdown: dict[str, list[float]] = {c: [] for c in CAUSES}
    beside: dict[str, list[float]] = {c: [] for c in CAUSES}
    runnable: dict[str, list[float]] = {c: [] for c in CAUSES}
    classes: dict[str, collections.Counter[str]] = {c: collections.Counter() for c in CAUSES}
    missed = [p for p in pods if missed_deadline_after_start(p)]
    for pod in missed:
        alone = pod.get("predicted_queueing") or {}
        if not completed(pod):
            counts["unfinished"] += 1
            continue
        if "transfer_s" not in alone:
            continue
        m = pod["measured"]
        alone_t, alone_p = float(alone["transfer_s"]), float(alone["processing_s"])
        if alone_t + alone_p > float(pod["deadline_s"]):
            counts["alone"] += 1
            continue
        _, fetching, computing, end = _spans(pod)
        excess_t = float(m["transfer_s"]) - alone_t
        excess_p = float(m["processing_s"]) - alone_p
        others = [q for q in done if q is not pod]
        if excess_t >= excess_p:
            part, measured_s, alone_s = "link", float(m["transfer_s"]), alone_t
            near = [
                q
                for q in others
                if q["measured"].get("bytes")
                and (
                    q.get("node") == pod.get("node")
                    or q.get("data_source") == pod.get("data_source")
                )
                and _overlaps((fetching, computing), _spans(q)[1:3])
            ]
        else:
            part, measured_s, alone_s = "cpu", float(m["processing_s"]), alone_p
            near = [
                q
                for q in others
                if q.get("node") == pod.get("node")
                and any(
                    _overlaps((computing, end), span)
                    for span in ((_spans(q)[0], _spans(q)[1]), _spans(q)[2:])
                )
            ]
        cause = part if near else "host"
        counts[cause] += 1
        if alone_s > 0:
            slowdown[cause].append(measured_s / alone_s)
        beside[cause].append(float(len(near)))
        ready = [m.get("transfer_runnable_s"), m.get("processing_runnable_s")]
        if all(isinstance(r, (int, float)) for r in ready):
            runnable[cause].append(float(sum(ready)))
        classes[cause].update({str(q.get("class") or "unknown") for q in near})
    return {
        "missed": len(missed),
        "counts": counts,
        "slowdown": {c: _median(v) for c, v in slowdown.items()},
        "beside": {c: _median(v) for c, v in beside.items()},
        "runnable": {c: _median(v) for c, v in runnable.items()},
        "most_beside": {
            c: (list(found.most_common(1)[0]) if found else None) for c, found in classes.items()
        },
    }


def _causes_text(causes: Mapping[str, Any]) -> str:
    """``miss_causes`` as a clause of the page."""
    counts, slowdown, beside = causes["counts"], causes["slowdown"], causes["beside"]
    words = {
        "alone": "could not meet it alone on their node (its transfer and processing at full "
        "rate exceed the deadline)",
        "link": "fetched while other tasks' transfers crossed the same link",
        "cpu": "computed while other tasks used their node's CPU quota",
        "host": "ran slower than alone with no other task measured beside them",
        "unfinished": "did not complete (never started, failed, or cut by the run's end)",
    }
    parts = []
    for cause in CAUSES:
        if not counts[cause]:
            continue
        detail = []
        if cause in ("link", "cpu"):
            detail.append(f"other tasks beside, median {_fmt(beside[cause])}")
            most = (causes.get("most_beside") or {}).get(cause)
            if most:
                detail.append(f"a {most[0]} task beside {most[1]} of the {counts[cause]}")
        if cause != "alone" and slowdown[cause] is not None:
            detail.append(f"{_fmt(slowdown[cause])}x their alone time")
        ready = (causes.get("runnable") or {}).get(cause)
        if cause != "alone" and ready is not None:
            detail.append(f"ready to run but not running for a median {_fmt(ready)} s")
        if cause == "host":
            detail.append("the host's own load")
        parts.append(
            f"{counts[cause]} {words[cause]}" + (f" ({'; '.join(detail)})" if detail else "")
        )
    return ", ".join(parts) if parts else "none"


def _milestone(
    pods: Sequence[Mapping[str, Any]], key: str, *, since: str | None = None
) -> list[float]:
    """One API-server stamp of every completed pod (seconds after submission), or the time
    from stamp ``since`` to it."""
    out = []
    for pod in pods:
        stamps = pod.get("milestones") or {}
        if not completed(pod) or stamps.get(key) is None:
            continue
        if since is None:
            out.append(float(stamps[key]))
        elif stamps.get(since) is not None:
            out.append(float(stamps[key]) - float(stamps[since]))
    return out


def _accuracy_why(scenario: Mapping[str, Any]) -> list[str]:
    """Where a run's model accuracy target is missed: each term's median ratio, how much of a
    completion the wait-to-start is, how long its pods took from their bind to a running
    task against the pods of the runs its numbers were fitted on, and the error once a pod
    start fitted on the run's own pods is used: in-sample, so a diagnostic that separates the
    host's drift from the rest of the model, not a result."""
    runs = scenario.get("schedulers") or {}
    out = []
    for name, run in runs.items():
        fitted_on = (run.get("host_fit") or {}).get("fitted_on") or []
        others = [p for other in fitted_on for p in (runs.get(other) or {}).get("pods") or []]
        errors = run.get("model_error") or {}
        total = (errors.get("total") or {}).get("median_abs_error")
        if total is None or total <= ACCURACY_TARGET:
            continue
        done = [p for p in run["pods"] if completed(p) and p["measured"]["total_s"] > 0]
        terms = ", ".join(
            f"{term} {_fmt(errors[term]['median_ratio'])} (off by "
            f"{_fmt(errors[term]['median_abs_error'])})"
            for term in ("waiting", "transfer", "processing")
            if (errors.get(term) or {}).get("median_ratio") is not None
        )
        share = _median([p["measured"]["wait_s"] / p["measured"]["total_s"] for p in done])
        line = (
            f"- {name}: the total is off by a median {_fmt(total)} (target <= "
            f"{ACCURACY_TARGET}: missed by +{_fmt(total - ACCURACY_TARGET)}). Median predicted / "
            f"measured per term: {terms}. The wait-to-start is a median "
            f"{_fmt(None if share is None else 100 * share)}% of each measured total; its pods "
            f"ran a median {_fmt(_median(_bind_to_start(run['pods'])))} s after their bind"
            + (
                f" (the pods of the runs it was predicted from: "
                f"{_fmt(_median(_bind_to_start(others)))} s)"
                if others
                else ""
            )
        )
        own = run.get("bound_start_own_s")
        own_total = ((run.get("model_error_own_start") or {}).get("total") or {}).get(
            "median_abs_error"
        )
        if own is not None and own_total is not None:
            line += (
                f". With a pod start fitted on its own pods ({_fmt(own)} s plus "
                f"{_fmt(run.get('bound_start_work_own_s'))} s of shared start work each; "
                f"fitted on the pods it grades, so not a prediction) the total would be off "
                f"by {_fmt(own_total)}"
            )
        out.append(line + ".")
    return out


def _bind_to_start(pods: Sequence[Mapping[str, Any]]) -> list[float]:
    """Seconds from each completed pod's bind (the watch's, else the API's stamp) to its
    running task."""
    out = []
    for p in pods:
        stamps = p.get("milestones") or {}
        at = stamps.get("bound_s")
        if at is None:
            at = stamps.get("scheduled_s")
        if completed(p) and at is not None:
            out.append(float(p["measured"]["wait_s"]) - max(0.0, float(at)))
    return out


def _fitted_lines(scenario: Mapping[str, Any]) -> list[str]:
    """The host's numbers each run was predicted with, and the runs they were fitted on (leave
    one out: ``runner.predict_scenario``): the pod start from the bind (a base after start
    work the nodes share), the start of pods bound at once (a base, a part per pod the node
    starts with it, and how far apart they started), and what a request cost before its first
    byte beyond the site latency. Nothing for a page graded before the fits were per run."""
    runs = scenario.get("schedulers") or {}
    fits = {name: run["host_fit"] for name, run in runs.items() if run.get("host_fit")}
    if not fits:
        return []
    lines = [
        "",
        "The host's numbers are fitted for each run on the scenario's other runs (leave one "
        "out: no run is graded with numbers fitted on its own pods):",
        "",
        "| run predicted | fitted on | from the bind: start (s) after start work per pod (s) "
        "| bound at once: start / per pod / spread (s) | request overhead (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, fit in fits.items():
        source = ", ".join(fit.get("fitted_on") or []) or "the probe"
        lines.append(
            f"| {name} | {source} | {_fmt(fit.get('bound_start_s'))} after "
            f"{_fmt(fit.get('bound_start_work_s'))} | {_fmt(fit.get('pod_start_s'))} / "
            f"{_fmt(fit.get('start_per_pod_s'))} / {_fmt(fit.get('start_spread_s'))} | "
            f"{_fmt(fit.get('request_overhead_s'))} |"
        )
    return lines


def _transfer_why(scenario: Mapping[str, Any]) -> list[str]:
    """Where the calibrated transfer term is furthest off: pods that read their site's data
    from the server on their own node (paced together by the server at that node's bandwidth,
    as the model charges the node's link for data that lives at the site) against the
    others (over the shaped links)."""
    servers = scenario.get("data_servers") or {}
    out = []
    for name, run in (scenario.get("schedulers") or {}).items():
        error = (run.get("model_error") or {}).get("transfer", {})
        if (error.get("median_abs_error") or 0) <= 0.25:
            continue
        same: list[float] = []
        other: list[float] = []
        for pod in run["pods"]:
            predicted = (pod.get("predicted") or {}).get("transfer_s")
            if not completed(pod) or not predicted:
                continue
            measured = pod["measured"]["transfer_s"]
            if measured <= 0.001:
                continue
            source = pod.get("data_source")
            local = source is not None and servers.get(source) == pod.get("node")
            (same if local else other).append(predicted / measured)
        if not same:
            continue
        out.append(
            f"- {name}: transfer predicted / measured, median {_fmt(error.get('median_ratio'))}. "
            f"{len(same)} pods read their site's data from the server on their own node "
            f"(median ratio {_fmt(_median(same))}; the server paces them together at the "
            "node's bandwidth, the link the model charges), the other "
            f"{len(other)} crossed shaped links (median ratio {_fmt(_median(other))})."
        )
    return out


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
