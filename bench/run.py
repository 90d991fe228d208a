"""``python -m bench`` (``make bench``): every benchmark, then docs/benchmarks.md, .json, .png.

    python -m bench [--quick] [--only core,e2e,quality,solve,burst,extender,stream,testbed]
                    [--out docs/] [--keep-clusters]

Progress goes to stderr, one line per step with the time since the start. The end-to-end
section starts (and stops) its own kwokctl clusters named ``cloudedge-bench*``; the testbed runs
on the kind cluster of ``make kind-up`` (creating it when absent); the others need no cluster.
Exit status 1 when a section failed to run (a missed target is a result, not a failure).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from bench import common, report

ORDER = ("core", "quality", "solve", "extender", "e2e", "burst", "stream", "testbed")
"""Run order: the quick, cluster-free sections first; the testbed (kind, about 20 min) last."""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale: debug the harness")
    parser.add_argument(
        "--only",
        default="",
        help=(
            "comma-separated sections to run: core, e2e, quality, solve, burst, extender, stream, "
            "testbed "
            "(default: all)"
        ),
    )
    parser.add_argument("--out", default="docs", help="directory of benchmarks.md/.json/.png")
    parser.add_argument(
        "--keep-clusters", action="store_true", help="leave the cloudedge-bench* clusters running"
    )
    parser.add_argument(
        "--details",
        default=str(Path(tempfile.gettempdir()) / "cloudedge-bench-details.json"),
        help="where every measured sample summary is saved (to re-render the page)",
    )
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: rebuild the page from the --details file of an earlier run",
    )
    parser.add_argument(
        "--e2e-modes",
        default="abcd",
        help="end-to-end binders to run: a operator, b kube-scheduler, c extender, d minimal",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(ORDER)
    unknown = [s for s in chosen if s not in ORDER]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; use {', '.join(ORDER)}")
    args.sections = [s for s in ORDER if s in chosen]
    return args


def run_section(name: str, args: argparse.Namespace, progress: common.Progress) -> Any:
    if name == "core":
        from bench import core

        return core.run(progress, quick=args.quick)
    if name == "quality":
        from bench import quality

        return quality.run(progress, quick=args.quick)
    if name == "burst":
        from bench import burst

        return burst.run(progress, quick=args.quick, keep_clusters=args.keep_clusters)
    if name == "solve":
        from bench import solve

        return solve.run(progress, quick=args.quick)
    if name == "extender":
        from bench import extender

        return extender.run(progress, quick=args.quick)
    if name == "testbed":
        from bench.testbed import section

        return section.run(progress, quick=args.quick, out=Path(args.out))
    if name == "stream":
        from bench import stream

        return stream.run(progress, quick=args.quick, keep_clusters=args.keep_clusters)
    from bench import e2e

    return e2e.run(
        progress, quick=args.quick, keep_clusters=args.keep_clusters, modes=args.e2e_modes
    )


def command_line(argv: list[str]) -> str:
    """The command as the page shows it; ``--details FILE`` only says where to keep notes."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--details":
            skip = True
        elif not arg.startswith("--details="):
            shown.append(arg)
    unset = " ".join(f"-u {k}" for k in common.BLAS_ENV)
    extra = shlex.join(shown)
    make = "make bench" + (f" BENCH_ARGS={shlex.quote(extra)}" if extra else "")
    return f"{make}\n# runs: env {unset} .venv/bin/python -m bench {extra}".rstrip()


def load_details(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    doc = json.loads(path.read_text())
    details = doc["details"]
    e2e = details.get("e2e")
    if e2e:  # JSON object keys are strings; the pod counts are ints
        e2e["results"] = {
            m: {int(n): r for n, r in by_n.items()} for m, by_n in e2e["results"].items()
        }
    return doc["facts"], details, doc["command"]


def main(argv: list[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse(raw)
    progress = common.Progress()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.rerender:
        old_facts, old_details, command = load_details(Path(args.details))
        page = report.write_page(
            out,
            details=old_details,
            numbers=report.merge_numbers(out / "benchmarks.json", {}, []),
            facts=old_facts,
            command=command,
        )
        progress(f"re-rendered {page} from {args.details}")
        return 0
    set_env = {k: v for k, v in ((k, os.environ.get(k)) for k in common.BLAS_ENV) if v}
    if set_env:
        progress(f"warning: {set_env} is set; numpy may run a slower kernel (see the page)")
    facts = common.machine_facts()
    blas = facts["blas"][0] if facts["blas"] else {}
    progress(
        f"machine: {facts['nproc']} CPUs, {facts['cpu_model']}, load {facts['loadavg_start']:.2f}, "
        f"BLAS {blas.get('internal_api', '?')} {blas.get('architecture', '?')}; "
        f"sections: {', '.join(args.sections)}{' (quick)' if args.quick else ''}"
    )
    numbers: common.Numbers = {}
    details: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for name in args.sections:
        gauge = common.speed_gauge_ms()
        progress(f"section {name}: start (speed gauge {gauge:.1f} ms)")
        try:
            section_numbers, detail = run_section(name, args, progress)
        except Exception as err:
            failed.append(name)
            progress(f"section {name} FAILED: {type(err).__name__}: {err}")
            traceback.print_exc(file=sys.stderr)
            continue
        numbers.update(section_numbers)
        detail["measured"] = {
            "date": facts["date"],
            "loadavg": facts["loadavg_start"],
            "commit": facts["commit"],
            "gauge_ms": gauge,
        }
        details[name] = detail
        progress(f"section {name}: done")
    facts["loadavg_end"] = os.getloadavg()[0]
    if details:
        # Sections not run this time keep the details of the run that measured them, so a
        # later --rerender can still rebuild every section (their stamps say when).
        kept: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError, KeyError):
            kept = dict(json.loads(Path(args.details).read_text())["details"])
        Path(args.details).write_text(
            json.dumps(
                {"facts": facts, "details": {**kept, **details}, "command": command_line(raw)},
                default=str,
            )
        )
        progress(f"details saved to {args.details} (python -m bench --rerender rebuilds the page)")
        json_path = out / "benchmarks.json"
        merged = report.merge_numbers(json_path, numbers, list(details))
        report.write_json(json_path, merged)
        page = report.write_page(
            out,
            details=details,
            numbers=merged,
            facts=facts,
            command=command_line(raw),
        )
        progress(f"wrote {page}, {json_path} and the plots beside them")
    if failed:
        progress(f"failed sections: {', '.join(failed)}")
        return 1
    return 0
