"""The extender's filter and prioritize latency, from bench/extender_latency.py.

That script (``python bench/extender_latency.py``) serves the extender on 127.0.0.1 from a
1,000-node view and sends kube-scheduler's calls for one pod at a time; this module runs the
same function and turns its samples into the page's numbers, adding the per-pod cost
kube-scheduler waits for (filter + prioritize of the same pod).
"""

from __future__ import annotations

from typing import Any

from bench import common, extender_latency

NODES = 1000
FLOORS = {
    "healthz": "healthz (empty request)",
    "healthz-http.client": "healthz-http.client (empty request, stdlib client)",
    "ping-pong": "ping-pong (100 bytes over loopback TCP)",
}
"""The sample keys of the floors under every call, and their rows' labels on the page."""
BEFORE: dict[str, Any] = {
    "commit": "fe3e324",
    "date": "2026-11-26",
    "load": "0.9",
    # (verb, measured) -> (p50 ms, p99 ms), as docs/benchmarks.md recorded them then
    "rows": {
        ("filter", "round trip"): (2.23, 5.32),
        ("prioritize", "round trip"): (1.58, 4.42),
        ("filter+prioritize", "round trip"): (3.85, 8.6),
        ("filter", "handler CPU"): (1.28, 2.3),
        ("prioritize", "handler CPU"): (0.707, 1.28),
        ("filter+prioritize", "handler CPU"): (2.02, 3.06),
    },
}
"""The previous page's run (same machine, same benchmark), for the before/after table."""


def run(progress: common.Progress, *, quick: bool) -> tuple[common.Numbers, dict[str, Any]]:
    requests = 400 if quick else 4000
    progress(f"extender: {NODES} nodes, {requests} filter + prioritize calls on 127.0.0.1")
    samples = extender_latency.bench(NODES, requests)
    rows: list[dict[str, Any]] = []
    numbers: common.Numbers = {}
    for what, by_verb in samples.items():
        pair = [f + p for f, p in zip(by_verb["filter"], by_verb["prioritize"], strict=True)]
        verbs = [(v, s) for v, s in by_verb.items() if v not in FLOORS]
        verbs.append(("filter+prioritize", pair))
        verbs += [(label, by_verb[v]) for v, label in FLOORS.items() if v in by_verb]
        for verb, values in verbs:
            ms = [v * 1e3 for v in values]
            row: dict[str, Any] = {
                "verb": verb,
                "measured": what,
                "n": len(ms),
                "p50": common.percentile(ms, 50),
                "p99": common.percentile(ms, 99),
                "max": max(ms),
            }
            rows.append(row)
            key = verb.split(" ")[0].replace("+", "_plus_").replace("-", "_").replace(".", "_")
            kind = what.replace(" ", "_").lower()  # round_trip, handler, handler_cpu
            for stat in ("p50", "p99"):
                numbers[f"extender_{NODES}_nodes_{key}_{kind}_ms_{stat}"] = round(row[stat], 3)
    pair_rt = next(
        r for r in rows if r["verb"] == "filter+prioritize" and r["measured"] == "round trip"
    )
    progress(
        f"extender: filter+prioritize round trip p50 {pair_rt['p50']:.2f} ms, "
        f"p99 {pair_rt['p99']:.2f} ms"
    )
    return numbers, {"rows": rows, "nodes": NODES, "requests": requests, "quick": quick}
