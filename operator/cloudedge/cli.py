"""The ``cloudedge`` command: ``simulate`` offline placement (more subcommands join it).

Exit codes: 0 done (unschedulable pods are a result, not an error), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cloudedge import __version__, errors, inputs, plot, simulate
from cloudedge.model import strategies


def _simulate(args: argparse.Namespace) -> int:
    files: list[str] = list(args.file or [])
    if args.scenario:
        files = [str(p) for p in simulate.scenario_files(args.scenario)] + files
    if not files:
        raise errors.InputError(
            "simulate", "-f/--scenario", None, "at least one -f FILE or --scenario"
        )
    config = inputs.load_config(args.config)
    sim = simulate.build(files, config=config)
    doc = simulate.report(
        sim, simulate.run(sim, strategy=args.strategy, time_limit_s=args.time_limit)
    )
    if args.plot:
        docs = [
            doc if s.value == args.strategy else simulate.report(sim, simulate.run(sim, strategy=s))
            for s in strategies.Strategy
        ]
        plot.plot(docs, args.plot)
    if args.format == "json":
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(simulate.format_table(doc))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    top = argparse.ArgumentParser(prog="cloudedge", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"cloudedge {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="place the pods of Kubernetes YAML offline")
    sim.add_argument("-f", "--file", action="append", help="multi-document YAML (repeatable)")
    sim.add_argument("--scenario", choices=simulate.SCENARIOS, help="a built-in scenario")
    sim.add_argument(
        "--strategy",
        choices=[s.value for s in strategies.Strategy],
        default=strategies.Strategy.SCORE.value,
        help="score: the live scheduler's greedy; spread: kube-scheduler-like; optimal: MILP",
    )
    sim.add_argument("--format", choices=("table", "json"), default="table")
    sim.add_argument("--plot", metavar="FILE.png", help="the four panels for every strategy")
    sim.add_argument("--config", metavar="FILE", help="scheduler configuration (weights)")
    sim.add_argument(
        "--time-limit", type=float, default=10.0, help="seconds for --strategy optimal"
    )
    sim.set_defaults(func=_simulate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except errors.CloudEdgeError as err:
        print(f"cloudedge: error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
