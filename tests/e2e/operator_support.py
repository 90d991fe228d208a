"""Run ``cloudedge run`` as a real process against the cluster under test.

Each operator gets free loopback ports, its own Lease name (so a previous test's stopped
replica does not hold the next one back for a lease duration) and a log file kept for the
failure message.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cluster_support import quantity, wait_until
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """One ``cloudedge run`` process on 127.0.0.1."""

    def __init__(
        self,
        kubeconfig: str,
        *,
        lease_name: str,
        extra_args: Sequence[str] = (),
        mode: str = "scheduler",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.metrics_port = free_port()
        self.extender_port = free_port()
        self.lease_name = lease_name
        self.log_path = Path(tempfile.mkstemp(prefix="cloudedge-run-", suffix=".log")[1])
        self.args = [
            sys.executable,
            "-m",
            "cloudedge.cli",
            "run",
            "--kubeconfig",
            kubeconfig,
            "--mode",
            mode,
            "--bind-address",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            "--extender-port",
            str(self.extender_port),
            "--leader-elect-name",
            lease_name,
            "--log-format",
            "text",
            *extra_args,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_healthy: bool = True) -> OperatorProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=dict(os.environ))
        if wait_healthy:
            wait_until(f"operator /healthz ({self.log_tail()})", self.healthy, timeout=60)
        return self

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"operator exited: {self.log_tail()}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=2
            ) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def metrics_text(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as resp:
            return str(resp.read().decode())

    def sample(self, name: str, **labels: str) -> float:
        """The value of one sample (0 when absent)."""
        for family in text_string_to_metric_families(self.metrics_text()):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0

    def is_leader(self) -> bool:
        return self.sample("cloudedge_leader") == 1.0

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as err:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"operator ignored SIGTERM for {timeout}s: {self.log_tail()}"
            ) from err

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            if sig == signal.SIGKILL:
                self.proc.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self.stop(timeout=20)
        # Captured by pytest and shown only when the test failed: the process's side of it.
        print(f"--- last lines of the cloudedge run log ---\n{self.log_tail(8000)}")
        with contextlib.suppress(OSError):
            self.log_path.unlink()


@contextlib.contextmanager
def two_replicas(
    kubeconfig: str, *, lease_prefix: str
) -> Iterator[tuple[OperatorProcess, OperatorProcess]]:
    """Two ``cloudedge run`` replicas sharing a fresh Lease, as ``(leader, follower)`` once
    one of them leads; both are closed afterwards, whatever the test did to them."""
    lease = f"{lease_prefix}-{secrets.token_hex(4)}"
    first = OperatorProcess(kubeconfig, lease_name=lease).start()
    try:
        second = OperatorProcess(kubeconfig, lease_name=lease).start()
        try:
            leader = wait_until(
                "one leader",
                lambda: first if first.is_leader() else second if second.is_leader() else None,
                timeout=30,
            )
            yield leader, second if leader is first else first
        finally:
            second.close()
    finally:
        first.close()


def pod_requests_by_node(pods: Sequence[Any]) -> dict[str, float]:
    """Sum of CPU requests (millicores) of non-terminated pods per node."""
    out: dict[str, float] = {}
    for p in pods:
        if not p.spec.node_name or p.status.phase in ("Succeeded", "Failed"):
            continue
        cpu = 0.0
        for c in p.spec.containers:
            req = (c.resources.requests or {}) if c.resources else {}
            cpu += quantity(req.get("cpu", "0")) * 1000
        out[p.spec.node_name] = out.get(p.spec.node_name, 0.0) + cpu
    return out


def wait_seconds(seconds: float) -> None:
    """A deliberate pause (letting a process settle); bounded by its argument."""
    time.sleep(seconds)
