"""A kube-scheduler process of its own, configured with the shipped extender stanza.

The cluster's kube-scheduler keeps its configuration; each process started here adds one profile
(its own ``schedulerName``) to ``manifests/scheduler-config/*.yaml`` and points the stanza at the
extender under test, so pods choose with ``spec.schedulerName`` which kube-scheduler places them:
the cluster's default one (no extender), the ignorable one or the strict one.
"""

from __future__ import annotations

import contextlib
import copy
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from cluster_support import REPO_ROOT, tool_bindir, wait_until
from operator_support import free_port

CONFIG_DIR = REPO_ROOT / "manifests" / "scheduler-config"
SHIPPED = {
    "ignorable": CONFIG_DIR / "kube-scheduler-config.yaml",
    "strict": CONFIG_DIR / "kube-scheduler-config-strict.yaml",
}


def scheduler_config(
    variant: str, *, scheduler_name: str, extender_port: int, kubeconfig: str
) -> dict[str, Any]:
    """The shipped file of ``variant``, plus what one more kube-scheduler in a cluster needs."""
    doc = copy.deepcopy(yaml.safe_load(SHIPPED[variant].read_text()))
    (extender,) = doc["extenders"]
    assert extender["urlPrefix"] == "http://127.0.0.1:8888"
    extender["urlPrefix"] = f"http://127.0.0.1:{extender_port}"
    doc["profiles"] = [{"schedulerName": scheduler_name}]
    doc["clientConnection"] = {"kubeconfig": kubeconfig}
    doc["leaderElection"] = {"leaderElect": False}  # one replica; no lease to wait for
    return dict(doc)


class KubeSchedulerProcess:
    """``kube-scheduler --config`` on 127.0.0.1, with its log kept for failure messages."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config_path = Path(tempfile.mkstemp(prefix="kube-scheduler-", suffix=".yaml")[1])
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = Path(tempfile.mkstemp(prefix="kube-scheduler-", suffix=".log")[1])
        self.port = free_port()
        self.args = [
            str(tool_bindir() / "kube-scheduler"),
            f"--config={self.config_path}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> KubeSchedulerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        wait_until(f"kube-scheduler /healthz ({self.log_tail()})", self.healthy, timeout=60)
        return self

    def healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"kube-scheduler exited: {self.log_tail()}")
        # Its serving certificate is self-signed; /healthz is open to anonymous requests.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            url = f"https://127.0.0.1:{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for path in (self.config_path, self.log_path):
            with contextlib.suppress(OSError):
                path.unlink()
