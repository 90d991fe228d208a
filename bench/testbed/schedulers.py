"""The schedulers the testbed compares, each started on the host against the kind cluster.

* ``kube-scheduler``: the cluster's own kube-scheduler, default configuration
  (``schedulerName: default-scheduler``); nothing to start.
* ``extender``: a second kube-scheduler (``schedulerName: testbed-extender``) with the shipped
  extender stanza (manifests/scheduler-config/kube-scheduler-config.yaml), pointing at
  ``cloudedge run --mode extender`` on 127.0.0.1.
* ``binder``: ``cloudedge run --mode scheduler``, greedy (``schedulerName:
  cloud-edge-scheduler``).
* ``batch``: the binder's batch mode, ``cloudedge run --mode scheduler --placement batch``
  with the default window and batch size; ``TESTBED_BATCH_ARGS`` replaces those flags (for
  example ``--placement=batch --batch-window=0.5``).

All bind to loopback; each is stopped (by its own process id) when its run ends.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.testbed import cluster

NAMES = ("kube-scheduler", "extender", "binder", "batch")
SCHEDULER_NAMES = {
    "kube-scheduler": "default-scheduler",
    "extender": "testbed-extender",
    "binder": "cloud-edge-scheduler",
    "batch": "cloud-edge-scheduler",
}
"""``spec.schedulerName`` of the pods each scheduler places."""


BATCH_ARGS = "--placement=batch"
"""The flags of ``batch`` unless ``TESTBED_BATCH_ARGS`` gives others: the live defaults."""


class SchedulerUnavailableError(Exception):
    """The scheduler cannot run here (a binary missing, a mode not implemented yet)."""


def free_port() -> int:
    """A free TCP port on loopback (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 60) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise cluster.ClusterError(f"{proc.args!r} exited: {log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise cluster.ClusterError(
        f"{url} did not answer within {timeout:.0f} s: {log.read_text()[-1500:]}"
    )


@contextlib.contextmanager
def _process(args: list[str], *, name: str, health: str, log_dir: Path) -> Iterator[None]:
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out)
    try:
        _wait_http(health, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _cloudedge() -> str:
    return str(Path(sys.executable).with_name("cloudedge"))


def extender_config(kubeconfig: Path, extender_port: int) -> dict[str, Any]:
    """The shipped extender configuration, one profile of our own, our port and kubeconfig."""
    path = cluster.REPO_ROOT / "manifests" / "scheduler-config" / "kube-scheduler-config.yaml"
    doc = copy.deepcopy(yaml.safe_load(path.read_text()))
    (extender,) = doc["extenders"]
    extender["urlPrefix"] = f"http://127.0.0.1:{extender_port}"
    doc["profiles"] = [{"schedulerName": SCHEDULER_NAMES["extender"]}]
    doc["clientConnection"] = {"kubeconfig": str(kubeconfig)}
    doc["leaderElection"] = {"leaderElect": False}
    return dict(doc)


def placement_args(name: str) -> list[str]:
    """The flags that make ``cloudedge run`` the scheduler ``name`` (greedy is the default)."""
    if name != "batch":
        return []
    return shlex.split(os.environ.get("TESTBED_BATCH_ARGS") or BATCH_ARGS)


@contextlib.contextmanager
def running(name: str, *, kubeconfig: Path, log_dir: Path) -> Iterator[str]:
    """Start scheduler ``name`` and yield the ``schedulerName`` its pods set."""
    if name not in NAMES:
        raise SchedulerUnavailableError(f"scheduler {name!r}: unknown; use {', '.join(NAMES)}")
    if name == "kube-scheduler":
        yield SCHEDULER_NAMES[name]
        return
    common = [
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--no-leader-elect",
        "--log-format=text",
    ]
    metrics = free_port()
    if name in ("binder", "batch"):
        args = [
            _cloudedge(),
            "run",
            "--mode=scheduler",
            *common,
            f"--metrics-port={metrics}",
            f"--extender-port={free_port()}",
            *placement_args(name),
        ]
        with _process(
            args, name=name, health=f"http://127.0.0.1:{metrics}/healthz", log_dir=log_dir
        ):
            yield SCHEDULER_NAMES[name]
        return
    bindir = Path(
        cluster.run([str(cluster.REPO_ROOT / "hack" / "build-tools.sh"), "--print-bindir"]).strip()
    )
    binary = bindir / "kube-scheduler"
    if not binary.exists():
        raise SchedulerUnavailableError(
            f"extender: {binary} is missing; build it with `make tools`"
        )
    port = free_port()
    ext_args = [
        _cloudedge(),
        "run",
        "--mode=extender",
        *common,
        f"--metrics-port={metrics}",
        f"--extender-port={port}",
    ]
    config = Path(
        tempfile.mkstemp(prefix="testbed-kube-scheduler-", suffix=".yaml", dir=log_dir)[1]
    )
    config.write_text(yaml.safe_dump(extender_config(kubeconfig, port)))
    secure = free_port()
    ks_args = [
        str(binary),
        f"--config={config}",
        "--bind-address=127.0.0.1",
        f"--secure-port={secure}",
    ]
    with (
        _process(
            ext_args, name="extender", health=f"http://127.0.0.1:{metrics}/healthz", log_dir=log_dir
        ),
        _process(
            ks_args,
            name="kube-scheduler-extender",
            health=f"https://127.0.0.1:{secure}/healthz",
            log_dir=log_dir,
        ),
    ):
        yield SCHEDULER_NAMES[name]
