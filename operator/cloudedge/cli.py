"""The ``cloudedge`` command: ``run`` the scheduler, ``simulate`` offline, ``explain`` a pod,
``placements`` of a namespace.

Exit codes: 0 done (unschedulable pods are a result, not an error), 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from cloudedge import __version__, app, errors, explain, inputs, logs, plot, simulate
from cloudedge.model import strategies
from cloudedge.scheduler import batching


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


def _run(args: argparse.Namespace) -> int:
    logs.setup(level=args.log_level, fmt=args.log_format)
    app.run(
        app.RunOptions(
            kubeconfig=args.kubeconfig,
            mode=args.mode,
            bind_address=args.bind_address,
            extender_port=args.extender_port,
            metrics_port=args.metrics_port,
            config_path=args.config,
            leader_elect=args.leader_elect,
            lease_namespace=args.leader_elect_namespace,
            lease_name=args.leader_elect_name,
            owned_leases=tuple(args.owned_lease),
            bind_workers=args.bind_workers,
            placement=args.placement,
            batch_window_s=args.batch_window,
            batch_max=args.batch_max,
            batch_time_limit_s=args.batch_time_limit,
            tls_cert_file=args.tls_cert_file,
            tls_private_key_file=args.tls_private_key_file,
        )
    )
    _exit_without_finalizing(0)


def _exit_without_finalizing(code: int) -> NoReturn:
    """Leave the process after an orderly stop, skipping the interpreter's finalization.

    By now every component has been stopped in order and every bind has ended (see
    ``App.run``). What is left are daemon threads that may still be inside a call: the
    watches (blocked reading a stream, or handling its last events), the leader elector. The
    interpreter's finalization kills such threads as they next take the GIL, and in the
    e2e suite that aborted a cleanly stopped scheduler now and then (SIGABRT, exit -6, with
    glibc's message going to a terminal CI does not have). Nothing of ours needs
    finalizing: the logs are flushed here, then the process exits with ``code``.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _explain(args: argparse.Namespace) -> int:
    config = inputs.load_config(args.config)
    print(explain.explain(args.pod, args.namespace, kubeconfig=args.kubeconfig, config=config))
    return 0


def _placements(args: argparse.Namespace) -> int:
    print(explain.placements(args.namespace, kubeconfig=args.kubeconfig))
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    top = argparse.ArgumentParser(prog="cloudedge", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"cloudedge {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="place the pods of Kubernetes YAML offline")
    sim.add_argument(
        "-f",
        "--file",
        action="append",
        help="multi-document YAML, or a directory of .yaml/.yml/.json files (repeatable)",
    )
    sim.add_argument("--scenario", choices=simulate.SCENARIOS, help="a built-in scenario")
    sim.add_argument(
        "--strategy",
        choices=[s.value for s in strategies.Strategy],
        default=strategies.Strategy.SCORE.value,
        help=(
            "score: the live scheduler's greedy; spread: kube-scheduler-like; batch: joint, "
            "congestion-aware placement; optimal: the same with the whole --time-limit and "
            "a MILP that proves the count"
        ),
    )
    sim.add_argument("--format", choices=("table", "json"), default="table")
    sim.add_argument("--plot", metavar="FILE.png", help="the four panels for every strategy")
    sim.add_argument("--config", metavar="FILE", help="scheduler configuration (weights)")
    sim.add_argument(
        "--time-limit",
        type=float,
        default=10.0,
        help="seconds for --strategy optimal (batch takes at most 2 of them)",
    )
    sim.set_defaults(func=_simulate)

    defaults = app.RunOptions()
    run = sub.add_parser("run", help="schedule pods and serve the extender API and metrics")
    run.add_argument("--kubeconfig", help="default: $KUBECONFIG, ~/.kube/config, in-cluster")
    run.add_argument(
        "--mode",
        choices=app.MODES,
        default=defaults.mode,
        help="scheduler: bind our pods; extender: serve kube-scheduler; both (default)",
    )
    run.add_argument(
        "--bind-address",
        default=defaults.bind_address,
        help="address of both HTTP servers (in a pod: 0.0.0.0)",
    )
    run.add_argument("--extender-port", type=int, default=defaults.extender_port)
    run.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="serves /metrics, /healthz and /readyz",
    )
    run.add_argument("--config", metavar="FILE", help="scheduler configuration (weights)")
    run.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=defaults.leader_elect,
        help="campaign for the Lease before binding",
    )
    run.add_argument(
        "--leader-elect-namespace",
        default=defaults.lease_namespace,
        help="namespace of the Lease (in a pod: the pod's namespace)",
    )
    run.add_argument("--leader-elect-name", default=defaults.lease_name)
    run.add_argument(
        "--owned-lease",
        action="append",
        default=[],
        metavar="LEASE[=DEPLOYMENT]",
        help=(
            "give this Lease of the pod's namespace an ownerReference to the Deployment (default:"
            " the one of the same name), so that deleting the Deployment removes it; repeatable"
        ),
    )
    run.add_argument(
        "--bind-workers", type=int, default=defaults.bind_workers, help="concurrent Binding calls"
    )
    run.add_argument(
        "--placement",
        choices=[p.value for p in batching.Placement],
        default=defaults.placement,
        help=(
            "greedy: one pod at a time, as simulate --strategy score; batch: the pods of a "
            "--batch-window placed together, as simulate --strategy batch"
        ),
    )
    run.add_argument(
        "--batch-window",
        type=float,
        default=defaults.batch_window_s,
        metavar="SECONDS",
        help="with --placement batch: how long the first pod of a batch waits for others",
    )
    run.add_argument(
        "--batch-max",
        type=int,
        default=defaults.batch_max,
        metavar="PODS",
        help="with --placement batch: the most pods placed together",
    )
    run.add_argument(
        "--batch-time-limit",
        type=float,
        default=defaults.batch_time_limit_s,
        metavar="SECONDS",
        help=(
            "with --placement batch: the solver's budget per batch (small batches are solved "
            "exactly, whatever it is)"
        ),
    )
    run.add_argument(
        "--tls-cert-file",
        metavar="FILE",
        help="serve the extender over HTTPS with this PEM certificate chain (docs/security.md)",
    )
    run.add_argument(
        "--tls-private-key-file", metavar="FILE", help="the PEM private key of --tls-cert-file"
    )
    run.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    run.add_argument("--log-format", default="json", choices=("json", "text"))
    run.set_defaults(func=_run)

    exp = sub.add_parser("explain", help="every node's terms and score for a live pod")
    exp.add_argument("pod")
    exp.add_argument("-n", "--namespace", default="default")
    exp.add_argument("--kubeconfig")
    exp.add_argument("--config", metavar="FILE")
    exp.set_defaults(func=_explain)

    pl = sub.add_parser("placements", help="where each pod of ours landed in a namespace, and why")
    pl.add_argument("-n", "--namespace", default="default")
    pl.add_argument("--kubeconfig")
    pl.set_defaults(func=_placements)
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
